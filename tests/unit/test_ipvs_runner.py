"""The IPVS tier's runner: where the scenarios run, and what a guest's console says."""

import pytest

from tests.ipvs import runner


def test_auto_runs_on_the_host_only_when_it_has_ipvs():
    assert runner.choose_mode("auto", True) == "host"
    assert runner.choose_mode("auto", False) == "guest"
    assert runner.choose_mode("guest", True) == "guest"
    assert runner.choose_mode("host", True) == "host"


def test_forcing_the_host_without_ipvs_or_an_unknown_mode_fails_loudly():
    with pytest.raises(runner.RunnerError, match="kernel has no IPVS"):
        runner.choose_mode("host", False)
    with pytest.raises(runner.RunnerError, match="auto, host or guest"):
        runner.choose_mode("skip", False)


def test_ipvs_on_host_reads_the_proc_file_then_tries_modprobe(tmp_path):
    present = tmp_path / "ip_vs"
    present.write_text("IP Virtual Server version 1.2.1\n")
    assert runner.ipvs_on_host(modprobe=("false",), proc_file=str(present))[0] is True
    has, why = runner.ipvs_on_host(modprobe=("false",), proc_file=str(tmp_path / "missing"))
    assert has is False and "false exited 1" in why
    has, why = runner.ipvs_on_host(modprobe=(str(tmp_path / "no-such-modprobe"),), proc_file=str(tmp_path / "missing"))
    assert has is False and "no-such-modprobe" in why


def test_console_lines_give_the_results_and_the_exit_status():
    lines = [
        "LBKIT-GUEST-BOOTED 8.1\n",
        "[    0.0] scenario dr: start\n",
        'LBKIT-RESULT {"scenario": "dr", "ok": true, "observations": {"x": 1}, "seconds": 3.0}\r\n',
        "[   10.123456] IPVS: rr: TCP 10.77.0.100:80 - no destination available\n",
        'LBKIT-RESULT {"scenario": "nat", "ok": false, "error": "boom", "seconds": 1.0}\n',
        "LBKIT-GUEST-EXIT 1\n",
    ]
    results, status = runner.parse_console(lines)
    assert status == 1
    assert results["dr"]["observations"] == {"x": 1}
    assert results["nat"]["ok"] is False


def test_a_guest_that_never_reports_has_no_status():
    results, status = runner.parse_console(["LBKIT-GUEST-BOOTED 8.1\n", "Kernel panic - not syncing\n"])
    assert results == {} and status is None


def test_the_guest_boots_without_a_network_device():
    argv = runner.qemu_argv(runner.Path("/guest"), "/tmp/initrd.cpio")
    assert argv[argv.index("-nic") + 1] == "none"
    assert "tcg" in argv[argv.index("-accel") + 1]

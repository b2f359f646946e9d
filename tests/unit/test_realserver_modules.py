"""realserver_bsd and realserver_solaris main(): the argv lists they run, the files they write,
and the same ``changed`` with and without check mode.

run_command is faked (it answers ``ifconfig`` with a captured output and records every argv);
the files the modules read and write live in a temporary directory.
"""

import os
import platform
import plistlib

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import bsd, solaris
from ansible_collections.lbkit.loadbalancer.plugins.modules import realserver_bsd, realserver_solaris

from .realserver_fixtures import fixture

BINS = {"ifconfig": "/sbin/ifconfig", "sysrc": "/usr/sbin/sysrc"}


class Exited(Exception):
    """exit_json / fail_json was called; args[0] is the result."""


@pytest.fixture(name="host")
def fixture_host(monkeypatch):
    """A fake host: ``answers`` maps argv tuples to (rc, out, err); every argv run is recorded."""
    state = {"answers": {}, "calls": [], "bins": dict(BINS)}

    def run_command(self, args, **kwargs):
        assert isinstance(args, list), "commands are argv lists, never strings"
        state["calls"].append(list(args))
        return state["answers"].get(tuple(args), (0, "", ""))

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return state["bins"].get(name)

    def exit_json(self, **result):
        raise Exited(dict(result, failed=False))

    def fail_json(self, msg, **result):
        raise Exited(dict(result, msg=msg, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    return state


def run(main, args, check_mode=False):
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args):
        with pytest.raises(Exited) as exited:
            main()
    return exited.value.args[0]


def commands(host):
    return host["calls"][1:]


# --- FreeBSD -------------------------------------------------------------------------------


@pytest.fixture(name="freebsd")
def fixture_freebsd(host, monkeypatch, tmp_path):
    monkeypatch.setattr(platform, "system", lambda: "FreeBSD")
    rc_conf, rc_local = tmp_path / "rc.conf", tmp_path / "rc.conf.local"
    rc_conf.write_text(fixture("freebsd-rc.conf"))
    monkeypatch.setattr(bsd, "RC_CONF_FILES", (str(rc_conf), str(rc_local)))
    host["answers"][("/sbin/ifconfig", "lo0")] = (0, fixture("freebsd-ifconfig-a.txt"), "")
    host["rc_conf"] = str(rc_conf)
    return host


def test_freebsd_present_runs_ifconfig_and_sysrc(freebsd):
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10", "192.0.2.11"]})
    rc_conf = freebsd["rc_conf"]
    assert freebsd["calls"][0] == ["/sbin/ifconfig", "lo0"]
    assert commands(freebsd) == [
        ["/sbin/ifconfig", "lo0", "alias", "192.0.2.10", "netmask", "255.255.255.255", "-arp", "up"],
        ["/sbin/ifconfig", "lo0", "alias", "192.0.2.11", "netmask", "255.255.255.255", "-arp", "up"],
        # alias1 and alias3 are taken in the fixture's rc.conf (alias1 by 192.0.2.10 itself)
        ["/usr/sbin/sysrc", "-f", rc_conf, "ifconfig_lo0_alias2=inet 192.0.2.11 netmask 255.255.255.255 -arp"],
    ]
    assert result["changed"] is True and result["failed"] is False
    assert result["system"] == "FreeBSD"
    assert [c["argv"] for c in result["changes"]] == commands(freebsd)
    assert result["diff"]["before"]["vips"] == []
    assert result["diff"]["after"]["vips"] == ["192.0.2.10/32", "192.0.2.11/32"]
    assert result["diff"]["after"]["persisted"][rc_conf + " ifconfig_lo0_alias2"] == "inet 192.0.2.11 netmask 255.255.255.255 -arp"
    assert list(result["diff"]["after"]["persisted"]) == [rc_conf + " ifconfig_lo0_alias%d" % n for n in (0, 1, 3, 2)]
    assert result["diff"]["before"]["settings"] == {"lo0 NOARP": False}
    assert result["diff"]["after"]["settings"] == {"lo0 NOARP": True}


def test_freebsd_check_mode_reports_the_same_and_runs_nothing(freebsd):
    applied = run(realserver_bsd.main, {"vips": ["192.0.2.10", "192.0.2.11"]})
    freebsd["calls"].clear()
    checked = run(realserver_bsd.main, {"vips": ["192.0.2.10", "192.0.2.11"]}, check_mode=True)
    assert commands(freebsd) == []
    assert applied["changed"] is True
    assert checked["changed"] == applied["changed"]
    assert checked["changes"] == applied["changes"]
    assert checked["diff"] == applied["diff"]


def test_freebsd_second_run_changes_nothing(freebsd, tmp_path):
    freebsd["answers"][("/sbin/ifconfig", "lo0")] = (0, fixture("freebsd-ifconfig-lo0-vips.txt"), "")
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10", "2001:db8::10"]})
    assert result["changed"] is False
    assert result["changes"] == [] and commands(freebsd) == []
    assert result["diff"]["before"] == result["diff"]["after"]
    checked = run(realserver_bsd.main, {"vips": ["192.0.2.10", "2001:db8::10"]}, check_mode=True)
    assert checked["changed"] is False


def test_freebsd_absent(freebsd):
    freebsd["answers"][("/sbin/ifconfig", "lo0")] = (0, fixture("freebsd-ifconfig-lo0-vips.txt"), "")
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10"], "state": "absent"})
    assert commands(freebsd) == [
        ["/sbin/ifconfig", "lo0", "inet", "192.0.2.10", "-alias"],
        ["/usr/sbin/sysrc", "-f", freebsd["rc_conf"], "-x", "ifconfig_lo0_alias1"],
    ]
    assert result["changed"] is True


def test_freebsd_failed_command_fails_the_module_saying_what_ran(freebsd):
    argv = ("/sbin/ifconfig", "lo0", "alias", "192.0.2.11", "netmask", "255.255.255.255", "-arp", "up")
    freebsd["answers"][argv] = (1, "", "ifconfig: ioctl (SIOCAIFADDR): Operation not permitted")
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10", "192.0.2.11"]})
    assert result["failed"] is True
    assert result["msg"].startswith("add 192.0.2.11/32 to lo0: '%s' failed (exit 1): ifconfig: ioctl (SIOCAIFADDR): Operation not permitted"
                                    % " ".join(argv))
    assert "already done: add 192.0.2.10/32 to lo0" in result["msg"]
    # the report of what was planned survives the failure
    assert len(result["changes"]) == 3


def test_freebsd_without_sysrc_fails_clearly(freebsd):
    del freebsd["bins"]["sysrc"]
    result = run(realserver_bsd.main, {"vips": ["192.0.2.11"]})
    assert result["failed"] is True
    assert result["msg"].startswith("sysrc not found on the host")


def test_bad_vip_fails_before_any_command(freebsd):
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10/24"]})
    assert result["failed"] is True
    assert "vips[0]: '192.0.2.10/24' has a prefix length" in result["msg"]
    assert freebsd["calls"] == []


def test_unsupported_bsd_is_refused(host, monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "OpenBSD")
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10"]})
    assert result["failed"] is True
    assert "not on OpenBSD" in result["msg"]
    assert host["calls"] == []
    assert result["system"] == "OpenBSD"


def test_bsd_module_refuses_an_empty_vip_list(freebsd):
    result = run(realserver_bsd.main, {})
    assert result["failed"] is True
    assert result["msg"].startswith("vips is empty")
    assert freebsd["calls"] == []


# --- macOS ---------------------------------------------------------------------------------


@pytest.fixture(name="darwin")
def fixture_darwin(host, monkeypatch, tmp_path):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    jobs = tmp_path / "LaunchDaemons"
    jobs.mkdir()
    (jobs / "org.example.unrelated.plist").write_bytes(b"<plist/>")
    monkeypatch.setattr(bsd, "LAUNCHD_DIR", str(jobs))
    host["answers"][("/sbin/ifconfig", "lo0")] = (0, fixture("darwin-ifconfig-a.txt"), "")
    host["jobs"] = jobs
    return host


def test_macos_present_writes_a_root_owned_launchd_job(darwin):
    checked = run(realserver_bsd.main, {"vips": ["192.0.2.10"]}, check_mode=True)
    assert sorted(os.listdir(darwin["jobs"])) == ["org.example.unrelated.plist"]
    assert commands(darwin) == []
    darwin["calls"].clear()
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10"]})
    assert result["changed"] is True
    assert checked["changed"] == result["changed"]
    assert commands(darwin) == [["/sbin/ifconfig", "lo0", "alias", "192.0.2.10", "netmask", "255.255.255.255", "-arp", "up"]]
    path = darwin["jobs"] / "com.lbkit.loadbalancer.vip.192.0.2.10.plist"
    assert plistlib.loads(path.read_bytes())["ProgramArguments"][0] == "/sbin/ifconfig"
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    if os.geteuid() == 0:
        assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)
    assert sorted(os.listdir(darwin["jobs"])) == ["com.lbkit.loadbalancer.vip.192.0.2.10.plist", "org.example.unrelated.plist"]


def test_macos_absent_removes_only_the_listed_vips_job(darwin):
    run(realserver_bsd.main, {"vips": ["192.0.2.10", "192.0.2.11"]})
    darwin["answers"][("/sbin/ifconfig", "lo0")] = (0, fixture("darwin-ifconfig-lo0-vip.txt"), "")
    darwin["calls"].clear()
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10"], "state": "absent"})
    assert commands(darwin) == [["/sbin/ifconfig", "lo0", "inet", "192.0.2.10", "-alias"]]
    assert result["changes"][-1] == {"action": "remove %s/com.lbkit.loadbalancer.vip.192.0.2.10.plist" % darwin["jobs"]}
    assert sorted(os.listdir(darwin["jobs"])) == ["com.lbkit.loadbalancer.vip.192.0.2.11.plist", "org.example.unrelated.plist"]


# --- Solaris -------------------------------------------------------------------------------


@pytest.fixture(name="sunos")
def fixture_sunos(host, monkeypatch, tmp_path):
    monkeypatch.setattr(platform, "system", lambda: "SunOS")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "hostname.e1000g0").write_text("rs1\n")
    (etc / "release").write_text("                    Oracle Solaris 10 1/13 s10x_u11wos_24a X86\n")
    monkeypatch.setattr(solaris, "HOSTNAME_DIR", str(etc))
    monkeypatch.setattr(solaris, "RELEASE_FILE", str(etc / "release"))
    host["bins"]["ifconfig"] = "/usr/sbin/ifconfig"
    host["answers"][("/usr/sbin/ifconfig", "-a")] = (0, fixture("solaris-ifconfig-a.txt"), "")
    host["etc"] = etc
    return host


def test_solaris_present_plumbs_the_first_free_unit_and_writes_its_file(sunos):
    checked = run(realserver_solaris.main, {"vips": ["192.0.2.10"]}, check_mode=True)
    assert commands(sunos) == []
    assert not (sunos["etc"] / "hostname.lo0:6").exists()
    sunos["calls"].clear()
    result = run(realserver_solaris.main, {"vips": ["192.0.2.10"]})
    assert commands(sunos) == [
        ["/usr/sbin/ifconfig", "lo0:6", "plumb"],
        ["/usr/sbin/ifconfig", "lo0:6", "192.0.2.10", "netmask", "255.255.255.255", "up"],
    ]
    assert (sunos["etc"] / "hostname.lo0:6").read_text() == "192.0.2.10 netmask 255.255.255.255 up\n"
    assert result["changed"] is True
    assert checked["changed"] == result["changed"]
    assert checked["changes"] == result["changes"]
    assert result["diff"]["after"] == {
        "vips": ["192.0.2.10/32"],
        "settings": {"lo0:6": "192.0.2.10/32 up"},
        "persisted": {"%s/hostname.lo0:6" % sunos["etc"]: "192.0.2.10 netmask 255.255.255.255 up"},
    }
    assert result["diff"]["before"] == {"vips": [], "settings": {}, "persisted": {}}
    assert checked["diff"] == result["diff"]


def test_solaris_second_run_and_absent(sunos):
    (sunos["etc"] / "hostname.lo0:6").write_text("192.0.2.10 netmask 255.255.255.255 up\n")
    (sunos["etc"] / "hostname.lo0:7").write_text("192.0.2.11 netmask 255.255.255.255 up\n")
    text = fixture("solaris-ifconfig-a-vips.txt").replace("2001000848<LOOPBACK", "2001000849<UP,LOOPBACK")
    sunos["answers"][("/usr/sbin/ifconfig", "-a")] = (0, text, "")
    assert run(realserver_solaris.main, {"vips": ["192.0.2.10", "192.0.2.11"]})["changed"] is False
    assert commands(sunos) == []
    sunos["calls"].clear()
    result = run(realserver_solaris.main, {"vips": ["192.0.2.11"], "state": "absent"})
    assert result["changed"] is True
    assert commands(sunos) == [["/usr/sbin/ifconfig", "lo0:7", "unplumb"]]
    assert sorted(p.name for p in sunos["etc"].iterdir()) == ["hostname.e1000g0", "hostname.lo0:6", "release"]


def test_solaris_11_refuses_persistence_and_works_without_it(sunos):
    (sunos["etc"] / "release").write_text("                             Oracle Solaris 11.4 X86\n")
    refused = run(realserver_solaris.main, {"vips": ["192.0.2.10"]})
    assert refused["failed"] is True and "ipadm" in refused["msg"]
    assert sunos["calls"] == []
    result = run(realserver_solaris.main, {"vips": ["192.0.2.10"], "persist": False})
    assert result["changed"] is True
    assert [c["action"] for c in result["changes"]] == ["plumb lo0:6", "set 192.0.2.10/32 on lo0:6 and bring it up"]


def test_solaris_module_refuses_ipv6_and_other_systems(sunos, monkeypatch):
    result = run(realserver_solaris.main, {"vips": ["2001:db8::10"]})
    assert result["failed"] is True and "IPv6 VIP, which lbkit does not implement on Solaris" in result["msg"]
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    result = run(realserver_solaris.main, {"vips": ["192.0.2.10"]})
    assert result["failed"] is True and "not on Linux" in result["msg"]
    assert sunos["calls"] == []


def test_solaris_module_refuses_an_empty_vip_list(sunos):
    result = run(realserver_solaris.main, {"vips": [], "state": "absent"})
    assert result["failed"] is True and result["msg"].startswith("vips is empty")
    assert sunos["calls"] == []


def test_solaris_failed_command_fails_the_module_saying_what_ran(sunos):
    sunos["answers"][("/usr/sbin/ifconfig", "lo0:6", "plumb")] = (1, "", "ifconfig: plumb: lo0:6: Permission denied")
    result = run(realserver_solaris.main, {"vips": ["192.0.2.10"]})
    assert result["failed"] is True
    assert result["msg"] == ("plumb lo0:6: '/usr/sbin/ifconfig lo0:6 plumb' failed (exit 1): ifconfig: plumb: lo0:6: Permission denied"
                             " (already done: nothing)")
    assert [c["action"] for c in result["changes"]] == ["plumb lo0:6", "set 192.0.2.10/32 on lo0:6 and bring it up", "write %s/hostname.lo0:6" % sunos["etc"]]
    assert not (sunos["etc"] / "hostname.lo0:6").exists()

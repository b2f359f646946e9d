"""Runs IPVS scenarios (tests/ipvs/scenarios.py) where IPVS is.

- A host whose kernel has IPVS (``/proc/net/ip_vs``, or ``modprobe ip_vs`` succeeds) runs them
  itself, as root, in network namespaces of their own.
- Elsewhere they run in a QEMU guest under software emulation (``-accel tcg``): Debian's cloud
  kernel and an initramfs root from scripts/ipvs-guest (cached by content), plus a small
  archive of this run's files (the collection, the scenario harness, run.json) appended to it.
  The guest has no network device at all; its init runs the scenarios, prints their results on
  the serial console and powers off.

    python tests/ipvs/runner.py [SCENARIO ...] [--mode auto|host|guest]

prints each scenario's result. LBKIT_IPVS_MODE sets the mode for the test tier (default auto).
A run that cannot start fails loudly (RunnerError); it never skips.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = ROOT / ".cache" / "ipvs-run"
RESULT = "LBKIT-RESULT "
GUEST_EXIT = "LBKIT-GUEST-EXIT "
# What the harness runs in the guest, and the Python modules it imports there.
HARNESS = ("netlab.py", "peer.py", "scenarios.py", "guest_main.py")
HOST_PACKAGES = {"keepalived": "keepalived", "ipvsadm": "ipvsadm", "tcpdump": "tcpdump", "arping": "iputils-arping", "nsenter": "util-linux"}


class RunnerError(RuntimeError):
    """The scenarios could not be run (no guest, a guest that never finished, no results)."""


def ipvs_on_host(modprobe=None, proc_file="/proc/net/ip_vs"):
    """(True, why) when this host's kernel has IPVS, loading the module if it must."""
    if os.path.exists(proc_file):
        return True, "%s exists" % proc_file
    if modprobe is None:
        binary = shutil.which("modprobe", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
        if binary is None:
            return False, "%s is missing and there is no modprobe to load ip_vs" % proc_file
        modprobe = (binary, "ip_vs")
    try:
        rc = subprocess.run(list(modprobe), capture_output=True, check=False, timeout=30).returncode
    except OSError as exc:
        return False, "%s: %s" % (" ".join(modprobe), exc)
    if rc == 0 and os.path.exists(proc_file):
        return True, "loaded by %s" % " ".join(modprobe)
    return False, "the kernel has no IPVS (%s missing, %s exited %d)" % (proc_file, " ".join(modprobe), rc)


def choose_mode(requested, has_ipvs):
    """'host' or 'guest' for LBKIT_IPVS_MODE ``requested`` (auto, host or guest)."""
    if requested not in ("auto", "host", "guest"):
        raise RunnerError("LBKIT_IPVS_MODE must be auto, host or guest, not %r" % requested)
    if requested == "host" and not has_ipvs:
        raise RunnerError("LBKIT_IPVS_MODE=host, but this host's kernel has no IPVS; use auto or guest")
    if requested == "auto":
        return "host" if has_ipvs else "guest"
    return requested


def parse_console(lines):
    """The results and the guest's exit status from the harness's output lines."""
    results, status = {}, None
    for line in lines:
        line = line.rstrip("\r\n")
        at = line.find(RESULT)
        if at >= 0:
            result = json.loads(line[at + len(RESULT):])
            results[result["scenario"]] = result
        at = line.find(GUEST_EXIT)
        if at >= 0:
            status = int(line[at + len(GUEST_EXIT):].split()[0])
    return results, status


def _stream(argv, log_path, timeout, env=None):
    """Run argv, echo its output into log_path and return the lines; kill it after ``timeout``."""
    lines = []
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        expired = threading.Event()

        def kill():
            expired.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace")
                log.write(line)
                log.flush()
                lines.append(line)
            rc = proc.wait()
        finally:
            timer.cancel()
    if expired.is_set():
        raise RunnerError("%s did not finish within %.0f s; its output is in %s" % (argv[0], timeout, log_path))
    return rc, lines


def _copy_tree(source, target):
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)


def _write_helpers(target):
    """keepalived's helper programs and the load agent, as the appliance module writes them (_render/programs.py), into ``target``."""
    programs = runpy.run_path(str(ROOT / "plugins" / "module_utils" / "_render" / "programs.py"))
    target.mkdir(parents=True, exist_ok=True)
    for path, text in programs["HELPERS"].items():
        (target / Path(path).name).write_text(text)
    # and the load agent, which keepalived's adaptive check runs (installed while a layer-4 service is adaptive)
    (target / Path(programs["LOAD_AGENT"]).name).write_text(programs["load_agent_program"]())
    return target


def _guest_python_compiler():
    """A Python of the guest's minor version (3.11) to precompile the overlay, or None."""
    for name in ("python3.11",):
        found = shutil.which(name)
        if found:
            return found
    for candidate in sorted(Path.home().glob(".pyenv/versions/3.11*/bin/python3")):
        return str(candidate)
    return None


def build_overlay(scenarios, staging):
    """This run's files for the guest, under staging/opt/lbkit, and run.json naming the scenarios."""
    import ansible  # the venv's ansible-core: its module_utils are what modules import

    opt = staging / "opt" / "lbkit"
    pylib = opt / "pylib"
    collection = pylib / "ansible_collections" / "lbkit" / "loadbalancer"
    _copy_tree(ROOT / "plugins", collection / "plugins")
    helpers = _write_helpers(opt / "helpers")
    for marker in (pylib / "ansible_collections", collection.parent, collection):
        (marker / "__init__.py").touch()
    _copy_tree(Path(ansible.__file__).parent, pylib / "ansible")
    (opt / "tests" / "ipvs").mkdir(parents=True)
    for name in HARNESS:
        shutil.copy2(HERE / name, opt / "tests" / "ipvs" / name)
    config = {
        "scenarios": list(scenarios),
        "python": "/usr/bin/python3",
        "pythonpath": [str(Path("/") / pylib.relative_to(staging))],
        "helpers": str(Path("/") / helpers.relative_to(staging)),
    }
    (opt / "run.json").write_text(json.dumps(config, indent=1))
    compiler = _guest_python_compiler()
    if compiler:
        # Python starts slowly under emulation; bytecode made here saves compiling it there.
        subprocess.run([compiler, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(opt)], check=False, capture_output=True)
    return config


def write_cpio(staging, target):
    """staging's tree as a newc archive (what the kernel unpacks over the guest's root)."""
    names = subprocess.run(["find", "."], cwd=staging, capture_output=True, check=True).stdout
    with open(target, "wb") as out:
        subprocess.run(["cpio", "--create", "--format=newc", "--quiet"], cwd=staging, input=names, stdout=out, check=True)


def qemu_argv(guest_dir, initrd, memory_mb=1536, cpus=None):
    cpus = cpus or max(1, min(4, os.cpu_count() or 1))
    return [
        "qemu-system-x86_64",
        "-accel", "tcg,thread=multi",
        "-smp", str(cpus),
        "-m", str(memory_mb),
        "-nodefaults", "-no-user-config",
        "-display", "none",
        "-serial", "stdio",
        "-monitor", "none",
        "-no-reboot",
        # No network device: the scenarios' networks live inside the guest, nothing leaves it.
        "-nic", "none",
        "-kernel", str(guest_dir / "vmlinuz"),
        "-initrd", str(initrd),
        "-append", "console=ttyS0 rdinit=/init panic=-1 loglevel=4",
    ]


def run_in_guest(scenarios, log_path, timeout):
    build = subprocess.run([str(ROOT / "scripts" / "ipvs-guest")], capture_output=True, text=True, check=False)
    if build.returncode != 0:
        raise RunnerError("scripts/ipvs-guest failed (rc=%d):\n%s" % (build.returncode, (build.stderr + build.stdout)[-3000:]))
    guest_dir = Path(build.stdout.strip().splitlines()[-1])
    if shutil.which("qemu-system-x86_64") is None:
        raise RunnerError("qemu-system-x86_64 is missing although scripts/ipvs-guest installs it")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        staging = Path(tmp) / "overlay"
        staging.mkdir()
        build_overlay(scenarios, staging)
        overlay = Path(tmp) / "overlay.cpio"
        write_cpio(staging, overlay)
        initrd = Path(tmp) / "initrd.cpio"
        with open(initrd, "wb") as out:
            for part in (guest_dir / "root.cpio", overlay):
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        rc, lines = _stream(qemu_argv(guest_dir, initrd), log_path, timeout)
    results, status = parse_console(lines)
    if status is None:
        raise RunnerError("the guest stopped (qemu rc=%d) without reporting the scenarios' end; console log: %s" % (rc, log_path))
    return results


def run_on_host(scenarios, log_path, timeout):
    missing = sorted(set(pkg for tool, pkg in HOST_PACKAGES.items() if shutil.which(tool) is None))
    if missing:
        install = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing, capture_output=True, text=True, check=False)
        if install.returncode != 0:
            raise RunnerError("cannot install %s: %s" % (" ".join(missing), install.stderr[-2000:]))
    CACHE.mkdir(parents=True, exist_ok=True)
    config = {
        "scenarios": list(scenarios),
        "python": sys.executable,
        "pythonpath": [str(ROOT / "collections")],
        "helpers": str(_write_helpers(CACHE / "helpers")),
    }
    run_json = CACHE / "run.json"
    run_json.write_text(json.dumps(config, indent=1))
    rc, lines = _stream([sys.executable, str(HERE / "guest_main.py"), str(run_json)], log_path, timeout)
    results, dummy = parse_console(lines)
    return results


def run(scenarios, mode=None, log_path=None, timeout=1800):
    """Run ``scenarios``; return ({name: result}, how) where how says where they ran and why."""
    mode = mode or os.environ.get("LBKIT_IPVS_MODE", "auto")
    has_ipvs, why = ipvs_on_host()
    chosen = choose_mode(mode, has_ipvs)
    log_path = Path(log_path or CACHE / "console.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if chosen == "host":
        results = run_on_host(scenarios, log_path, timeout)
    else:
        results = run_in_guest(scenarios, log_path, timeout)
    missing = [name for name in scenarios if name not in results]
    if missing:
        raise RunnerError("no result for %s; see %s" % (", ".join(missing), log_path))
    how = {"mode": chosen, "why": why, "seconds": round(time.monotonic() - started, 1), "log": str(log_path)}
    return results, how


def _scenarios_module():
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import scenarios

    return scenarios


def scenario_names():
    """Every scenario of the test tier, in the order it runs them."""
    return list(_scenarios_module().SCENARIOS)


def benchmark_names():
    """The scenarios benchmarks/ runs (not part of the test tier)."""
    return list(_scenarios_module().BENCHMARKS)


def main(argv):
    known = scenario_names() + benchmark_names()
    parser = argparse.ArgumentParser(description="Run IPVS data-plane scenarios where IPVS is (this host, or a QEMU guest).")
    parser.add_argument("scenarios", nargs="*", help="default: all of %s" % ", ".join(known))
    parser.add_argument("--mode", choices=["auto", "host", "guest"], default=os.environ.get("LBKIT_IPVS_MODE", "auto"))
    parser.add_argument("--log", default=str(CACHE / "console.log"))
    args = parser.parse_args(argv)
    names = args.scenarios or known
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error("unknown scenario %s (known: %s)" % (", ".join(unknown), ", ".join(known)))
    results, how = run(names, args.mode, args.log)
    print(json.dumps({"how": how, "results": results}, indent=1, sort_keys=True))
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

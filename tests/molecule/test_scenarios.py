"""Runs every molecule scenario (molecule/<name>/molecule.yml) as one pytest test.

    .venv/bin/pytest tests/molecule            # all scenarios
    .venv/bin/pytest tests/molecule -k base    # a subset

The session first makes sure a Docker engine answers and the test image is built
(scripts/docker-up, scripts/images); if either fails, every scenario fails: the tier never
skips, because a silently skipped tier reads as green in CI.

Each scenario's full output is streamed to this test's stdout (shown by `pytest -s`, or on
failure) and kept in .cache/molecule/<scenario>.log; a failure's message carries the tail.
LBKIT_MOLECULE_TIMEOUT (seconds, default 1800) bounds one scenario.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
LOG_DIR = ROOT / ".cache" / "molecule"
TAIL_LINES = 120
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _scenarios() -> list[str]:
    # A scenario holding EXTERNAL_HOST runs against the user's own host (e.g. Windows, through
    # the delegated driver); there is none here, so it is for users, not for this tier.
    return sorted(
        p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml") if not (p.parent / "EXTERNAL_HOST").exists()
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # molecule runs ansible-playbook, ansible-config and pytest (testinfra) by name.
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(ROOT / ".venv")
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    # Plain text logs; colours only obscure the failure tail.
    env["NO_COLOR"] = "1"
    env["PY_COLORS"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.pop("ANSIBLE_FORCE_COLOR", None)
    return env


def _run_streaming(argv: list[str], log_path: Path, timeout: float) -> tuple[int, str]:
    """Run argv from the repository root, echo and log its output; return (rc, tail)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            # Own process group, so a timeout also ends molecule's ansible-playbook children.
            start_new_session=True,
        )
        timed_out = threading.Event()

        def kill_group() -> None:
            timed_out.set()
            os.killpg(proc.pid, signal.SIGKILL)

        # A timer, not a check between lines: a hung step may print nothing at all.
        watchdog = threading.Timer(timeout, kill_group)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = ANSI.sub("", line)
                sys.stdout.write(line)
                log.write(line)
                tail.append(line)
            rc = proc.wait()
        finally:
            watchdog.cancel()
        if timed_out.is_set():
            note = f"\n*** killed after {timeout:.0f}s (LBKIT_MOLECULE_TIMEOUT) ***\n"
            log.write(note)
            tail.append(note)
    return rc, "".join(tail)


@pytest.fixture(scope="session")
def molecule_host() -> None:
    """A Docker engine answers and the lbkit test image exists (built or cached)."""
    if not (VENV_BIN / "molecule").exists():
        pytest.fail(f"{VENV_BIN / 'molecule'} is missing: run scripts/venv first", pytrace=False)
    for script in ("docker-up", "images"):
        rc, tail = _run_streaming(
            [str(ROOT / "scripts" / script)], LOG_DIR / f"_{script}.log", timeout=1800
        )
        if rc != 0:
            pytest.fail(f"scripts/{script} failed (rc={rc}):\n{tail}", pytrace=False)


def test_scenarios_exist() -> None:
    assert _scenarios(), "no molecule/<scenario>/molecule.yml found"


@pytest.mark.parametrize("scenario", _scenarios())
def test_molecule_scenario(molecule_host: None, scenario: str) -> None:
    timeout = float(os.environ.get("LBKIT_MOLECULE_TIMEOUT", "1800"))
    started = time.monotonic()
    rc, tail = _run_streaming(
        [str(VENV_BIN / "molecule"), "test", "-s", scenario],
        LOG_DIR / f"{scenario}.log",
        timeout,
    )
    took = time.monotonic() - started
    sys.stdout.write(f"\nmolecule test -s {scenario}: rc={rc} in {took:.1f}s\n")
    assert rc == 0, (
        f"molecule test -s {scenario} failed (rc={rc}, {took:.0f}s); "
        f"full log: {LOG_DIR / (scenario + '.log')}\n--- last {TAIL_LINES} lines ---\n{tail}"
    )

"""Running the project's tools from the pytest wrappers (sanity, lint, build, changelog)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
# The link that makes the working tree resolve as lbkit.loadbalancer points back at the
# repository root; copying or walking it would loop.
COLLECTION_LINK_DIR = "collections/ansible_collections/"


def tool_env(**overrides):
    """Environment for the tools: the project venv first on PATH, the project's ansible.cfg."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_CONFIG", str(REPO_ROOT / "ansible.cfg"))
    # what ansible.cfg says, for tools that do not read it (ansible-lint's ansible-compat)
    env.setdefault("ANSIBLE_HOME", str(REPO_ROOT / ".ansible"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["NO_COLOR"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(overrides)
    return env


def tool(name):
    """Absolute path of a command-line tool, preferring the project venv."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: run ./scripts/venv (or ./scripts/test, which runs it)")
    return found


def run(argv, *, cwd, env=None, timeout=600):
    """Run argv, stdout and stderr merged into one text, never raising on a non-zero exit."""
    return subprocess.run(
        [str(arg) for arg in argv],
        cwd=str(cwd),
        env=env if env is not None else tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def tail(text, lines=80):
    """The last lines of a tool's output, for an assertion message."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def failure_message(result, lines=80):
    """Assertion message naming the command, its exit code and the tail of its output."""
    return (
        f"`{' '.join(result.args)}` exited {result.returncode}; last {lines} lines:\n"
        f"{tail(result.stdout, lines)}"
    )


def expect_success(result, lines=80, hint=""):
    """Fail the test with the command and the tail of its output unless it exited 0."""
    if result.returncode != 0:
        pytest.fail(failure_message(result, lines) + hint, pytrace=False)


def collection_files():
    """Tracked and untracked-not-ignored files of the working tree, relative to the root."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=str(REPO_ROOT),
        stdout=subprocess.PIPE,
        check=True,
    ).stdout.decode()
    paths = sorted({p for p in listing.split("\0") if p})
    return [
        p for p in paths
        if not p.startswith(COLLECTION_LINK_DIR) and os.path.lexists(REPO_ROOT / p)
    ]


def copy_collection(destination):
    """Copy the working tree's files (what a fresh clone plus uncommitted work holds)."""
    for rel in collection_files():
        source = REPO_ROOT / rel
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    return destination


# The appliance image scripts/images builds (Debian 12: HAProxy, keepalived, promtool...).
IMAGE = "lbkit/debian12-systemd:latest"


def appliance_image():
    """Start a Docker engine if none runs and build the image if it is missing (each script says
    when there is nothing to do); fail the test with the script's output otherwise."""
    for script in ("docker-up", "images"):
        result = subprocess.run([str(REPO_ROOT / "scripts" / script)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800, check=False)
        if result.returncode != 0:
            pytest.fail("scripts/%s failed:\n%s" % (script, (result.stdout + result.stderr)[-3000:]), pytrace=False)
    return IMAGE

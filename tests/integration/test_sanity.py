"""ansible-test sanity over a copy of the collection, as a fresh clone would hold it."""

import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from .tools import REPO_ROOT, copy_collection, expect_success, run, tool, tool_env

PYTHON = "3.12"

# Sanity tests excluded, each with the reason.
SKIPPED_TESTS = (
    # PSScriptAnalyzer over the Windows real-server PowerShell needs pwsh, which CI cannot
    # install: Debian does not package it, Microsoft's repository is unreachable, and npm's
    # `pwsh` package downloads the binary from outside the registries at install time.
    "pslint",
)

# ansible-test keeps the per-test requirement venvs under ~/.ansible/test/venv; a HOME of
# its own keeps them out of the user's home and reuses them between runs. The path stays
# short: pip writes it into script shebangs, which Linux truncates at 127 characters.
_PROJECT_HOME = REPO_ROOT / ".cache" / "ansible-test-home"
ANSIBLE_TEST_HOME = (
    _PROJECT_HOME if len(str(_PROJECT_HOME)) <= 50
    else Path(tempfile.gettempdir()) / f"lbkit-ansible-test-home-{os.getuid()}"
)


# pip's progress while ansible-test fills its venvs: left out of failure messages.
PIP_NOISE = re.compile(
    r"^\s*(Collecting|Downloading|Installing|Successfully|Using cached|Requirement already|"
    r"Looking in|Processing|Obtaining|Building|Created wheel|Stored in|\u2501|$)"
)


@pytest.fixture(name="collection_copy")
def fixture_collection_copy():
    """The collection copied to <tmp>/ansible_collections/lbkit/loadbalancer.

    ansible-test needs that path layout, and working on a copy keeps its tests/output and
    the working tree's ignored files (.venv, .cache) apart. The temporary directory sits
    right under the system temporary directory to keep venv paths short (see above).
    """
    base = Path(tempfile.mkdtemp(prefix="lbkit-sanity-"))
    root = copy_collection(base / "ansible_collections" / "lbkit" / "loadbalancer")
    # the collection's dependency beside it, where ansible-test's import test looks for it
    shutil.copytree(Path(importlib.util.find_spec("ansible_collections.ansible.netcommon").submodule_search_locations[0]),
                    base / "ansible_collections" / "ansible" / "netcommon", ignore=shutil.ignore_patterns("__pycache__", "tests"))
    yield root
    shutil.rmtree(base, ignore_errors=True)


def seed_pip_bootstrap(home):
    """Put the pip bootstrap script ansible-test would download into its cache.

    See pip_bootstrap.py: the download host is unreachable from CI.
    """
    probe = run(
        [tool("python"), "-c",
         "import types; from ansible_test._internal.python_requirements import get_venv_packages;"
         f" print(get_venv_packages(types.SimpleNamespace(version={PYTHON!r}))['pip'])"],
        cwd=home,
    )
    expect_success(probe)
    pip_version = probe.stdout.strip()
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    pip_copy = cache / "pip-bootstrap" / "pip"
    if not pip_copy.is_dir():
        source = Path(importlib.util.find_spec("pip").origin).parent
        shutil.copytree(source, pip_copy, ignore=shutil.ignore_patterns("__pycache__"))
    script = cache / f"get_pip_{pip_version.replace('.', '_')}.py"
    shutil.copyfile(Path(__file__).with_name("pip_bootstrap.py"), script)


def ensure_shellcheck(root):
    """Install shellcheck from Debian when there are shell scripts for it to check."""
    if shutil.which("shellcheck") or not any(root.rglob("*.sh")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail("the sanity test 'shellcheck' needs shellcheck: apt-get install shellcheck")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "--no-install-recommends", "shellcheck"]
    result = run(install, cwd=root, env=env)
    if result.returncode != 0:
        run(["apt-get", "update"], cwd=root, env=env)
        result = run(install, cwd=root, env=env)
    expect_success(result)


def user_pip_settings():
    """Keep the user's pip configuration (index mirrors) and cache under the changed HOME."""
    home = Path.home()
    settings = {
        "XDG_CONFIG_HOME": os.environ.get("XDG_CONFIG_HOME", str(home / ".config")),
        "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(home / ".cache")),
    }
    legacy = home / ".pip" / "pip.conf"
    if "PIP_CONFIG_FILE" not in os.environ and legacy.is_file():
        settings["PIP_CONFIG_FILE"] = str(legacy)
    return settings


@pytest.mark.sanity
@pytest.mark.slow
def test_ansible_test_sanity(collection_copy):
    """Every applicable ansible-test sanity test passes on Python 3.12."""
    ensure_shellcheck(collection_copy)
    argv = [tool("ansible-test"), "sanity", "--venv", "--python", PYTHON, "--color", "no"]
    for name in SKIPPED_TESTS:
        argv += ["--skip-test", name]
    ANSIBLE_TEST_HOME.mkdir(parents=True, exist_ok=True)
    seed_pip_bootstrap(ANSIBLE_TEST_HOME)
    env = tool_env(HOME=str(ANSIBLE_TEST_HOME), **user_pip_settings())
    # The copy is its own collection: the project's ansible.cfg and home would point Ansible
    # back at the working tree.
    env.pop("ANSIBLE_CONFIG", None)
    env.pop("ANSIBLE_HOME", None)
    result = run(argv, cwd=collection_copy, env=env, timeout=45 * 60)
    result.stdout = "\n".join(line for line in result.stdout.splitlines() if not PIP_NOISE.match(line))
    expect_success(result, lines=150)
    # ansible-test passes a test it cannot run (a missing program or Python) with a warning.
    skipped = [line for line in result.stdout.splitlines()
               if "Skipping sanity test" in line or "Required program" in line]
    assert not skipped, "sanity tests skipped, not listed in SKIPPED_TESTS:\n" + "\n".join(skipped)


@pytest.mark.sanity
def test_sanity_ignores_carry_reasons():
    """Every entry in tests/sanity/ignore-*.txt says why (`path test:code  # reason`)."""
    unexplained = []
    for ignore_file in sorted((REPO_ROOT / "tests" / "sanity").glob("ignore-*.txt")):
        for number, line in enumerate(ignore_file.read_text(encoding="utf-8").splitlines(), 1):
            entry, hash_sign, reason = line.partition("#")
            if entry.strip() and not (hash_sign and reason.strip()):
                unexplained.append(f"{ignore_file.relative_to(REPO_ROOT)}:{number}: {line}")
    assert not unexplained, "sanity ignore entries without a reason:\n" + "\n".join(unexplained)

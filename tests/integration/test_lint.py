"""ansible-lint over the roles and playbooks, with the production profile (.ansible-lint)."""

import pytest

from .tools import REPO_ROOT, expect_success, run, tool, tool_env

# What users run: the roles, the playbooks and the main entry point; and the benchmarks' playbooks.
LINTED = ["roles", "playbooks", "site.yml", "benchmarks/playbooks"]


@pytest.mark.lint
def test_ansible_lint_production_profile():
    """ansible-lint finds nothing in the roles and playbooks at the production profile."""
    paths = [path for path in LINTED if (REPO_ROOT / path).exists()]
    assert paths, f"nothing to lint: none of {LINTED} exists"
    # No colours and no hyperlinks: the output ends up in an assertion message.
    env = tool_env(TERM="dumb")
    result = run(
        [tool("ansible-lint"), "--nocolor", "--config-file", REPO_ROOT / ".ansible-lint", *paths],
        cwd=REPO_ROOT, env=env, timeout=15 * 60,
    )
    expect_success(result)
    assert "Profile 'production' was required, and it passed" in result.stdout, result.stdout

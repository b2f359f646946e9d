"""The changelog configuration, fragments and changelog.yaml pass antsibull-changelog's lint."""

import pytest

from .tools import REPO_ROOT, expect_success, run, tool


@pytest.mark.changelog
def test_changelog_fragments_lint():
    """Every fragment in changelogs/fragments/ uses a configured section and valid markup."""
    result = run([tool("antsibull-changelog"), "lint"], cwd=REPO_ROOT)
    expect_success(result)
    assert not result.stdout.strip(), result.stdout


@pytest.mark.changelog
def test_changelog_yaml_lint():
    """changelogs/changelog.yaml (the release history) is valid."""
    result = run(
        [tool("antsibull-changelog"), "lint-changelog-yaml", REPO_ROOT / "changelogs" / "changelog.yaml"],
        cwd=REPO_ROOT,
    )
    expect_success(result)

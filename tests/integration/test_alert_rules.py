"""The Prometheus alert rules in files/prometheus pass promtool's checks and their unit tests.

promtool comes from Debian 12's prometheus package (2.42) in the lbkit test image and runs there
with no network (`--network none`), the rules directory mounted read-only. Beside promtool's
verdicts: every alert rule has a unit test where it fires and one where it must not, and two
broken copies (a rule, an expectation) prove that promtool's failures reach these tests.
"""

import os
import shutil
import subprocess

import pytest
import yaml

from .tools import appliance_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES_DIR = os.path.join(ROOT, "files", "prometheus")
RULES = "lbkit-alerts.yml"
RULE_TESTS = "lbkit-alerts.test.yml"


def _run(argv, timeout=600):
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def image():
    return appliance_image()


def _promtool(image, rules_dir, *args):
    """promtool's exit status and output, run on rules_dir mounted at /rules."""
    result = _run([
        "docker", "run", "--rm", "--network", "none", "-v", "%s:/rules:ro" % rules_dir,
        "--entrypoint", "promtool", image,
    ] + list(args))
    return result.returncode, result.stdout + result.stderr


def _load(name):
    with open(os.path.join(RULES_DIR, name)) as handle:
        return yaml.safe_load(handle)


def _alert_rules():
    return [rule for group in _load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules(image):
    status, out = _promtool(image, RULES_DIR, "check", "rules", "/rules/" + RULES)
    assert status == 0, out
    assert "SUCCESS: %d rules found" % len(_alert_rules()) in out, out


def test_promtool_test_rules(image):
    status, out = _promtool(image, RULES_DIR, "test", "rules", "/rules/" + RULE_TESTS)
    assert status == 0, out
    assert "SUCCESS" in out and "FAILED" not in out, out


def test_rules_have_hold_severity_and_annotations():
    rules = _alert_rules()
    assert rules
    for rule in rules:
        assert "for" in rule, rule["alert"]
        assert rule.get("labels", {}).get("severity") in ("critical", "warning", "info"), rule["alert"]
        assert {"summary", "description"} <= set(rule.get("annotations", {})), rule["alert"]


def test_every_rule_has_a_firing_and_a_quiet_case():
    """A rule with no firing case is untested; a case naming no rule passes vacuously (promtool
    does not know the alert names), so that is an error too."""
    names = {rule["alert"] for rule in _alert_rules()}
    firing, quiet = set(), set()
    for group in _load(RULE_TESTS)["tests"]:
        for case in group.get("alert_rule_test", []):
            assert case["alertname"] in names, "%s (test %r) is no rule of %s" % (case["alertname"], group.get("name"), RULES)
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert not names - firing, "rules with no case where they fire: %s" % sorted(names - firing)
    assert not names - quiet, "rules with no case where they must not fire: %s" % sorted(names - quiet)


def test_a_broken_rule_fails_the_check(image, tmp_path):
    rules = _load(RULES)
    first = rules["groups"][0]["rules"][0]
    first["expr"] = "(" + first["expr"]
    (tmp_path / RULES).write_text(yaml.safe_dump(rules, sort_keys=False))
    status, out = _promtool(image, str(tmp_path), "check", "rules", "/rules/" + RULES)
    assert status != 0, out
    assert "FAILED" in out and first["alert"] in out and "parse error" in out, out


def test_a_wrong_expectation_fails_the_unit_tests(image, tmp_path):
    """The first scenario with a firing case, its first expected alert given another severity."""
    tests = _load(RULE_TESTS)
    group = next(g for g in tests["tests"] if any(c.get("exp_alerts") for c in g.get("alert_rule_test", [])))
    case = next(c for c in group["alert_rule_test"] if c.get("exp_alerts"))
    case["exp_alerts"][0]["exp_labels"]["severity"] = "none"
    group["alert_rule_test"] = [case]
    tests["tests"] = [group]
    shutil.copy(os.path.join(RULES_DIR, RULES), str(tmp_path / RULES))
    (tmp_path / RULE_TESTS).write_text(yaml.safe_dump(tests, sort_keys=False))
    status, out = _promtool(image, str(tmp_path), "test", "rules", "/rules/" + RULE_TESTS)
    assert status != 0, out
    assert "FAILED" in out and case["alertname"] in out, out


def test_lbkit_series_pass_promtool_check_metrics(image, tmp_path):
    """What lbkit-metrics writes is valid Prometheus text format (HELP, TYPE, names, escaped labels),
    whatever a name in the spec holds."""
    import sys
    sys.path.insert(0, os.path.join(ROOT, "collections"))
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import overview

    state = {"cluster": {"name": 'odd "name" \\ here', "host": "lb1", "priority": 150, "floating_ips": {}},
             "virtual_services": {"tcp/192.0.2.10/80": {"name": "web", "address": "192.0.2.10", "port": 80, "protocol": "tcp", "layer": 7,
                                                        "real_servers": {"10.0.0.1:80": {"name": "web1", "address": "10.0.0.1", "port": 80}}}}}
    services = overview.overview(state, {}, {("vs_web", "web1"): {"status": "UP", "weight": 1, "current_sessions": 3}}, {})
    (tmp_path / "lbkit.prom").write_text(overview.render(state, "master", {"192.0.2.10"}, services, 1700000000.0))
    result = _run(["docker", "run", "--rm", "--network", "none", "-v", "%s:/series:ro" % tmp_path, "--entrypoint", "sh", image, "-c",
                   "promtool check metrics < /series/lbkit.prom"])
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "lbkit.prom").write_text('lbkit_vrrp_state{cluster="unterminated} 1\n')
    result = _run(["docker", "run", "--rm", "--network", "none", "-v", "%s:/series:ro" % broken, "--entrypoint", "sh", image, "-c",
                   "promtool check metrics < /series/lbkit.prom"])
    assert result.returncode != 0

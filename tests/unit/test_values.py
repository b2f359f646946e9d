"""The compact value forms of the spec."""

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec import values


@pytest.mark.parametrize(
    "text,expected",
    [
        ("443", (443,)),
        ("8080-8082 443", (443, 8080, 8081, 8082)),
        ("8080-8082,443", (443, 8080, 8081, 8082)),
        ("  22 ,  25  ", (22, 25)),
        ([443, "8000-8001"], (443, 8000, 8001)),
        ("1-510", tuple(range(1, 511))),
    ],
)
def test_parse_ports(text, expected):
    assert values.parse_ports(text) == expected


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("", "no ports given"),
        ("0", "outside 1-65535"),
        ("65536", "outside 1-65535"),
        ("80-", "is not a port"),
        ("a-b", "is not a port"),
        ("1-511", "at most 510"),
        ([True], "is not a port"),
    ],
)
def test_parse_ports_errors(text, fragment):
    with pytest.raises(ValueError) as info:
        values.parse_ports(text)
    assert fragment in info.value.args[0]
    assert info.value.args[1]


@pytest.mark.parametrize("value,seconds", [(60, 60), ("60", 60), ("90s", 90), ("30m", 1800), ("6h", 21600), ("28d", 2419200)])
def test_parse_duration(value, seconds):
    assert values.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5w", "-1", "1.5m", "", True])
def test_parse_duration_errors(value):
    with pytest.raises(ValueError):
        values.parse_duration(value)


@pytest.mark.parametrize("seconds,text", [(60, "1m"), (90, "90s"), (3600, "1h"), (86400 * 29, "29d"), (0, "0s")])
def test_format_duration(seconds, text):
    assert values.format_duration(seconds) == text


def test_status_codes():
    assert values.parse_status_codes("200-299 301,302") == ((200, 299), (301, 301), (302, 302))
    assert values.parse_status_codes([200]) == ((200, 200),)
    with pytest.raises(ValueError):
        values.parse_status_codes("99")


@pytest.mark.parametrize("value,family,prefix", [("255.255.255.0", 4, 24), ("/16", 4, 16), ("/64", 6, 64), ("255.255.255.255", 4, 32)])
def test_granularity(value, family, prefix):
    assert values.parse_granularity(value, family) == prefix


@pytest.mark.parametrize("value,family", [("255.0.255.0", 4), ("/33", 4), ("/0", 4), ("255.255.0.0", 6), ("/129", 6)])
def test_granularity_errors(value, family):
    with pytest.raises(ValueError):
        values.parse_granularity(value, family)

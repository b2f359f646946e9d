"""Captured command outputs for the real-server tests (see fixtures/realserver/README.md)."""

import os

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "realserver")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()

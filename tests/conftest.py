"""Fixtures shared by every layer: a real nats-server and throwaway databases.

Per-layer fixtures live in each layer's own conftest. The database backend is chosen by
``MTLID_TEST_DATABASE`` (sqlite by default, postgres in CI's second run).
"""

from __future__ import annotations

import pathlib

import pytest

from services.common.testing.databases import backend
from services.common.testing.nats import nats_server


def pytest_report_header(config):
    return f"mtlid test database backend: {backend()}"


@pytest.fixture(scope="session")
def nats(tmp_path_factory):
    """One nats-server with JetStream for the session (tests use distinct streams/subjects)."""
    with nats_server(pathlib.Path(tmp_path_factory.mktemp("nats"))) as server:
        yield server


@pytest.fixture
def fresh_nats(tmp_path):
    """A nats-server of the test's own, for tests that stop and restart it."""
    with nats_server(tmp_path) as server:
        yield server

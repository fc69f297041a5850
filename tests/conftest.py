"""Shared fixtures: a private workbench home per test and real sandbox servers on loopback."""

from __future__ import annotations

import pytest

from tests.contract import ContractTransport


@pytest.fixture(autouse=True)
def workbench_home(tmp_path_factory, monkeypatch):
    """Point WORKBENCH_HOME (journal, credentials, logs) at a fresh folder for each test."""
    home = tmp_path_factory.mktemp("workbench-home")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.delenv("ITERABLE_API_KEY", raising=False)
    return home


@pytest.fixture
def sandbox(tmp_path_factory):
    """A fresh sandbox server on a free loopback port, stopped after the test."""
    from mapping.iterable.sandbox import start_sandbox

    server = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sandbox_session(tmp_path_factory):
    """One sandbox shared by a whole test session, for read-only checks."""
    from mapping.iterable.sandbox import start_sandbox

    server = start_sandbox(tmp_path_factory.mktemp("sandbox-session"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def contract_transport():
    """A transport that validates every exchange against Iterable's published definitions."""
    transport = ContractTransport()
    yield transport
    assert not transport.violations, transport.violations


@pytest.fixture
def client(sandbox, contract_transport):
    """An IterableClient on the sandbox whose every request and response is contract-checked."""
    from mapping.iterable import IterableClient

    with IterableClient(
        sandbox.api_key, base_url=sandbox.base_url, transport=contract_transport
    ) as iterable_client:
        yield iterable_client

"""IterableClient against the real sandbox over loopback HTTP, contract-checked on every call.

The `client` fixture wraps the default httpx transport in `ContractTransport`, so each request
the client sends and each JSON response the sandbox returns is checked against Iterable's
published definitions as a side effect of these round trips.
"""

from __future__ import annotations

import logging

import pytest

from mapping.iterable import (
    BadApiKeyError,
    FieldTypesMismatchError,
    InvalidListError,
    IterableClient,
    NetworkError,
    RateLimitError,
    ServerError,
    WriteNotAllowedError,
    forget_readable_keys,
)
from mapping.iterable.sandbox import Faults
from tests.contract import ContractTransport

READ_ONLY_KEY = "read-only-key-7d1e0c4b9a8f6e5d4c3b2a1908f7e6d5"
MOBILE_KEY = "mobile-key-2a4c6e8f0b1d3f5a7c9e1b3d5f7a9c1e"
EU_KEY = "eu-server-key-9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture(autouse=True)
def fresh_key_memory():
    """Start each test with no remembered successful reads, since several tests share a key."""
    forget_readable_keys()
    yield
    forget_readable_keys()


def _client_with_key(sandbox, contract_transport, key: str) -> IterableClient:
    return IterableClient(key, base_url=sandbox.base_url, transport=contract_transport)


# -- reads -------------------------------------------------------------------------------------


def test_get_lists_seed(client):
    lists = {item.id: item for item in client.get_lists()}

    assert lists[101].name == "Newsletter"
    assert lists[101].is_standard
    assert lists[104].list_type == "Dynamic"
    assert lists[105].list_type == "Suppression"
    assert lists[101].created_at > 1_000_000_000_000


def test_get_fields_seed(client):
    fields = client.get_fields()

    assert fields["email"] == "string"
    assert fields["signupDate"] == "date"
    assert fields["consent"] == "boolean"


def test_get_user_unknown(client):
    assert client.get_user_by_email("nobody@example.com") is None


# -- lists -------------------------------------------------------------------------------------


def test_create_list_round_trip(client):
    list_id = client.create_list("Autumn pop-up", description="Created by a test")

    created = [item for item in client.get_lists() if item.id == list_id]
    assert len(created) == 1
    assert created[0].name == "Autumn pop-up"
    assert created[0].list_type == "Standard"
    assert client.list_size(list_id) == 0


def test_subscribe_round_trip(client):
    subscribers = [
        {"email": "Ada@Example.com", "dataFields": {"firstName": "Ada"}},
        {"email": "grace@example.com", "dataFields": {"firstName": "Grace"}},
        {"email": "user @example.com", "dataFields": {"firstName": "Nobody"}},
    ]

    result = client.subscribe(102, subscribers)

    assert result.success_count == 2
    assert result.fail_count == 1
    assert result.failed_identifiers() == {"user @example.com": "invalid_email"}
    assert client.list_size(102) == 2
    user = client.get_user_by_email("ada@example.com")
    assert user["email"] == "ada@example.com"
    assert user["dataFields"]["firstName"] == "Ada"


def test_subscribe_type_mismatch_partial(client):
    subscribers = [
        {"email": "ok@example.com", "dataFields": {"signupDate": "2024-05-01"}},
        {"email": "late@example.com", "dataFields": {"signupDate": "next week"}},
    ]

    result = client.subscribe(101, subscribers)

    assert result.success_count == 1
    assert result.failed_identifiers() == {"late@example.com": "invalid_data"}


def test_subscribe_dynamic_list(client):
    with pytest.raises(InvalidListError) as raised:
        client.subscribe(104, [{"email": "ada@example.com"}])

    assert raised.value.list_id == 104
    assert raised.value.status == 400
    assert raised.value.code == "Success"


def test_subscribe_unknown_list(client):
    with pytest.raises(InvalidListError) as raised:
        client.post_raw("/api/lists/subscribe",
                        b'{"listId":987654,"subscribers":[{"email":"ada@example.com"}]}')

    assert raised.value.list_id == 987654
    assert "987654" in raised.value.message


def test_new_list_briefly_invalid(sandbox, client):
    sandbox.set_faults(Faults(slow_list_seconds=600))
    list_id = client.create_list("Slow list")

    with pytest.raises(InvalidListError) as raised:
        client.subscribe(list_id, [{"email": "ada@example.com"}])

    assert raised.value.list_id == list_id
    assert "created a few seconds ago" in raised.value.message


# -- users -------------------------------------------------------------------------------------


def test_bulk_update_creates_field(client):
    users = [{"email": "ada@example.com", "dataFields": {"favouriteColour": "teal"}}]

    result = client.bulk_update(users, create_new_fields=True)

    assert result.success_count == 1
    assert "favouriteColour" in result.created_fields
    assert client.get_fields()["favouriteColour"] == "string"


def test_bulk_update_type_mismatch(client):
    users = [
        {"email": "ada@example.com", "dataFields": {"signupDate": "2024-05-01"}},
        {"email": "grace@example.com", "dataFields": {"signupDate": "not a date"}},
    ]

    with pytest.raises(FieldTypesMismatchError) as raised:
        client.bulk_update(users)

    error = raised.value
    assert error.status == 400
    assert error.fields == ["signupDate"]
    assert error.validation_errors[0].expected_type == "date"
    assert error.validation_errors[0].value == "not a date"
    assert client.get_user_by_email("ada@example.com") is None


def test_post_raw_round_trip(client):
    body = b'{"users":[{"email":"raw@example.com","dataFields":{"city":"Lyon"}}]}'

    result = client.post_raw("users/bulkUpdate", body)

    assert result.success_count == 1
    assert client.get_user_by_email("raw@example.com")["dataFields"]["city"] == "Lyon"


def test_update_user_round_trip(client):
    response = client.update_user(email="Linus@Example.com", data_fields={"city": "Helsinki"})

    assert response.code == "Success"
    user = client.get_user_by_email("linus@example.com")
    assert user["dataFields"]["city"] == "Helsinki"


# -- keys --------------------------------------------------------------------------------------


def test_unknown_key(sandbox, contract_transport):
    with _client_with_key(sandbox, contract_transport, "not-a-known-key-000000") as client:
        with pytest.raises(BadApiKeyError) as raised:
            client.get_lists()

    assert raised.value.status == 401
    assert raised.value.code == "BadApiKey"
    assert "region" in raised.value.message


@pytest.mark.parametrize("write", ["subscribe", "bulk_update", "create_list", "update_user"])
def test_read_only_key_write(sandbox, contract_transport, write):
    sandbox.add_key(READ_ONLY_KEY, "read_only", "us")
    calls = {
        "subscribe": lambda c: c.subscribe(101, [{"email": "ada@example.com"}]),
        "bulk_update": lambda c: c.bulk_update([{"email": "ada@example.com"}]),
        "create_list": lambda c: c.create_list("Not allowed"),
        "update_user": lambda c: c.update_user(email="ada@example.com"),
    }

    with _client_with_key(sandbox, contract_transport, READ_ONLY_KEY) as client:
        assert client.get_lists()
        with pytest.raises(WriteNotAllowedError) as raised:
            calls[write](client)

    assert raised.value.status == 401
    assert "server-side key" in raised.value.message
    assert READ_ONLY_KEY not in str(raised.value)


def test_read_only_key_first_write(sandbox, contract_transport):
    sandbox.add_key(READ_ONLY_KEY, "read_only", "us")

    with _client_with_key(sandbox, contract_transport, READ_ONLY_KEY) as client:
        with pytest.raises(BadApiKeyError) as raised:
            client.subscribe(101, [{"email": "ada@example.com"}])

    assert "read-only" in raised.value.message


def test_mobile_key_cannot_list(sandbox, contract_transport):
    sandbox.add_key(MOBILE_KEY, "mobile", "us")

    with _client_with_key(sandbox, contract_transport, MOBILE_KEY) as client:
        with pytest.raises(BadApiKeyError):
            client.get_lists()


def test_key_of_other_region(sandbox, contract_transport):
    sandbox.add_key(EU_KEY, "server_side", "eu")

    with _client_with_key(sandbox, contract_transport, EU_KEY) as client:
        with pytest.raises(BadApiKeyError) as raised:
            client.get_fields()

    assert "region US" in raised.value.message


# -- faults ------------------------------------------------------------------------------------


def test_list_size_rate_limit(client):
    with pytest.raises(RateLimitError) as raised:
        for _ in range(10):
            client.list_size(101)

    assert raised.value.status == 429
    assert raised.value.code == "RateLimitExceeded"


def test_injected_429(sandbox, client):
    sandbox.set_faults(Faults(error_429_rate=1.0, seed=1))

    with pytest.raises(RateLimitError):
        client.get_fields()


def test_injected_5xx(sandbox, client):
    sandbox.set_faults(Faults(error_5xx_rate=1.0, seed=1))

    with pytest.raises(ServerError) as raised:
        client.bulk_update([{"email": "ada@example.com"}])

    assert raised.value.status >= 500


def test_injected_drop(sandbox, client):
    sandbox.set_faults(Faults(drop_rate=1.0, seed=1))

    with pytest.raises(NetworkError) as raised:
        client.subscribe(101, [{"email": "ada@example.com"}])

    assert raised.value.status is None


# -- secrets -----------------------------------------------------------------------------------


def test_key_absent_everywhere(sandbox, client, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []

    client.get_lists()
    client.get_fields()
    client.subscribe(101, [{"email": "ada@example.com"}])
    client.update_user(email="ada@example.com", data_fields={"city": "Oslo"})
    client.get_user_by_email("ada@example.com")
    for call in (lambda: client.subscribe(104, [{"email": "a@example.com"}]),
                 lambda: client.bulk_update([{"email": "a@example.com",
                                              "dataFields": {"consent": "maybe"}}])):
        with pytest.raises(Exception) as raised:
            call()
        errors.append(raised.value)

    assert caplog.records
    assert sandbox.api_key not in caplog.text
    assert sandbox.api_key not in repr(client)
    for error in errors:
        assert sandbox.api_key not in str(error)
        assert sandbox.api_key not in repr(error)


def test_read_timeout_over_http(sandbox, contract_transport):
    sandbox.set_faults(Faults(latency_ms=800))

    with IterableClient(sandbox.api_key, base_url=sandbox.base_url, timeout=0.2,
                        transport=contract_transport) as client:
        with pytest.raises(NetworkError) as raised:
            client.get_fields()

    assert "timed out" in raised.value.message


def test_read_only_key_separate_clients(sandbox, contract_transport):
    sandbox.add_key(READ_ONLY_KEY, "read_only", "us")

    writer_transport = ContractTransport()

    with _client_with_key(sandbox, contract_transport, READ_ONLY_KEY) as reader:
        reader.get_fields()
    with _client_with_key(sandbox, writer_transport, READ_ONLY_KEY) as writer:
        with pytest.raises(WriteNotAllowedError):
            writer.create_list("Not allowed")

    assert not writer_transport.violations

"""The API key never shows in the client's errors, repr or log lines, even when a server echoes it.

The sandbox cannot echo the key back, so those rows use a mock transport. The real error paths
(unknown list, wrong key, nothing listening) use the sandbox over loopback HTTP.
"""

from __future__ import annotations

import logging
import pickle
import socket

import httpx
import pytest

from mapping.iterable import IterableClient, IterableError
from tests.security._leaks import find_in_exception, find_in_text, fingerprint, new_fake_key

pytestmark = pytest.mark.timeout(60)

BASE_URL = "http://127.0.0.1:9"


def echo_responses(key: str) -> dict[str, httpx.Response]:
    """Responses that quote the request's key in every place a response can contain it."""
    padding = "p" * 275  # puts the key across the 300-character cut of the body excerpt
    return {
        "401 JSON msg and params": httpx.Response(
            401,
            json={"msg": f"Invalid API key {key}", "code": "BadApiKey",
                  "params": {"apiKey": key, "endpoint": "/api/lists"}},
        ),
        "400 invalid list with params": httpx.Response(
            400,
            json={"msg": "error.lists.invalidListId(999)", "code": "Success",
                  "params": {"headers": {"Api-Key": key}}},
        ),
        "400 type mismatch quoting the key": httpx.Response(
            400,
            json={"msg": "mismatch", "code": "RequestFieldsTypesMismatched",
                  "params": {"validationErrors": {key: {"expectedType": "string",
                                                        "offendingValue": key}}}},
        ),
        "403 HTML page": httpx.Response(
            403, html=f"<html><body><h1>Forbidden</h1><p>key={key}</p></body></html>"
        ),
        "500 text with the key past the cut": httpx.Response(500, text=padding + key),
        "429 text": httpx.Response(429, text=f"slow down, {key}", headers={"Retry-After": "1"}),
        "200 that is not JSON": httpx.Response(200, text=f"<html>login for {key}</html>"),
        "302 redirect": httpx.Response(302, headers={"Location": f"https://login/?k={key}"}),
    }


def call_lists(client: IterableClient):
    return client.get_lists()


def call_subscribe(client: IterableClient):
    return client.subscribe(101, [{"email": "ada@example.com"}])


@pytest.mark.parametrize("case", sorted(echo_responses("x")))
@pytest.mark.parametrize("call", [call_lists, call_subscribe], ids=["get_lists", "subscribe"])
def test_echoed_key_is_removed_from_errors(case, call, caplog):
    key = new_fake_key()
    response = echo_responses(key)[case]
    transport = httpx.MockTransport(lambda request: response)
    caplog.set_level(logging.DEBUG)
    with IterableClient(key, base_url=BASE_URL, transport=transport) as client:
        with pytest.raises(IterableError) as caught:
            call(client)
    assert find_in_exception(caught.value, key) == []
    for record in caplog.records:
        assert find_in_text(record.getMessage(), key) == [], record.getMessage()


def test_client_repr_and_pickle_hide_the_key():
    key = new_fake_key()
    with IterableClient(key, base_url=BASE_URL) as client:
        assert find_in_text(repr(client) + str(client), key) == []
        assert client.key_fingerprint == fingerprint(key)
        with pytest.raises(TypeError) as caught:
            pickle.dumps(client)
        assert find_in_exception(caught.value, key) == []


def test_fingerprint_is_a_short_sha256_prefix():
    key = new_fake_key()
    with IterableClient(key, base_url=BASE_URL) as client:
        shown_fingerprint = client.key_fingerprint
    assert len(shown_fingerprint) == 8
    assert set(shown_fingerprint) <= set("0123456789abcdef")
    assert shown_fingerprint == fingerprint(key)
    # 32 bits of a hash of a 96-bit random part: it names the key but cannot give it back.
    assert shown_fingerprint not in key


def test_bad_key_values_are_not_echoed():
    for bad in ["", "   ", "leakcheck-\n" + "a" * 24, "leakcheck-ü" + "b" * 23]:
        try:
            IterableClient(bad, base_url=BASE_URL).close()
        except (TypeError, ValueError) as error:
            assert bad.strip() == "" or find_in_exception(error, bad) == [], str(error)


# --------------------------------------------------------------------------- over the sandbox


@pytest.fixture
def key_in_sandbox(sandbox):
    key = new_fake_key()
    sandbox.add_key(key, "server_side")
    return key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_real_errors_over_the_sandbox_hide_the_key(sandbox, key_in_sandbox, caplog):
    key = key_in_sandbox
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with IterableClient(key, base_url=sandbox.base_url) as client:
        client.get_lists()
        for action in (
            lambda: client.subscribe(999_999, [{"email": "ada@example.com"}]),
            lambda: client.list_size(999_999),
            lambda: client.bulk_update([{"email": "ada@example.com",
                                         "dataFields": {"signupDate": "not a date"}}]),
            lambda: client.post_raw("lists/subscribe", b"{not json"),
        ):
            try:
                action()
            except IterableError as error:
                errors.append(error)
    wrong_key = new_fake_key()
    with IterableClient(wrong_key, base_url=sandbox.base_url) as client:
        with pytest.raises(IterableError) as caught:
            client.get_lists()
        errors.append(caught.value)
    with IterableClient(key, base_url=f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(IterableError) as caught:
            client.get_lists()
        errors.append(caught.value)

    assert len(errors) >= 3, errors
    for error in errors:
        assert find_in_exception(error, key) == [], repr(error)
        assert find_in_exception(error, wrong_key) == [], repr(error)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert find_in_text(logged, key) == []
    assert find_in_text(logged, wrong_key) == []
    assert fingerprint(key) in logged, "requests are logged with the key's fingerprint"

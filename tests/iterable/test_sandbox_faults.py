"""Injected faults and rate limits of the sandbox, seen by a real httpx client over loopback.

No timing assertions: limits are checked with windows far longer than the test (list size
allows 5 per minute) and faults with rates of 0 or 1 or a fixed seed.
"""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from mapping.iterable.sandbox import SANDBOX_API_KEY, Faults, start_sandbox
from tests.contract import ContractTransport, validate_response


@pytest.fixture
def api(sandbox, contract_transport):
    with httpx.Client(
        base_url=sandbox.base_url, headers={"Api-Key": SANDBOX_API_KEY},
        transport=contract_transport, timeout=10,
    ) as client:
        yield client


def subscribe(api, list_id, emails):
    return api.post("/api/lists/subscribe", json={
        "listId": list_id, "subscribers": [{"email": email} for email in emails]})


def request_counts(api):
    return api.get("/_sandbox/requests").json()


def assert_rate_limited(response):
    assert response.status_code == 429
    body = response.json()
    validate_response("IterableApiResponse", body)
    assert body["code"] == "RateLimitExceeded"
    return response


# --- dropped connections ---------------------------------------------------------------------


def test_dropped_connection_reaches_the_client_as_a_transport_error(sandbox, api):
    sandbox.set_faults(Faults(drop_rate=1.0))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.get("/api/lists")
    sandbox.set_faults(Faults())
    assert api.get("/api/lists").status_code == 200  # the server itself is fine
    statuses = request_counts(api)["endpoints"]["GET /api/lists"]["statuses"]
    assert statuses == {"0": 1, "200": 1}


def test_a_drop_before_processing_writes_nothing(sandbox, api):
    sandbox.set_faults(Faults(drop_rate=1.0))
    with pytest.raises(httpx.TransportError):
        subscribe(api, 101, ["lost@example.com"])
    sandbox.set_faults(Faults())
    assert api.get("/api/lists/101/size").text == "0"
    assert request_counts(api)["received"] == {}


def test_a_drop_after_processing_keeps_the_write(sandbox, api):
    sandbox.set_faults(Faults(drop_rate=1.0, drop_after_processing=True))
    with pytest.raises(httpx.TransportError):
        subscribe(api, 101, ["kept@example.com"])
    sandbox.set_faults(Faults())
    assert api.get("/api/lists/101/size").text == "1"
    received = request_counts(api)["received"]
    assert received == {"POST /api/lists/subscribe": {"kept@example.com": 1}}


# --- 5xx and 429 -----------------------------------------------------------------------------


def test_server_errors_come_as_json_text_and_html(sandbox, api):
    sandbox.set_faults(Faults(error_5xx_rate=1.0, seed=3))
    responses = [api.get("/api/users/getFields") for _ in range(16)]
    assert {response.status_code for response in responses} <= {500, 502, 503, 504}
    kinds = {response.headers["content-type"].split(";")[0] for response in responses}
    assert kinds == {"application/json", "text/plain", "text/html"}
    text = next(r for r in responses if r.headers["content-type"].startswith("text/plain"))
    assert text.status_code == 503
    assert "Try again later" in text.text


def test_injected_429_with_and_without_retry_after(sandbox, api):
    sandbox.set_faults(Faults(error_429_rate=1.0))
    assert "retry-after" not in assert_rate_limited(api.get("/api/lists")).headers
    sandbox.set_faults(Faults(error_429_rate=1.0, retry_after_seconds=2))
    assert assert_rate_limited(api.get("/api/lists")).headers["retry-after"] == "2"


def test_the_same_seed_gives_the_same_faults(tmp_path):
    faults = Faults(error_429_rate=0.4, error_5xx_rate=0.2, seed=11)
    runs = []
    for name in ("one", "two"):
        with start_sandbox(tmp_path / name, faults=faults, rate_limits=False) as server:
            transport = ContractTransport()
            with httpx.Client(base_url=server.base_url, transport=transport,
                              headers={"Api-Key": SANDBOX_API_KEY}) as client:
                runs.append([client.get("/api/lists").status_code for _ in range(20)])
            assert not transport.violations
    assert runs[0] == runs[1]
    assert set(runs[0]) > {200}


def test_latency_still_answers(sandbox, api):
    sandbox.set_faults(Faults(latency_ms=20))
    assert api.get("/api/lists").status_code == 200
    assert api.get("/_sandbox/state").json()["faults"]["latency_ms"] == 20


def test_faults_never_touch_inspection_endpoints(sandbox, api):
    sandbox.set_faults(Faults(drop_rate=1.0))
    assert api.get("/_sandbox/state").status_code == 200
    assert api.get("/_sandbox/users").status_code == 200


def test_faults_given_at_start(tmp_path, contract_transport):
    with start_sandbox(tmp_path, faults=Faults(error_429_rate=1.0)) as server:
        with httpx.Client(base_url=server.base_url, headers={"Api-Key": server.api_key},
                          transport=contract_transport) as client:
            assert_rate_limited(client.get("/api/lists"))
        assert server.faults.error_429_rate == 1.0


# --- slow lists ------------------------------------------------------------------------------


def test_a_new_list_is_unknown_during_its_slow_period(sandbox, api):
    sandbox.set_faults(Faults(slow_list_seconds=3600))
    list_id = api.post("/api/lists", json={"name": "Just made"}).json()["listId"]
    response = subscribe(api, list_id, ["a@example.com"])
    assert response.status_code == 400
    assert response.json()["msg"] == f"error.lists.invalidListId({list_id})"
    assert response.json()["code"] == "Success"
    assert subscribe(api, 101, ["a@example.com"]).status_code == 200  # old lists are fine
    sandbox.set_faults(Faults())
    assert subscribe(api, list_id, ["a@example.com"]).status_code == 200


# --- faults over HTTP ------------------------------------------------------------------------


def test_set_faults_over_http(sandbox, api):
    response = api.post("/_sandbox/faults", json={"error_429_rate": 1.0, "retry_after_seconds": 5})
    assert response.status_code == 200
    assert response.json()["error_429_rate"] == 1.0
    assert sandbox.faults.retry_after_seconds == 5
    assert assert_rate_limited(api.get("/api/lists")).headers["retry-after"] == "5"
    api.post("/_sandbox/faults", json={})
    assert api.get("/api/lists").status_code == 200
    assert api.get("/_sandbox/faults").json() == Faults().to_dict()


@pytest.mark.parametrize("body", [{"drop_rate": 2}, {"latency": 5}, {"seed": "x", "drop_rate": -1}])
def test_invalid_faults_over_http_are_400(api, body):
    response = api.post("/_sandbox/faults", json=body)
    assert response.status_code == 400
    validate_response("IterableApiResponse", response.json())
    assert response.json()["code"] == "BadParams"


# --- rate limits -----------------------------------------------------------------------------


def test_list_size_allows_five_requests_per_minute(api):
    assert [api.get("/api/lists/101/size").status_code for _ in range(5)] == [200] * 5
    response = assert_rate_limited(api.get("/api/lists/101/size"))
    assert "retry-after" not in response.headers  # Iterable sends none on a real limit
    assert api.get("/api/lists").status_code == 200  # other endpoints have their own limit


def test_rate_limits_can_be_turned_off(sandbox, api):
    sandbox.set_rate_limits(False)
    assert {api.get("/api/lists/101/size").status_code for _ in range(10)} == {200}


def test_rate_limit_multiplier(sandbox, api):
    sandbox.set_rate_limits(0.2)  # list size: 1 per minute
    assert api.get("/api/lists/101/size").status_code == 200
    assert_rate_limited(api.get("/api/lists/101/size"))


def test_subscribe_limit_is_off_by_default_and_configurable(sandbox, api):
    assert {subscribe(api, 101, ["a@example.com"]).status_code for _ in range(8)} == {200}
    sandbox.set_faults(Faults(subscribe_rate_limit=0.01))  # one request per 100 seconds
    assert subscribe(api, 101, ["a@example.com"]).status_code == 200
    assert_rate_limited(subscribe(api, 101, ["a@example.com"]))


def test_rate_limits_given_at_start(tmp_path, contract_transport):
    with start_sandbox(tmp_path, rate_limits=False) as server:
        with httpx.Client(base_url=server.base_url, headers={"Api-Key": server.api_key},
                          transport=contract_transport) as client:
            assert {client.get("/api/users/getFields").status_code for _ in range(12)} == {200}
        assert server.state.limiter.describe() == {}


def test_client_gone_before_its_body_is_logged_as_499(sandbox, api):
    head = (f"POST /api/users/bulkUpdate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Api-Key: {SANDBOX_API_KEY}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n{\"users\": [").encode()
    with socket.create_connection(("127.0.0.1", sandbox.port)) as raw:
        raw.sendall(head)
    statuses = {}
    for _ in range(200):  # the server notices the closed connection on its own schedule
        statuses = request_counts(api)["endpoints"].get("POST /api/users/bulkUpdate", {})
        if statuses:
            break
        threading.Event().wait(0.02)
    assert statuses == {"requests": 1, "statuses": {"499": 1}}
    assert api.get("/_sandbox/state").json()["userCount"] == 0

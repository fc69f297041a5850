"""The requests IterableClient builds: hosts, headers, timeouts, bodies, arguments and logging.

A recording mock transport inside `ContractTransport` captures each request, so every body is
also checked against Iterable's published request definitions.
"""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any

import httpx
import pytest

from mapping.iterable import (
    EU_BASE_URL,
    US_BASE_URL,
    ApiResponse,
    BulkUpdateResult,
    IterableClient,
    IterableList,
    UnexpectedResponseError,
    forget_readable_keys,
    key_fingerprint,
)
from tests.contract import ContractTransport

API_KEY = "test-key-0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
BASE_URL = "http://127.0.0.1:9"

LISTS_BODY = {
    "lists": [
        {"id": 101, "name": "Newsletter", "createdAt": 1_700_000_000_000, "listType": "Standard",
         "description": "Weekly news", "someFutureKey": True},
        {"id": 105, "name": "Unsubscribed", "createdAt": 1_700_000_000_001,
         "listType": "Suppression", "isGlobalSuppressionEnabled": False},
    ]
}
BULK_OK = {"successCount": 1, "failCount": 0, "failedUpdates": {}, "createdFields": [],
           "filteredOutFields": []}


@pytest.fixture(autouse=True)
def fresh_key_memory():
    """Start each test with no remembered successful reads, since several tests share a key."""
    forget_readable_keys()
    yield
    forget_readable_keys()



class Recorder:
    """A fake Iterable: stores every request and returns responses from a table keyed by path."""

    def __init__(self, answers: dict[str, httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = answers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path in self.answers:
            return self.answers[request.url.path]
        if request.url.path.endswith("/size"):
            return httpx.Response(200, text="42")
        return httpx.Response(200, json=self._default(request))

    @staticmethod
    def _default(request: httpx.Request) -> Any:
        path = request.url.path
        if path == "/api/lists" and request.method == "GET":
            return LISTS_BODY
        if path == "/api/lists":
            return {"listId": 777}
        if path == "/api/users/getFields":
            return {"fields": {"email": "string", "signupDate": "date", "address.city": "string"}}
        if path == "/api/users/update":
            return {"msg": "", "code": "Success", "params": {}}
        if path == "/api/users/getByEmail":
            return {}
        return BULK_OK

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def client(recorder):
    """Shadows the sandbox-backed `client` fixture in this module: a client on the recorder."""
    transport = ContractTransport(httpx.MockTransport(recorder))
    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport) as iterable_client:
        yield iterable_client
    assert not transport.violations


# -- construction ------------------------------------------------------------------------------


def test_default_host_is_us():
    with IterableClient(API_KEY) as client:
        assert client.base_url == US_BASE_URL
        assert client.region == "us"


def test_eu_region_host():
    with IterableClient(API_KEY, region="eu") as client:
        assert client.base_url == EU_BASE_URL
        assert client.region == "eu"


def test_region_case_insensitive():
    with IterableClient(API_KEY, region="EU") as client:
        assert client.base_url == EU_BASE_URL


def test_unknown_region_rejected():
    with pytest.raises(ValueError, match="'us'"):
        IterableClient(API_KEY, region="asia")


def test_base_url_overrides_region():
    with IterableClient(API_KEY, region="eu", base_url="http://127.0.0.1:8123/") as client:
        assert client.base_url == "http://127.0.0.1:8123"
        assert client.region == "eu"


def test_base_url_api_suffix_removed():
    with IterableClient(API_KEY, base_url="https://api.iterable.com/api/") as client:
        assert client.base_url == US_BASE_URL


@pytest.mark.parametrize(
    "base_url",
    ["ftp://127.0.0.1", "127.0.0.1:8000", "file:///etc/passwd", "http://", "javascript:x",
     "http://user:pw@127.0.0.1", "http://127.0.0.1/?a=1"],
)
def test_base_url_rejected(base_url):
    with pytest.raises(ValueError, match="base URL"):
        IterableClient(API_KEY, base_url=base_url)


def test_plain_http_remote_host_warns(caplog):
    caplog.set_level(logging.WARNING, logger="mapping.iterable.client")

    IterableClient(API_KEY, base_url="http://iterable.invalid").close()

    assert "unencrypted" in caplog.text


def test_loopback_http_does_not_warn(caplog):
    caplog.set_level(logging.WARNING, logger="mapping.iterable.client")

    IterableClient(API_KEY, base_url="http://localhost:8000").close()

    assert caplog.text == ""


@pytest.mark.parametrize("api_key", ["", "   ", "key with space", "kéy", "key\nsecond"])
def test_bad_api_key_rejected(api_key):
    with pytest.raises(ValueError) as raised:
        IterableClient(api_key)

    assert api_key.strip() == "" or api_key not in str(raised.value)


def test_api_key_not_a_string():
    with pytest.raises(TypeError):
        IterableClient(None)  # type: ignore[arg-type]


def test_api_key_stripped(recorder):
    transport = httpx.MockTransport(recorder)
    with IterableClient(f"  {API_KEY}\n", base_url=BASE_URL, transport=transport) as client:
        client.get_fields()

    assert recorder.last.headers["Api-Key"] == API_KEY


def test_timeouts_all_set():
    with IterableClient(API_KEY, timeout=45) as client:
        timeout = client._http.timeout

    assert timeout.read == 45.0
    assert timeout.write == 45.0
    assert timeout.pool == 45.0
    assert timeout.connect == 10.0


def test_timeout_object_kept():
    custom = httpx.Timeout(5.0, connect=2.0)

    with IterableClient(API_KEY, timeout=custom) as client:
        assert client._http.timeout == custom


@pytest.mark.parametrize("timeout", [0, -1, None, "30", True])
def test_timeout_invalid(timeout):
    with pytest.raises(ValueError, match="timeout"):
        IterableClient(API_KEY, timeout=timeout)


def test_headers_sent(client, recorder):
    client.get_lists()

    headers = recorder.last.headers
    assert headers["Api-Key"] == API_KEY
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("iterable-mapping-workbench/")


def test_custom_user_agent(recorder):
    transport = httpx.MockTransport(recorder)
    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport,
                        user_agent="notebook/1.0") as client:
        client.get_lists()

    assert recorder.last.headers["User-Agent"] == "notebook/1.0"


def test_fingerprint():
    with IterableClient(API_KEY) as client:
        assert client.key_fingerprint == key_fingerprint(API_KEY)
        assert len(client.key_fingerprint) == 8
        assert API_KEY not in client.key_fingerprint


def test_repr_hides_key():
    with IterableClient(API_KEY, base_url=BASE_URL) as client:
        text = repr(client)

    assert API_KEY not in text
    assert API_KEY not in str(client)
    assert key_fingerprint(API_KEY) in text
    assert BASE_URL in text


def test_pickle_refused():
    with IterableClient(API_KEY) as client, pytest.raises(TypeError, match="pickled"):
        pickle.dumps(client)


def test_closed_client_cannot_send(recorder):
    client = IterableClient(API_KEY, base_url=BASE_URL, transport=httpx.MockTransport(recorder))
    client.close()

    with pytest.raises(RuntimeError):
        client.get_lists()


# -- reads -------------------------------------------------------------------------------------


def test_get_lists(client, recorder):
    lists = client.get_lists()

    assert recorder.last.method == "GET"
    assert recorder.last.url.path == "/api/lists"
    assert lists[0] == IterableList(
        id=101, name="Newsletter", created_at=1_700_000_000_000, list_type="Standard",
        description="Weekly news",
    )
    assert lists[0].is_standard
    assert lists[1].is_global_suppression_enabled is False
    assert not lists[1].is_standard


def test_get_lists_malformed_entry(recorder):
    recorder.answers["/api/lists"] = httpx.Response(200, json={"lists": [{"id": "x"}]})
    transport = httpx.MockTransport(recorder)

    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport) as client:
        with pytest.raises(UnexpectedResponseError, match="malformed"):
            client.get_lists()


def test_get_lists_missing_array(recorder):
    recorder.answers["/api/lists"] = httpx.Response(200, json={"items": []})
    transport = httpx.MockTransport(recorder)

    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport) as client:
        with pytest.raises(UnexpectedResponseError, match="'lists'"):
            client.get_lists()


def test_get_fields(client, recorder):
    fields = client.get_fields()

    assert recorder.last.url.path == "/api/users/getFields"
    assert fields == {"email": "string", "signupDate": "date", "address.city": "string"}


def test_list_size_plain_text(client, recorder):
    assert client.list_size(101) == 42
    assert recorder.last.url.path == "/api/lists/101/size"


@pytest.mark.parametrize(("text", "expected"), [(" 7\n", 7), ('{"size": 3}', 3), ("0", 0)])
def test_list_size_tolerant(recorder, text, expected):
    recorder.answers["/api/lists/101/size"] = httpx.Response(200, text=text)
    transport = httpx.MockTransport(recorder)

    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport) as client:
        assert client.list_size(101) == expected


@pytest.mark.parametrize("list_id", [0, -5, "101", 1.5, True, None])
def test_list_id_invalid(client, recorder, list_id):
    with pytest.raises(ValueError, match="list id"):
        client.list_size(list_id)

    assert recorder.requests == []


def test_get_user_unknown_is_none(client, recorder):
    assert client.get_user_by_email("nobody@example.com") is None
    assert recorder.last.url.path == "/api/users/getByEmail"
    assert recorder.last.url.params["email"] == "nobody@example.com"


def test_get_user_returns_user_object(recorder):
    user = {"email": "ada@example.com", "dataFields": {"firstName": "Ada"}}
    recorder.answers["/api/users/getByEmail"] = httpx.Response(200, json={"user": user})
    transport = ContractTransport(httpx.MockTransport(recorder))

    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport) as client:
        assert client.get_user_by_email("ada+tag@example.com") == user

    assert recorder.last.url.params["email"] == "ada+tag@example.com"


def test_get_user_empty_email(client):
    with pytest.raises(ValueError, match="empty"):
        client.get_user_by_email("  ")


# -- writes ------------------------------------------------------------------------------------


def test_create_list(client, recorder):
    assert client.create_list("Spring sale", description="Pop-up") == 777

    assert recorder.last.method == "POST"
    assert recorder.last.url.path == "/api/lists"
    assert recorder.last_json() == {"name": "Spring sale", "description": "Pop-up"}
    assert recorder.last.headers["Content-Type"] == "application/json"


def test_create_list_without_description(client, recorder):
    client.create_list("Spring sale")

    assert recorder.last_json() == {"name": "Spring sale"}


def test_create_list_empty_name(client, recorder):
    with pytest.raises(ValueError, match="name"):
        client.create_list(" ")

    assert recorder.requests == []


def test_subscribe_body(client, recorder):
    subscribers = [
        {"email": "Ada@Example.com", "dataFields": {"firstName": "Ada", "consent": True}},
        {"userId": "u-2", "dataFields": {"city": "Zürich"}},
    ]

    result = client.subscribe(101, subscribers, update_existing_users_only=False)

    assert isinstance(result, BulkUpdateResult)
    assert recorder.last.url.path == "/api/lists/subscribe"
    assert recorder.last_json() == {
        "listId": 101, "subscribers": subscribers, "updateExistingUsersOnly": False,
    }
    assert "Zürich".encode() in recorder.last.content


def test_subscribe_omits_unset_option(client, recorder):
    client.subscribe(101, [{"email": "ada@example.com"}])

    assert "updateExistingUsersOnly" not in recorder.last_json()


def test_bulk_update_body(client, recorder):
    users = [{"email": "ada@example.com", "dataFields": {"signupDate": "2024-05-01"}}]

    client.bulk_update(users, create_new_fields=True)

    assert recorder.last.url.path == "/api/users/bulkUpdate"
    assert recorder.last_json() == {"users": users, "createNewFields": True}


def test_bulk_update_default_body(client, recorder):
    client.bulk_update([])

    assert recorder.last_json() == {"users": []}


@pytest.mark.parametrize("users", ["abc", {"email": "a@b.com"}, [1, 2], None])
def test_bulk_update_users_invalid(client, recorder, users):
    with pytest.raises(TypeError):
        client.bulk_update(users)

    assert recorder.requests == []


def test_body_with_nan_rejected(client, recorder):
    with pytest.raises(ValueError, match="NaN"):
        client.bulk_update([{"email": "a@example.com", "dataFields": {"score": float("nan")}}])

    assert recorder.requests == []


def test_body_with_object_rejected(client, recorder):
    with pytest.raises(TypeError, match="not JSON"):
        client.bulk_update([{"email": "a@example.com", "dataFields": {"when": object()}}])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("lists/subscribe", "/api/lists/subscribe"),
        ("/api/lists/subscribe", "/api/lists/subscribe"),
        ("api/users/bulkUpdate", "/api/users/bulkUpdate"),
        ("users/bulkUpdate", "/api/users/bulkUpdate"),
    ],
)
def test_post_raw_paths(client, recorder, path, expected):
    body = b'{"users":[{"email":"ada@example.com"}]}'
    if expected.endswith("subscribe"):
        body = b'{"listId":101,"subscribers":[{"email":"ada@example.com"}]}'

    result = client.post_raw(path, body)

    assert result.success_count == 1
    assert recorder.last.url.path == expected
    assert recorder.last.content == body
    assert recorder.last.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ["users/update", "/api/lists", "lists/unsubscribe", ""])
def test_post_raw_unknown_path(client, path):
    with pytest.raises(ValueError, match="post_raw"):
        client.post_raw(path, b"{}")


def test_post_raw_needs_bytes(client):
    with pytest.raises(TypeError, match="bytes"):
        client.post_raw("users/bulkUpdate", '{"users": []}')  # type: ignore[arg-type]


def test_update_user_by_email(client, recorder):
    answer = client.update_user(
        email="ada@example.com", data_fields={"city": "Berlin"}, prefer_user_id=True,
        merge_nested_objects=False, create_new_fields=True,
    )

    assert answer == ApiResponse(msg="", code="Success", params={})
    assert recorder.last.url.path == "/api/users/update"
    assert recorder.last_json() == {
        "email": "ada@example.com", "dataFields": {"city": "Berlin"}, "preferUserId": True,
        "mergeNestedObjects": False, "createNewFields": True,
    }


def test_update_user_by_user_id(client, recorder):
    client.update_user(user_id="u-1")

    assert recorder.last_json() == {"userId": "u-1", "dataFields": {}}


@pytest.mark.parametrize(
    "identifiers",
    [{}, {"email": "a@example.com", "user_id": "u"}, {"email": ""}, {"user_id": ""}],
)
def test_update_user_needs_one_identifier(client, recorder, identifiers):
    with pytest.raises(ValueError):
        client.update_user(**identifiers)

    assert recorder.requests == []


def test_update_user_params_null(recorder):
    recorder.answers["/api/users/update"] = httpx.Response(
        200, json={"msg": "", "code": "Success", "params": None}
    )
    transport = httpx.MockTransport(recorder)

    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport) as client:
        assert client.update_user(email="a@example.com").params is None


def test_bulk_answer_not_object(recorder):
    recorder.answers["/api/users/bulkUpdate"] = httpx.Response(200, json=[1])
    transport = httpx.MockTransport(recorder)

    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport) as client:
        with pytest.raises(UnexpectedResponseError, match="not a JSON object"):
            client.bulk_update([])


# -- logging -----------------------------------------------------------------------------------


def test_one_info_line_per_request(client, caplog):
    caplog.set_level(logging.INFO, logger="mapping.iterable.client")

    client.get_lists()
    client.subscribe(101, [{"email": "ada@example.com"}])

    records = [r for r in caplog.records if r.name == "mapping.iterable.client"]
    assert len(records) == 2
    assert all(r.levelno == logging.INFO for r in records)
    first = records[0].getMessage()
    assert first.startswith("GET /api/lists 200 in ")
    assert " ms (key " in first
    assert key_fingerprint(API_KEY) in first


def test_logs_never_contain_key(client, caplog):
    caplog.set_level(logging.DEBUG)

    client.get_lists()
    client.get_fields()
    client.list_size(101)
    client.subscribe(101, [{"email": "ada@example.com"}])
    client.bulk_update([{"email": "ada@example.com"}])
    client.update_user(email="ada@example.com")
    client.get_user_by_email("ada@example.com")
    client.create_list("New")

    assert caplog.records
    assert API_KEY not in caplog.text


def test_attributes_hide_key():
    with IterableClient(API_KEY, base_url=BASE_URL) as client:
        dumped = repr(vars(client))

    assert API_KEY not in dumped

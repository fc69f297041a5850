"""Iterable's endpoints on a real sandbox over loopback HTTP, every exchange contract-checked.

Each test gets a fresh sandbox (the `sandbox` fixture) and an httpx client whose transport
validates every request and JSON response against Iterable's published definitions.
"""

from __future__ import annotations

import json

import httpx
import pytest

from mapping.iterable.sandbox import SANDBOX_API_KEY, SEED_FIELDS
from tests.contract import validate_response


@pytest.fixture(scope="module")
def raw():
    """A plain client for requests the request contract rightly refuses (responses are still
    checked by assert_error). Shared: building an httpx client costs tens of milliseconds."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def api(sandbox, contract_transport):
    """A contract-checked client on a fresh sandbox with the demo key."""
    with httpx.Client(
        base_url=sandbox.base_url, headers={"Api-Key": SANDBOX_API_KEY},
        transport=contract_transport, timeout=10,
    ) as client:
        yield client


def client_for(sandbox, transport, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=sandbox.base_url, headers={"Api-Key": key}, transport=transport, timeout=10
    )


def post_raw(raw, api, path, body):
    """POST with the plain client to the sandbox behind `api`, with the same key."""
    return raw.post(f"{api.base_url}{path}", json=body, headers={"Api-Key": api.headers["Api-Key"]})


def subscribe(api, list_id, subscribers, **extra):
    return api.post("/api/lists/subscribe",
                    json={"listId": list_id, "subscribers": subscribers, **extra})


def bulk_update(api, users, **extra):
    return api.post("/api/users/bulkUpdate", json={"users": users, **extra})


def get_user(api, email):
    response = api.get("/api/users/getByEmail", params={"email": email})
    assert response.status_code == 200
    validate_response("UserResponse", response.json())
    return response.json().get("user")


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    validate_response("IterableApiResponse", body)
    assert body["code"] == code, body
    return body


# --- lists -----------------------------------------------------------------------------------


def test_get_lists_returns_the_seed_project(api):
    response = api.get("/api/lists")
    assert response.status_code == 200
    lists = {item["id"]: item for item in response.json()["lists"]}
    assert {i: lists[i]["listType"] for i in lists} == {
        101: "Standard", 102: "Standard", 103: "Standard", 104: "Dynamic", 105: "Suppression",
    }
    assert lists[102]["name"] == "Spring sale pop-up"
    assert lists[105]["isGlobalSuppressionEnabled"] is False


def test_create_list_then_it_is_listed_and_empty(api):
    response = api.post("/api/lists", json={"name": "Autumn quiz", "description": "Quiz widget"})
    assert response.status_code == 200
    list_id = response.json()["listId"]
    listed = {item["id"]: item for item in api.get("/api/lists").json()["lists"]}
    assert listed[list_id]["name"] == "Autumn quiz"
    assert listed[list_id]["listType"] == "Standard"
    assert listed[list_id]["description"] == "Quiz widget"
    assert api.get(f"/api/lists/{list_id}/size").text == "0"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": 5}, {"name": "x", "description": 1}])
def test_create_list_needs_a_name(raw, api, body):
    assert_error(post_raw(raw, api, "/api/lists", body), 400, "BadParams")


def test_list_size_is_plain_text(api):
    subscribe(api, 101, [{"email": "a@example.com"}, {"email": "b@example.com"}])
    response = api.get("/api/lists/101/size")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "2"


def test_list_size_of_an_unknown_list(api):
    body = assert_error(api.get("/api/lists/999/size"), 400, "Success")
    assert body["msg"] == "error.lists.invalidListId(999)"


def test_dynamic_list_counts_recently_updated_users(api):
    bulk_update(api, [{"email": "recent@example.com", "dataFields": {"city": "Lyon"}}])
    assert api.get("/api/lists/104/size").text == "1"


@pytest.mark.parametrize("list_id", [104, 105, 999])
def test_subscribe_to_a_non_standard_or_unknown_list(api, list_id):
    response = subscribe(api, list_id, [{"email": "a@example.com"}])
    body = assert_error(response, 400, "Success")
    assert body["msg"] == f"error.lists.invalidListId({list_id})"
    assert body["params"]["listId"] == list_id


# --- fields ----------------------------------------------------------------------------------


def test_get_fields_has_the_seed_fields(api):
    response = api.get("/api/users/getFields")
    assert response.status_code == 200
    assert response.json()["fields"] == SEED_FIELDS


def test_fields_take_the_type_of_their_first_value(api):
    users = [{"email": "t@example.com", "dataFields": {
        "visits": 3, "ratio": 0.5, "vip": True, "lastSeen": "2024-05-01 10:00:00 +02:00",
        "note": "hi", "address": {"street": "Main 1"}, "prefs.color": "blue",
        "tags": ["a", "b"], "scores": [1, 2], "orders": [{"sku": "A1", "qty": 2}],
    }}]
    response = bulk_update(api, users)
    assert response.status_code == 200
    body = response.json()
    fields = api.get("/api/users/getFields").json()["fields"]
    expected = {
        "visits": "long", "ratio": "double", "vip": "boolean", "lastSeen": "date",
        "note": "string", "address": "object", "address.street": "string", "prefs": "object",
        "prefs.color": "string", "tags": "string", "scores": "long", "orders": "nested",
        "orders.sku": "string", "orders.qty": "long",
    }
    assert {name: fields[name] for name in expected} == expected
    assert set(body["createdFields"]) == set(expected)
    profile = get_user(api, "t@example.com")["dataFields"]
    assert profile["lastSeen"] == "2024-05-01 08:00:00 +00:00"
    assert profile["prefs"] == {"color": "blue"}


ACCEPTED_DATES = ["2006-01-02", "2006-01-02 15:04:05", "2006-01-02 15:04:05 -07:00",
                  "2006-01-02T15:04:05.000-07:00", "2006-01-02T15:04:05.000Z"]
NOT_DATES = ["2024-11-25T13:37:19.039", "2024-11-25T13:37:19Z", "2024-11-25 13:37:19.039Z",
             "2020-04-13 13:37:19.039"]


def test_only_iterables_date_formats_make_date_fields(api):
    data = {f"accepted{i}": text for i, text in enumerate(ACCEPTED_DATES)}
    data |= {f"rejected{i}": text for i, text in enumerate(NOT_DATES)}
    assert bulk_update(api, [{"email": "d@example.com", "dataFields": data}]).status_code == 200
    fields = api.get("/api/users/getFields").json()["fields"]
    assert {fields[f"accepted{i}"] for i in range(len(ACCEPTED_DATES))} == {"date"}
    assert {fields[f"rejected{i}"] for i in range(len(NOT_DATES))} == {"string"}


def test_non_date_into_a_date_field_on_subscribe_fails_that_user_only(api):
    response = subscribe(api, 101, [
        {"email": "ok@example.com", "dataFields": {"signupDate": "2024-03-01"}},
        {"email": "Bad@Example.com", "dataFields": {"signupDate": "2024-11-25T13:37:19Z"}},
    ])
    assert response.status_code == 200
    body = response.json()
    assert body["successCount"] == 1
    assert body["failCount"] == 1
    assert body["failedUpdates"]["invalidDataEmails"] == ["bad@example.com"]
    assert get_user(api, "bad@example.com") is None
    assert api.get("/api/lists/101/size").text == "1"


def test_type_conflict_on_bulk_update_rejects_the_whole_batch(api):
    response = bulk_update(api, [
        {"email": "first@example.com", "dataFields": {"firstName": "Ann"}},
        {"email": "second@example.com", "dataFields": {"signupDate": "GGG", "consent": "yes"}},
    ])
    body = assert_error(response, 400, "RequestFieldsTypesMismatched")
    errors = body["params"]["validationErrors"]
    assert errors["signupDate"] == {
        "incomingTypes": ["string", "keyword"], "expectedType": "date",
        "_type": "UnexpectedType", "offendingValue": "GGG", "category": "user",
    }
    assert errors["consent"]["expectedType"] == "boolean"
    assert get_user(api, "first@example.com") is None  # nothing of the batch was written


def test_a_type_set_earlier_in_the_same_batch_binds_later_users(api):
    response = bulk_update(api, [
        {"email": "a@example.com", "dataFields": {"level": 1}},
        {"email": "b@example.com", "dataFields": {"level": "high"}},
    ])
    body = assert_error(response, 400, "RequestFieldsTypesMismatched")
    assert body["params"]["validationErrors"]["level"]["expectedType"] == "long"
    assert "level" not in api.get("/api/users/getFields").json()["fields"]


def test_whole_numbers_fit_double_fields_but_not_the_reverse(api):
    assert bulk_update(api, [{"email": "a@example.com", "dataFields": {"price": 1.5}}]).status_code == 200
    assert bulk_update(api, [{"email": "a@example.com", "dataFields": {"price": 2}}]).status_code == 200
    assert bulk_update(api, [{"email": "a@example.com", "dataFields": {"count": 2}}]).status_code == 200
    assert_error(bulk_update(api, [{"email": "a@example.com", "dataFields": {"count": 2.5}}]),
                 400, "RequestFieldsTypesMismatched")


def test_a_date_string_fits_a_string_field(api):
    response = bulk_update(api, [{"email": "a@example.com", "dataFields": {"city": "2024-01-01"}}])
    assert response.status_code == 200
    assert get_user(api, "a@example.com")["dataFields"]["city"] == "2024-01-01"


def test_create_new_fields_false_filters_unknown_fields(api):
    response = bulk_update(
        api, [{"email": "a@example.com", "dataFields": {"firstName": "Ann", "shoeSize": 38}}],
        createNewFields=False,
    )
    body = response.json()
    assert response.status_code == 200
    assert body["successCount"] == 1
    assert body["filteredOutFields"] == ["shoeSize"]
    assert body["createdFields"] == []
    assert "shoeSize" not in api.get("/api/users/getFields").json()["fields"]
    assert get_user(api, "a@example.com")["dataFields"]["firstName"] == "Ann"


def test_project_setting_drops_unknown_fields_unless_the_request_overrides(sandbox, api):
    sandbox.set_drop_unknown_fields(True)
    body = subscribe(api, 101, [{"email": "a@example.com", "dataFields": {"hobby": "chess"}}]).json()
    assert body["filteredOutFields"] == ["hobby"]
    body = bulk_update(api, [{"email": "a@example.com", "dataFields": {"hobby": "chess"}}],
                       createNewFields=True).json()
    assert body["createdFields"] == ["hobby"]


def test_field_limit_of_one_thousand(api):
    existing = len(SEED_FIELDS)
    fits = {f"custom{i}": i for i in range(1000 - existing)}
    assert bulk_update(api, [{"email": "a@example.com", "dataFields": fits}]).status_code == 200
    response = bulk_update(api, [{"email": "b@example.com", "dataFields": {"oneTooMany": 1}}])
    body = assert_error(response, 400, "UniqueFieldsLimitExceeded")
    assert body["params"]["limit"] == 1000
    assert get_user(api, "b@example.com") is None


def test_values_over_32k_characters_are_invalid_data(api):
    response = bulk_update(api, [
        {"email": "long@example.com", "dataFields": {"note": "x" * 32_769}},
        {"email": "short@example.com", "dataFields": {"note": "x" * 32_768}},
    ])
    body = response.json()
    assert body["failedUpdates"]["invalidDataEmails"] == ["long@example.com"]
    assert body["successCount"] == 1


def test_null_removes_a_field_from_the_profile(api):
    bulk_update(api, [{"email": "a@example.com", "dataFields": {"city": "Rome", "country": "IT"}}])
    bulk_update(api, [{"email": "a@example.com", "dataFields": {"city": None}}])
    data = get_user(api, "a@example.com")["dataFields"]
    assert "city" not in data
    assert data["country"] == "IT"


def test_merge_nested_objects_on_request(api):
    bulk_update(api, [{"email": "a@example.com", "dataFields": {"prefs": {"sms": True}}}])
    bulk_update(api, [{"email": "a@example.com", "dataFields": {"prefs": {"mail": True}},
                       "mergeNestedObjects": True}])
    assert get_user(api, "a@example.com")["dataFields"]["prefs"] == {"sms": True, "mail": True}
    bulk_update(api, [{"email": "a@example.com", "dataFields": {"prefs": {"push": False}}}])
    assert get_user(api, "a@example.com")["dataFields"]["prefs"] == {"push": False}


# --- users and identifiers -------------------------------------------------------------------


def test_subscribe_stores_users_lower_cased_with_their_fields(api):
    response = subscribe(api, 102, [{"email": "Zoë.Müller@Example.COM", "dataFields": {
        "firstName": "Zoë", "consent": True, "signupDate": "2024-04-01 09:30:00 +02:00"}}])
    body = response.json()
    assert body["successCount"] == 1
    assert body["failCount"] == 0
    assert all(values == [] for values in body["failedUpdates"].values())
    user = get_user(api, "ZOË.MÜLLER@example.com")
    assert user["email"] == "zoë.müller@example.com"
    assert user["dataFields"]["firstName"] == "Zoë"
    assert user["dataFields"]["signupDate"] == "2024-04-01 07:30:00 +00:00"
    assert user["dataFields"]["emailListIds"] == [102]


def test_invalid_emails_land_in_both_buckets(api):
    response = subscribe(api, 101, [
        {"email": "user @example.com"}, {"email": "someone@example.invalid"},
        {"email": "fine@example.com"},
    ])
    body = response.json()
    assert body["failCount"] == 2
    assert body["successCount"] == 1
    assert body["failedUpdates"]["invalidEmails"] == ["user @example.com", "someone@example.invalid"]
    assert body["invalidEmails"] == body["failedUpdates"]["invalidEmails"]


@pytest.mark.parametrize("user_id", ["", "trailing ", "naïve"])
def test_invalid_user_ids(api, user_id):
    body = bulk_update(api, [{"userId": user_id, "preferUserId": True}]).json()
    assert body["failedUpdates"]["invalidUserIds"] == [user_id]
    assert body["invalidUserIds"] == [user_id]


def test_unknown_user_id_is_created_only_with_prefer_user_id(api):
    body = bulk_update(api, [{"userId": "cust-1", "dataFields": {"city": "Oslo"}}]).json()
    assert body["failedUpdates"]["notFoundUserIds"] == ["cust-1"]
    body = bulk_update(
        api, [{"userId": "cust-1", "preferUserId": True, "dataFields": {"city": "Oslo"}}]
    ).json()
    assert body["successCount"] == 1
    body = subscribe(api, 101, [{"userId": "cust-1"}]).json()
    assert body["successCount"] == 1


def test_an_item_with_both_identifiers_is_rejected(api):
    body = subscribe(api, 101, [{"email": "a@example.com", "userId": "u1"}]).json()
    assert body["failedUpdates"]["invalidEmails"] == ["a@example.com"]
    assert body["successCount"] == 0


def test_an_item_with_neither_identifier_rejects_the_request(api):
    body = assert_error(subscribe(api, 101, [{"dataFields": {"city": "Oslo"}}]), 400, "BadParams")
    assert "neither" in body["msg"]


def test_email_null_is_an_invalid_email_address_error(raw, api):
    response = post_raw(raw, api, "/api/lists/subscribe",
                        {"listId": 101, "subscribers": [{"email": None}]})
    assert_error(response, 400, "InvalidEmailAddressError")


def test_update_existing_users_only(api):
    subscribe(api, 101, [{"email": "known@example.com"}])
    body = subscribe(api, 102, [{"email": "known@example.com"}, {"email": "New@example.com"}],
                     updateExistingUsersOnly=True).json()
    assert body["successCount"] == 1
    assert body["failedUpdates"]["notFoundEmails"] == ["new@example.com"]
    assert get_user(api, "new@example.com") is None


def test_user_id_owned_by_another_user_is_a_conflict(api):
    bulk_update(api, [{"email": "owner@example.com", "dataFields": {"userId": "u-1"}}])
    body = bulk_update(api, [{"email": "other@example.com", "dataFields": {"userId": "u-1"}}]).json()
    assert body["failedUpdates"]["conflictEmails"] == ["other@example.com"]


def test_forgotten_users_cannot_come_back(sandbox, api):
    subscribe(api, 101, [{"email": "gone@example.com"}])
    response = api.post("/_sandbox/forget", json={"email": "Gone@example.com"})
    assert response.status_code == 200
    assert response.json()["params"]["existed"] is True
    assert get_user(api, "gone@example.com") is None
    body = subscribe(api, 101, [{"email": "gone@example.com"}]).json()
    assert body["failedUpdates"]["forgottenEmails"] == ["gone@example.com"]
    response = api.post("/api/users/update", json={"email": "gone@example.com"})
    assert_error(response, 409, "ForgottenUserError")


def test_subscribe_twice_keeps_one_membership(api):
    subscribe(api, 101, [{"email": "a@example.com"}])
    subscribe(api, 101, [{"email": "A@example.com"}])
    assert api.get("/api/lists/101/size").text == "1"


def test_get_by_email_of_an_unknown_user_is_an_empty_object(api):
    response = api.get("/api/users/getByEmail", params={"email": "nobody@example.com"})
    assert response.status_code == 200
    assert response.json() == {}


def test_get_by_email_needs_the_parameter(api):
    assert_error(api.get("/api/users/getByEmail"), 400, "BadParams")


def test_users_update_writes_one_profile(api):
    response = api.post("/api/users/update",
                        json={"email": "One@example.com", "dataFields": {"city": "Porto"}})
    assert response.status_code == 200
    assert response.json() == {"msg": "", "code": "Success", "params": None}
    assert get_user(api, "one@example.com")["dataFields"]["city"] == "Porto"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "user @example.com"}, 400, "InvalidEmailAddressError"),
        ({"userId": "bad "}, 400, "InvalidUserIdError"),
        ({"userId": "nobody"}, 400, "UnknownUserIdError"),
        ({"email": "a@example.com", "userId": "u"}, 400, "BadParams"),
        ({"email": "a@example.com", "dataFields": {"signupDate": "soon"}}, 400,
         "RequestFieldsTypesMismatched"),
        ({"email": "a@example.com", "dataFields": {"note": "x" * 40_000}}, 400, "BadParams"),
    ],
)
def test_users_update_errors(api, body, status, code):
    assert_error(api.post("/api/users/update", json=body), status, code)


def test_users_update_with_email_null(raw, api):
    assert_error(post_raw(raw, api, "/api/users/update", {"email": None}), 400,
                 "InvalidEmailAddressError")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]"])
def test_bad_json_bodies(raw, api, content):
    response = raw.post(f"{api.base_url}/api/users/bulkUpdate", content=content,
                        headers={"Api-Key": SANDBOX_API_KEY, "content-type": "application/json"})
    assert_error(response, 400, "BadJsonBody")


# --- auth, key types and regions -------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Api-Key": "not-a-key"}, {"Api-Key": ""}])
def test_unknown_or_missing_key_is_401_bad_api_key(sandbox, contract_transport, headers):
    with httpx.Client(base_url=sandbox.base_url, transport=contract_transport) as raw:
        body = assert_error(raw.get("/api/lists", headers=headers), 401, "BadApiKey")
    assert body["msg"] == "Invalid API key"
    assert body["params"]["endpoint"] == "/api/lists"


def test_key_in_the_query_string_is_accepted(sandbox, contract_transport):
    with httpx.Client(base_url=sandbox.base_url, transport=contract_transport) as raw:
        assert raw.get("/api/lists", params={"api_key": SANDBOX_API_KEY}).status_code == 200


def test_read_only_key_can_read_but_not_write(sandbox, contract_transport):
    sandbox.add_key("read-only-key-1", "read_only")
    with client_for(sandbox, contract_transport, "read-only-key-1") as reader:
        assert reader.get("/api/lists").status_code == 200
        assert reader.get("/api/users/getFields").status_code == 200
        assert reader.get("/api/users/getByEmail", params={"email": "a@example.com"}).status_code == 200
        assert reader.get("/api/lists/101/size").status_code == 200
        body = assert_error(subscribe(reader, 101, [{"email": "a@example.com"}]), 401, "BadApiKey")
        assert body["params"]["endpoint"] == "/api/lists/subscribe"
        assert_error(bulk_update(reader, [{"email": "a@example.com"}]), 401, "BadApiKey")
        assert_error(reader.post("/api/lists", json={"name": "x"}), 401, "BadApiKey")
        assert_error(reader.get("/_sandbox/state"), 401, "BadApiKey")


@pytest.mark.parametrize("key_type", ["mobile", "javascript"])
def test_client_side_keys_may_only_update_users(sandbox, contract_transport, key_type):
    sandbox.add_key("client-side-key", key_type)
    with client_for(sandbox, contract_transport, "client-side-key") as client:
        assert_error(client.get("/api/lists"), 401, "BadApiKey")
        assert_error(subscribe(client, 101, [{"email": "a@example.com"}]), 401, "BadApiKey")
        assert_error(bulk_update(client, [{"email": "a@example.com"}]), 401, "BadApiKey")
        # Past the key check, an invalid email proves users/update is open to this key.
        assert_error(client.post("/api/users/update", json={"email": "user @example.com"}),
                     400, "InvalidEmailAddressError")


def test_a_key_from_the_other_region_looks_like_a_bad_key(sandbox, contract_transport):
    sandbox.add_key("eu-server-key", "server_side", "eu")
    with client_for(sandbox, contract_transport, "eu-server-key") as client:
        assert_error(client.get("/api/lists"), 401, "BadApiKey")
        sandbox.region = "eu"
        assert client.get("/api/lists").status_code == 200
    with client_for(sandbox, contract_transport, SANDBOX_API_KEY) as demo:
        assert demo.get("/api/lists").status_code == 200  # the demo key works in any region


def test_unknown_paths_answer_an_html_page(api):
    response = api.get("/api/campaigns/123")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


# --- body size -------------------------------------------------------------------------------


def test_bodies_over_4_mb_are_rejected_with_413(api):
    users = [{"email": f"user{i}@example.com", "dataFields": {"note": "x" * 4_000}}
             for i in range(1_100)]
    assert len(json.dumps({"users": users})) > 4 * 1024 * 1024
    body = assert_error(bulk_update(api, users), 413, "BatchTooLarge")
    assert body["params"]["maxBytes"] == 4 * 1024 * 1024
    assert get_user(api, "user0@example.com") is None


def test_a_batch_just_under_4_mb_is_accepted(sandbox, api):
    sandbox.set_rate_limits(False)
    users = [{"email": f"user{i}@example.com", "dataFields": {"note": "x" * 3_900}}
             for i in range(1_000)]
    assert len(json.dumps({"users": users})) < 4 * 1024 * 1024
    body = bulk_update(api, users).json()
    assert body["successCount"] == 1_000

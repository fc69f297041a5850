"""The sandbox's value rules and limit bookkeeping, checked directly (no server needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapping.iterable.sandbox.faults import FaultDice, Faults
from mapping.iterable.sandbox.fields import expand_dotted_keys, merge_profile, plan_data_fields
from mapping.iterable.sandbox.limits import RateLimiter, route_name
from mapping.iterable.sandbox.values import (
    DATE_FORMATS,
    MAX_VALUE_CHARS,
    could_be_date,
    format_date,
    is_valid_email,
    is_valid_user_id,
    parse_date,
    value_type,
)


@pytest.mark.parametrize(
    "email",
    [
        "user@example.com",
        "First.Last@Example.COM",
        "o'neil@example.co.uk",
        "user+tag@sub.example.org",
        "x@example.museum",
        "jose@correo.рф",
        '"quoted name"@example.com',
        "user@[192.0.2.1]",
    ],
)
def test_valid_emails(email):
    assert is_valid_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "user @example.com",
        " user@example.com",
        "user@example.com ",
        "user@example",
        "user@example.invalid",
        "user@example.local",
        "user@example.com.",
        "user@@example.com",
        "user..dots@example.com",
        ".user@example.com",
        "user@-example.com",
        "user@exa_mple.com",
        "@example.com",
        "user@",
        "",
        None,
        42,
        "a" * 65 + "@example.com",
    ],
)
def test_invalid_emails(email):
    assert not is_valid_email(email)


@pytest.mark.parametrize(
    ("user_id", "valid"),
    [
        ("customer-42", True),
        ("  leading is fine", True),
        ("", False),
        ("trailing ", False),
        ("tab\tinside", False),
        ("ünicode", False),
        ("x" * 513, False),
        (123, False),
        (None, False),
    ],
)
def test_user_id_rules(user_id, valid):
    assert is_valid_user_id(user_id) is valid


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2006-01-02", "2006-01-02 00:00:00 +00:00"),
        ("2006-01-02 15:04:05", "2006-01-02 15:04:05 +00:00"),
        ("2006-01-02 15:04:05 -07:00", "2006-01-02 22:04:05 +00:00"),
        ("2006-01-02T15:04:05.000-07:00", "2006-01-02 22:04:05 +00:00"),
        ("2006-01-02T15:04:05.000Z", "2006-01-02 15:04:05 +00:00"),
        ("2024-02-29 23:30:00 +01:00", "2024-02-29 22:30:00 +00:00"),
    ],
)
def test_accepted_date_formats(text, stored):
    assert could_be_date(text)
    moment = parse_date(text)
    assert moment is not None
    assert format_date(moment) == stored


@pytest.mark.parametrize(
    "text",
    [
        "2024-11-25T13:37:19.039",  # no offset
        "2024-11-25T13:37:19Z",  # no milliseconds
        "2024-11-25 13:37:19.039Z",
        "2020-04-13 13:37:19.039",
        "2023-02-30",  # no such day
        "25.11.2024",
        "2024-11-25 13:37:19 +0000",  # offset without a colon
        "1700000000000",
    ],
)
def test_other_strings_are_not_dates(text):
    assert parse_date(text) is None
    assert value_type(text).primary == "string"


# Text built from the characters dates are made of, Unicode digits included, so that many
# examples get past the first characters.
_DATE_LIKE_TEXT = st.text(
    alphabet=st.sampled_from("0123456789-:. TZ+٣٩४１²a"), max_size=32,
)


@given(st.one_of(_DATE_LIKE_TEXT, st.text(max_size=32)))
def test_date_prefilter_keeps_every_date(text):
    if not could_be_date(text):
        assert all(pattern.fullmatch(text) is None for pattern in DATE_FORMATS)
        assert parse_date(text) is None


@pytest.mark.parametrize(
    ("value", "primary", "fits"),
    [
        ("text", "string", {"string"}),
        ("2024-01-02", "date", {"date", "string"}),
        (7, "long", {"long", "double"}),
        (7.5, "double", {"double"}),
        (True, "boolean", {"boolean"}),
        ({"a": 1}, "object", {"object"}),
        ([1, 2], "long", {"long", "double"}),
        (["a", "b"], "string", {"string"}),
        ([{"sku": "x"}], "nested", {"nested"}),
    ],
)
def test_value_types(value, primary, fits):
    found = value_type(value)
    assert found.primary == primary
    assert set(found.fits) == fits


def test_null_and_empty_array_carry_no_type():
    assert value_type(None) is None
    assert value_type([]) is None


def test_dotted_keys_become_nested_objects():
    assert expand_dotted_keys({"a.b": 1, "a": {"c": 2}, "d": 3}) == {"a": {"b": 1, "c": 2}, "d": 3}


def test_plan_creates_fields_with_types_of_first_values():
    plan = plan_data_fields(
        {"score": 3, "address": {"city": "Oslo", "zip": "0150"}, "tags": ["a"], "when": "2024-01-02"},
        {"email": "string"}, allow_new=True,
    )
    assert plan.new_fields == {
        "score": "long", "address": "object", "address.city": "string",
        "address.zip": "string", "tags": "string", "when": "date",
    }
    assert plan.data["when"] == "2024-01-02 00:00:00 +00:00"
    assert not plan.mismatches


def test_plan_reports_mismatches_and_filters_unknown_fields():
    known = {"signupDate": "date", "score": "double", "age": "long"}
    plan = plan_data_fields(
        {"signupDate": "soon", "score": 3, "age": 3.5, "brandNew": "x"}, known, allow_new=False
    )
    assert [(m.field, m.expected_type) for m in plan.mismatches] == [
        ("signupDate", "date"), ("age", "long"),
    ]
    assert plan.mismatches[0].incoming_types == ["string", "keyword"]
    assert plan.filtered_out == ["brandNew"]
    assert plan.data == {"score": 3}


def test_plan_flags_values_over_the_length_limit():
    plan = plan_data_fields({"note": "x" * (MAX_VALUE_CHARS + 1)}, {}, allow_new=True)
    assert plan.value_too_long


def test_merge_profile_replaces_deletes_and_merges_nested_on_request():
    current = {"a": {"x": 1}, "b": 1, "c": 2}
    assert merge_profile(current, {"a": {"y": 2}, "b": None}, merge_nested=False) == {
        "a": {"y": 2}, "c": 2,
    }
    assert merge_profile(current, {"a": {"y": 2}}, merge_nested=True)["a"] == {"x": 1, "y": 2}


def test_route_names_group_list_sizes():
    assert route_name("GET", "/api/lists/101/size") == "GET /api/lists/{listId}/size"
    assert route_name("GET", "/api/lists") == "GET /api/lists"


def test_rate_limiter_sliding_window():
    limiter = RateLimiter(True)
    route = "POST /api/users/bulkUpdate"
    assert all(limiter.allow(route, now=100.0 + i * 0.01) for i in range(5))
    assert not limiter.allow(route, now=100.5)
    assert limiter.allow(route, now=101.001)  # the first request left the window


def test_rate_limiter_late_request_arrival_time():
    limiter = RateLimiter(True)
    route = "POST /api/users/bulkUpdate"
    assert all(limiter.allow(route, now=10.0 + i * 0.2) for i in (1, 2, 3, 5))  # 10.2 ... 11.0
    # Arrived at 10.75 and checked after the request of 11.0: every window holds at most 5.
    assert limiter.allow(route, now=10.75)
    assert not limiter.allow(route, now=11.1)  # 10.2, 10.4, 10.6, 10.75, 11.0 came before
    assert limiter.allow(route, now=11.21)  # 10.2 left the window


def test_rate_limiter_late_request_overfills_window():
    limiter = RateLimiter(True)
    route = "POST /api/users/bulkUpdate"
    assert all(limiter.allow(route, now=stamp) for stamp in (10.0, 10.1, 10.2, 10.3, 10.9))
    # Only 4 arrived before 10.5, but (9.9, 10.9] would then hold 6.
    assert not limiter.allow(route, now=10.5)
    assert limiter.allow(route, now=11.05)  # 10.0 left the window


def test_rate_limiter_multiplier_and_off():
    doubled = RateLimiter(2)
    route = "GET /api/users/getFields"
    assert sum(doubled.allow(route, now=5.0) for _ in range(10)) == 6
    off = RateLimiter(False)
    assert all(off.allow(route, now=5.0) for _ in range(50))


def test_subscribe_limit_is_off_until_set():
    limiter = RateLimiter(True)
    route = "POST /api/lists/subscribe"
    assert all(limiter.allow(route, now=1.0) for _ in range(50))
    limiter.set_subscribe_limit(0.5)  # one request per two seconds
    assert limiter.allow(route, now=2.0)
    assert not limiter.allow(route, now=3.0)
    assert limiter.allow(route, now=4.01)


def test_rate_limiter_rejects_a_non_positive_multiplier():
    with pytest.raises(ValueError, match="multiplier"):
        RateLimiter(0.0)


def test_fault_dice_repeat_with_the_same_seed():
    faults = Faults(error_429_rate=0.3, error_5xx_rate=0.3, drop_rate=0.1, seed=7)
    first, second = FaultDice(faults), FaultDice(faults)
    assert [first.roll() for _ in range(50)] == [second.roll() for _ in range(50)]


@pytest.mark.parametrize(
    "settings",
    [{"error_429_rate": 1.5}, {"drop_rate": -0.1}, {"latency_ms": -1},
     {"subscribe_rate_limit": 0}],
)
def test_faults_reject_impossible_settings(settings):
    with pytest.raises(ValueError):
        Faults(**settings)


def test_faults_from_dict_names_unknown_keys():
    with pytest.raises(ValueError, match="latency"):
        Faults.from_dict({"latency": 5})
    assert Faults.from_dict({"latency_ms": 5}).latency_ms == 5

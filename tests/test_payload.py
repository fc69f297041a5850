"""mapping.payload: request bodies and batches bounded by user count and body bytes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mapping import payload, transform
from mapping.config import MappingConfig
from mapping.payload import Batch, ItemTooLargeError, batches, bulk_update_body, subscribe_body
from tests.contract import validate_request


def compact(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def make_items(count: int, *, text: str = "x") -> list[dict]:
    return [{"email": f"user{i}@example.com", "dataFields": {"firstName": f"{text}{i}"}}
            for i in range(count)]


def mapping_config(list_id=101, create_new_fields=None) -> MappingConfig:
    return MappingConfig.from_dict({
        "version": 1, "list_id": list_id, "options": {"create_new_fields": create_new_fields},
        "fields": [{"source": "Email", "target": "email"},
                   {"source": "Name", "target": "firstName"}],
    })


def test_bodies_match_the_contract():
    items = make_items(3)
    validate_request("SubscribeRequest", subscribe_body(101, items))
    validate_request("BulkUpdateUsersRequest", bulk_update_body(items))
    validate_request("BulkUpdateUsersRequest", bulk_update_body(items, create_new_fields=False))
    assert "createNewFields" not in bulk_update_body(items)


@pytest.mark.parametrize("list_id", [101, None])
@pytest.mark.parametrize("create_new_fields", [None, True])
def test_batch_bodies_are_exactly_the_compact_bodies(list_id, create_new_fields):
    items = make_items(5, text="Zoë ")
    out = list(batches(items, [10, 11, 12, 13, 14], list_id=list_id,
                       create_new_fields=create_new_fields, max_users=2))
    assert [b.rows for b in out] == [[10, 11], [12, 13], [14]]
    for batch, chunk in zip(out, [items[0:2], items[2:4], items[4:]]):
        if list_id is None:
            expected = bulk_update_body(chunk, create_new_fields)
            assert batch.endpoint == "users/bulkUpdate"
            validate_request("BulkUpdateUsersRequest", json.loads(batch.body))
        else:
            expected = subscribe_body(list_id, chunk)
            assert batch.endpoint == "lists/subscribe"
            validate_request("SubscribeRequest", json.loads(batch.body))
        assert batch.body == compact(expected)
        assert batch.identifiers == [item["email"] for item in chunk]


def test_none_items_are_skipped():
    items = make_items(3)
    items[1] = None
    out = list(batches(items, [1, 2, 3], list_id=7))
    assert out[0].rows == [1, 3]
    assert len(out[0]) == 2


@pytest.mark.parametrize("max_bytes", [300, 1_000, 4_321])
def test_byte_bound_holds_and_nothing_is_lost(max_bytes):
    items = make_items(200, text="Ünïcødé ")
    out = list(batches(items, list(range(1, 201)), list_id=101, max_bytes=max_bytes,
                       max_users=1000))
    assert all(len(batch.body) <= max_bytes for batch in out)
    assert [row for batch in out for row in batch.rows] == list(range(1, 201))
    for batch in out[:-1]:
        next_item = items[batch.rows[-1]]  # the first item of the next batch
        assert len(batch.body) + 1 + len(compact(next_item)) > max_bytes
    subscribers = [s for batch in out for s in json.loads(batch.body)["subscribers"]]
    assert subscribers == items


def test_count_bound_holds():
    out = list(batches(make_items(2_500), list(range(2_500)), max_users=1000))
    assert [len(batch) for batch in out] == [1000, 1000, 500]


def test_oversized_item_raises():
    items = make_items(2)
    items[1]["dataFields"]["bio"] = "x" * 500
    out = batches(items, [1, 2], list_id=101, max_bytes=300)
    assert next(out).rows == [1]
    with pytest.raises(ItemTooLargeError, match="row 2") as caught:
        next(out)
    assert caught.value.row == 2
    assert caught.value.max_bytes == 300


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="max_users"):
        list(batches(make_items(1), [1], max_users=0))


def test_batches_for_uses_item_text():
    df = pd.DataFrame({"Email": ["a@example.com", "bad", "c@example.com", "d@example.com"],
                       "Name": ['Ana "A"', "B", None, "Dé"]}, dtype="str")
    config = mapping_config()
    result = transform.apply(df, config)
    out = list(payload.batches_for(result, config, max_users=2))
    assert [b.rows for b in out] == [[1, 3], [4]]
    assert out[0].identifiers == ["a@example.com", "c@example.com"]
    body = json.loads(out[0].body)
    validate_request("SubscribeRequest", body)
    assert body == subscribe_body(101, [result.items[0], result.items[2]])
    assert out[0].body == compact(body)
    assert isinstance(out[0], Batch)


def test_batches_for_without_list_goes_to_bulk_update():
    df = pd.DataFrame({"Email": ["a@example.com"], "Name": ["Ana"]}, dtype="str")
    config = mapping_config(list_id=None, create_new_fields=False)
    [batch] = payload.batches_for(transform.apply(df, config), config)
    assert batch.endpoint == "users/bulkUpdate"
    body = json.loads(batch.body)
    validate_request("BulkUpdateUsersRequest", body)
    assert body["createNewFields"] is False

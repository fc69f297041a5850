"""Request bodies for lists/subscribe and users/bulkUpdate, cut into bounded batches.

A batch is bounded both by the number of users (``max_users``) and by the size of its
serialised body (``max_bytes``; Iterable refuses bulkUpdate bodies over 4 MB, and
lists/subscribe is treated the same). Bodies are compact JSON in UTF-8 with non-ASCII
characters kept as they are, the same bytes ``json.dumps(body, separators=(",", ":"),
ensure_ascii=False).encode()`` would give. Items from ``transform.apply`` carry their JSON text
already, so batching only joins text.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

SUBSCRIBE_ENDPOINT = "lists/subscribe"
BULK_UPDATE_ENDPOINT = "users/bulkUpdate"
DEFAULT_MAX_USERS = 1000
DEFAULT_MAX_BYTES = 3_500_000


class ItemTooLargeError(ValueError):
    """One user object is larger than a whole batch may be."""

    def __init__(self, row: int, size: int, max_bytes: int):
        self.row, self.size, self.max_bytes = row, size, max_bytes
        super().__init__(
            f"row {row}: a request with only this user is {size} bytes, more than the "
            f"{max_bytes} bytes allowed; shorten its values or leave long columns unmapped"
        )


@dataclass
class Batch:
    """One request: where it goes, which rows it carries, and the exact body bytes."""

    endpoint: str
    rows: list[int]
    identifiers: list[str]
    body: bytes

    def __len__(self) -> int:
        return len(self.rows)


def dumps(value: Any) -> str:
    """Compact JSON text as sent to Iterable."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def subscribe_body(list_id: int, items: Sequence[dict]) -> dict:
    """Body of POST /api/lists/subscribe."""
    return {"listId": list_id, "subscribers": list(items)}


def bulk_update_body(items: Sequence[dict], create_new_fields: bool | None = None) -> dict:
    """Body of POST /api/users/bulkUpdate (createNewFields only when set)."""
    body: dict[str, Any] = {"users": list(items)}
    if create_new_fields is not None:
        body["createNewFields"] = create_new_fields
    return body


def _envelope(list_id: int | None, create_new_fields: bool | None) -> tuple[str, bytes, bytes]:
    """Endpoint plus the body bytes before and after the joined user objects."""
    if list_id is not None:
        head = '{"listId":' + str(int(list_id)) + ',"subscribers":['
        return SUBSCRIBE_ENDPOINT, head.encode(), b"]}"
    tail = "]}" if create_new_fields is None else "],\"createNewFields\":" + dumps(
        bool(create_new_fields)) + "}"
    return BULK_UPDATE_ENDPOINT, b'{"users":[', tail.encode()


class _PreparedItems:
    """The items that are sent (None entries dropped), with their rows and byte sizes."""

    def __init__(self, rows: np.ndarray, sizes: np.ndarray):
        self.rows = rows
        self.sizes = sizes

    def joined(self, start: int, stop: int) -> bytes:
        """Join the JSON texts of items [start, stop) by commas, as UTF-8 bytes."""
        raise NotImplementedError

    def identifiers(self, start: int, stop: int) -> list[str]:
        raise NotImplementedError


class _ArrowItems(_PreparedItems):
    """Items from transform.apply: their JSON text is already in an Arrow array."""

    def __init__(self, items, row_numbers: Sequence[int]):
        sent = items.text_array.is_valid()
        self.texts = pc.filter(items.text_array, sent)
        self.ids = pc.filter(items.identifier_array, sent)
        positions = np.flatnonzero(sent.to_numpy(zero_copy_only=False))
        sizes = pc.binary_length(self.texts).to_numpy(zero_copy_only=False)
        super().__init__(np.asarray(row_numbers)[positions], sizes.astype(np.int64))

    def joined(self, start: int, stop: int) -> bytes:
        part = self.texts.slice(start, stop - start)
        offsets = pa.array([0, len(part)], type=pa.int32())
        joined = pc.binary_join(pa.ListArray.from_arrays(offsets, part), ",")
        return joined[0].as_buffer().to_pybytes()

    def identifiers(self, start: int, stop: int) -> list[str]:
        return self.ids.slice(start, stop - start).to_pylist()


class _DictItems(_PreparedItems):
    """Plain user objects (dicts): serialised here."""

    def __init__(self, items: Sequence, row_numbers: Sequence[int]):
        rows, self.ids, self.texts = [], [], []
        for row, item in zip(row_numbers, items):
            if item is None:
                continue
            rows.append(row)
            self.ids.append(item.get("email") or item.get("userId"))
            self.texts.append(dumps(item).encode("utf-8"))
        sizes = np.fromiter((len(text) for text in self.texts), dtype=np.int64,
                            count=len(self.texts))
        super().__init__(np.asarray(rows, dtype=np.int64), sizes)

    def joined(self, start: int, stop: int) -> bytes:
        return b",".join(self.texts[start:stop])

    def identifiers(self, start: int, stop: int) -> list[str]:
        return self.ids[start:stop]


def _prepare(items: Sequence, row_numbers: Sequence[int]) -> _PreparedItems:
    if hasattr(items, "text_array"):
        return _ArrowItems(items, row_numbers)
    return _DictItems(items, row_numbers)


def batches(items: Sequence, row_numbers: Sequence[int], *, list_id: int | None = None,
            create_new_fields: bool | None = None, max_users: int = DEFAULT_MAX_USERS,
            max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Batch]:
    """Cut the items (None entries skipped) into batches bounded by count and body size.

    With a ``list_id`` the batches go to lists/subscribe (the users are upserted with their
    dataFields and subscribed); without one to users/bulkUpdate. Raises ItemTooLargeError
    when a single item cannot fit in ``max_bytes``.
    """
    if max_users < 1:
        raise ValueError(f"max_users must be at least 1, got {max_users}")
    endpoint, head, tail = _envelope(list_id, create_new_fields)
    prepared = _prepare(items, row_numbers)
    sizes = prepared.sizes
    budget = max_bytes - len(head) - len(tail)
    start = 0
    while start < len(sizes):
        stop = _batch_end(sizes, start, max_users, budget)
        if stop == start:
            raise ItemTooLargeError(int(prepared.rows[start]),
                                    int(sizes[start]) + len(head) + len(tail), max_bytes)
        body = head + prepared.joined(start, stop) + tail
        logger.debug("batch of %d users, %d bytes, to %s", stop - start, len(body), endpoint)
        yield Batch(endpoint, prepared.rows[start:stop].tolist(),
                    prepared.identifiers(start, stop), body)
        start = stop


def _batch_end(sizes: np.ndarray, start: int, max_users: int, budget: int) -> int:
    """Index after the last item that fits (each item after the first costs one comma)."""
    window = sizes[start:start + max_users] + 1
    used = np.cumsum(window) - 1
    return start + int(np.searchsorted(used, budget, side="right"))


def batches_for(result, config, *, max_users: int = DEFAULT_MAX_USERS,
                max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Batch]:
    """Batches of a TransformResult under a mapping's list and options (``mapping.batches``)."""
    return batches(
        result.items, result.row_numbers, list_id=config.list_id,
        create_new_fields=config.options.create_new_fields,
        max_users=max_users, max_bytes=max_bytes,
    )

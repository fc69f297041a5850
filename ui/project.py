"""The connected project's lists, user fields and list sizes, fetched once per session.

Pages read these through the functions here, so a rerun after a widget edit makes no API call.
"""

from __future__ import annotations

import logging
from typing import Any

from ui import state
from ui.connection import open_client

logger = logging.getLogger(__name__)


def connection() -> state.Connection | None:
    """Return the session's connection, or None before Connect."""
    return state.get(state.CONNECTION)


def project_fields(refresh: bool = False) -> dict[str, str]:
    """Return the project's user fields (name -> type); {} when not connected."""
    current = connection()
    if current is None:
        return {}
    fields = state.get(state.PROJECT_FIELDS)
    if fields is None or refresh:
        with open_client(current) as client:
            fields = dict(client.get_fields())
        state.put(state.PROJECT_FIELDS, fields)
    return fields


def project_lists(refresh: bool = False) -> list[Any]:
    """Return the project's lists (IterableList records); [] when not connected."""
    current = connection()
    if current is None:
        return []
    lists = state.get(state.PROJECT_LISTS)
    if lists is None or refresh:
        with open_client(current) as client:
            lists = list(client.get_lists())
        state.put(state.PROJECT_LISTS, lists)
    return lists


def standard_lists() -> list[Any]:
    """Return the lists that take subscribers (Standard lists)."""
    return [item for item in project_lists() if item.is_standard]


def known_list_sizes() -> dict[int, int]:
    """Return the list sizes fetched so far in this session (list id -> users)."""
    return state.get(state.LIST_SIZES) or {}


def fetch_list_sizes(list_ids: list[int]) -> dict[int, int]:
    """Fetch the sizes of the given lists; Iterable allows only 5 such calls per minute."""
    current = connection()
    sizes = dict(known_list_sizes())
    if current is None:
        return sizes
    with open_client(current) as client:
        for list_id in list_ids:
            sizes[list_id] = client.list_size(list_id)
    state.put(state.LIST_SIZES, sizes)
    return sizes


def create_list(name: str, description: str | None = None) -> int:
    """Create a Standard list in the project and return its id; refreshes the cached lists."""
    current = connection()
    if current is None:
        raise ValueError("Connect a project first, then create the list.")
    with open_client(current) as client:
        list_id = client.create_list(name, description)
    state.drop(state.PROJECT_LISTS)
    logger.info("created list %s in the connected project", list_id)
    return list_id


def forget_project_data() -> None:
    """Drop the cached lists, fields and sizes (after connecting to another project)."""
    state.drop(state.PROJECT_FIELDS, state.PROJECT_LISTS, state.LIST_SIZES)

"""Helpers for the sync tests: input files, mappings, sandbox inspection."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import httpx

from mapping.config import MappingConfig


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> Path:
    """Write rows (missing values empty) as a UTF-8 CSV file."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({name: "" if row.get(name) is None else row[name] for name in columns})
    return path


def people(count: int, *, start: int = 0, domain: str = "example.com") -> list[dict[str, Any]]:
    """`count` rows with unique emails, a first name and a points number."""
    return [
        {"Email": f"person{i}@{domain}", "First name": f"Name {i}", "Points": str(i)}
        for i in range(start, start + count)
    ]


PEOPLE_COLUMNS = ["Email", "First name", "Points"]


def mapping(list_id: int | None = 101, *, points_type: str | None = "long") -> MappingConfig:
    """Email, first name and points (a long) to the list, or to bulkUpdate without a list."""
    fields: list[dict[str, Any]] = [
        {"source": "Email", "target": "email"},
        {"source": "First name", "target": "firstName"},
        {"source": "Points", "target": "points"},
    ]
    if points_type:
        fields[2]["type"] = points_type
    return MappingConfig.from_dict(
        {"version": 1, "widget": "test", "list_id": list_id, "identifier": "email",
         "fields": fields, "static_fields": [], "options": {}}
    )


def admin_get(sandbox: Any, path: str, **params: Any) -> Any:
    """GET one of the sandbox's own /_sandbox/ endpoints."""
    response = httpx.get(
        sandbox.base_url + path, params=params, headers={"Api-Key": sandbox.api_key}, timeout=30
    )
    response.raise_for_status()
    return response.json()


def admin_post(sandbox: Any, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(
        sandbox.base_url + path, json=body, headers={"Api-Key": sandbox.api_key}, timeout=30
    )
    response.raise_for_status()
    return response.json()


def received(sandbox: Any, endpoint: str) -> dict[str, int]:
    """Identifier -> number of accepted requests that carried it, for one endpoint."""
    route = f"POST /api/{endpoint}"
    return admin_get(sandbox, "/_sandbox/requests")["received"].get(route, {})


def sandbox_user(sandbox: Any, email: str) -> dict[str, Any] | None:
    response = httpx.get(
        sandbox.base_url + "/_sandbox/user", params={"email": email},
        headers={"Api-Key": sandbox.api_key}, timeout=30,
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()["user"]

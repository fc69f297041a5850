"""Checking a user's `dataFields` against the project's user fields, as Iterable does.

A field gets its type from the first value the project receives and keeps it forever. Nested
objects become dotted field names (`address.city`), arrays take their elements' type and arrays
of objects are `nested`. `plan_data_fields` walks one user's data and reports what would be
stored, which new fields it creates, which unknown fields were dropped and which values do not
fit the type their field already has. It touches no storage; the store applies the plan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mapping.iterable.sandbox.values import format_date, parse_date, too_long, value_type

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TypeMismatch:
    """A value whose type does not fit the type its field already has."""

    field: str
    expected_type: str
    incoming_types: list[str]
    value: Any


@dataclass
class FieldPlan:
    """The effect one user's dataFields would have on the profile and the project's fields."""

    data: dict[str, Any] = field(default_factory=dict)
    new_fields: dict[str, str] = field(default_factory=dict)
    filtered_out: list[str] = field(default_factory=list)
    mismatches: list[TypeMismatch] = field(default_factory=list)
    value_too_long: bool = False


def is_flat(data: dict[str, Any]) -> bool:
    """Return whether no key has a dot and no value is an object, so expanding changes nothing."""
    for key, value in data.items():
        if "." in key or isinstance(value, dict):
            return False
    return True


def expand_dotted_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Turn `{"a.b": 1}` into `{"a": {"b": 1}}`: in Iterable a dot in a field name is nesting."""
    if is_flat(data):
        return dict(data)
    expanded: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = expand_dotted_keys(value)
        parts = key.split(".") if "." in key.strip(".") else [key]
        target = expanded
        for part in parts[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        last = parts[-1]
        if isinstance(value, dict) and isinstance(target.get(last), dict):
            target[last].update(value)
        else:
            target[last] = value
    return expanded


class _Planner:
    """Walks one user's data once, filling a FieldPlan."""

    def __init__(self, known: dict[str, str], allow_new: bool) -> None:
        self.known = known
        self.allow_new = allow_new
        self.plan = FieldPlan()

    def field_type(self, name: str) -> str | None:
        return self.known.get(name) or self.plan.new_fields.get(name)

    def visit_object(self, data: dict[str, Any], prefix: str) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else key
            accepted, stored = self.visit(name, value)
            if accepted:
                kept[key] = stored
        return kept

    def visit(self, name: str, value: Any) -> tuple[bool, Any]:
        """Check one field; return whether it is kept and the value to store."""
        incoming = value_type(value)
        if incoming is None:
            return True, value  # null clears the field; an empty array carries no type
        expected = self.field_type(name)
        if expected is None:
            if not self.allow_new:
                self.plan.filtered_out.append(name)
                return False, None
            self.plan.new_fields[name] = incoming.primary
            expected = incoming.primary
        elif expected not in incoming.fits:
            self.plan.mismatches.append(
                TypeMismatch(name, expected, incoming.incoming_types(), value)
            )
            return False, None
        return True, self.stored_value(name, value, expected)

    def stored_value(self, name: str, value: Any, field_type: str) -> Any:
        if isinstance(value, dict):
            return self.visit_object(value, name)
        if isinstance(value, list):
            return [self.stored_element(name, item, field_type) for item in value]
        if field_type == "date" and isinstance(value, str):
            return format_date(parse_date(value))  # type: ignore[arg-type]
        return value

    def stored_element(self, name: str, item: Any, field_type: str) -> Any:
        if isinstance(item, dict):
            return self.visit_object(item, name)
        if field_type == "date" and isinstance(item, str) and parse_date(item) is not None:
            return format_date(parse_date(item))  # type: ignore[arg-type]
        return item


def plan_data_fields(
    data: dict[str, Any], known: dict[str, str], *, allow_new: bool
) -> FieldPlan:
    """Check `data` (one user's dataFields, identity keys removed) against `known` fields.

    `allow_new` is False when the request sets `createNewFields: false` or the project drops
    unknown fields; the unknown names then land in `filtered_out` instead of `new_fields`.
    """
    planner = _Planner(known, allow_new)
    expanded = expand_dotted_keys(data)
    planner.plan.value_too_long = too_long(expanded)
    planner.plan.data = planner.visit_object(expanded, "")
    return planner.plan


def merge_profile(
    current: dict[str, Any], incoming: dict[str, Any], *, merge_nested: bool
) -> dict[str, Any]:
    """Merge accepted data into a stored profile: top-level keys replace, nulls delete.

    With `merge_nested` (Iterable's `mergeNestedObjects`) top-level objects are merged one
    level deep instead of replaced.
    """
    merged = dict(current)
    for key, value in incoming.items():
        if value is None:
            merged.pop(key, None)
        elif merge_nested and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged

"""The Mapping page's field table: from a MappingConfig to editor rows and back.

No streamlit import. The table has one row per file column. In each row the analyst picks an
existing Iterable field or types a new field name, and may set a type and converter options.
``fields_from_table`` turns the edited rows back into ``FieldMapping`` objects and describes
every row it cannot use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from mapping.config import (
    FieldMapping,
    MappingConfig,
    MappingFileError,
    StaticField,
    suggest_fields,
)

FIELD_TYPES = ["string", "long", "double", "boolean", "date"]
CONVERTERS = ["string", "email", "phone", "boolean", "date", "long", "double", "country"]
DATE_ORDERS = ["DMY", "MDY", "YMD"]

COLUMN = "Column"
KIND = "Kind"
EXAMPLE = "Example"
FIELD = "Iterable field"
NEW_FIELD = "New field name"
TYPE = "Type"
CONVERTER = "Converter"
PHONE_REGION = "Phone region"
DATE_ORDER = "Date order"
EMPTY_IS_FALSE = "Empty is false"
TRIM = "Trim"
TABLE_COLUMNS = [COLUMN, KIND, EXAMPLE, FIELD, NEW_FIELD, TYPE, CONVERTER, PHONE_REGION,
                 DATE_ORDER, EMPTY_IS_FALSE, TRIM]
MISSING_KIND = "not in file"


@dataclass(frozen=True)
class FileColumn:
    """A column of the loaded file as the table shows it."""

    name: str
    kind: str          # widget, system or geolocation
    example: str = ""


def build_table(columns: Sequence[FileColumn], config: MappingConfig,
                project_fields: dict[str, str], *, show_all: bool) -> pd.DataFrame:
    """Return the editor rows: mapped columns, widget and geolocation columns, and with
    ``show_all`` every other column; mapped sources missing from the file come last."""
    mapped = {field.source: field for field in config.fields}
    rows = [
        _row(column.name, column.kind, column.example, mapped.get(column.name), project_fields)
        for column in columns
        if show_all or column.name in mapped or column.kind != "system"
    ]
    file_names = {column.name for column in columns}
    rows += [
        _row(field.source, MISSING_KIND, "", field, project_fields)
        for field in config.fields
        if field.source not in file_names
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).astype(
        {name: object for name in TABLE_COLUMNS if name not in (EMPTY_IS_FALSE, TRIM)}
    )


def hidden_column_count(columns: Sequence[FileColumn], config: MappingConfig) -> int:
    """Return how many columns "Show more fields" would reveal."""
    mapped = {field.source for field in config.fields}
    return sum(1 for column in columns if column.kind == "system" and column.name not in mapped)


def fields_from_table(table: pd.DataFrame) -> tuple[list[FieldMapping], list[str]]:
    """Return the mapped fields of the edited table and a message per row that is not usable.

    A row with neither an Iterable field nor a new field name is unmapped. A new field name
    wins over the dropdown. The first row mapped to a field keeps it; later rows get a message.
    """
    fields: list[FieldMapping] = []
    problems: list[str] = []
    used: dict[str, str] = {}
    for record in table.to_dict("records"):
        source = str(record[COLUMN])
        target = _text(record.get(NEW_FIELD)) or _text(record.get(FIELD))
        if not target:
            continue
        if target in used:
            problems.append(
                f"Column {source!r}: the field {target!r} is already filled from column "
                f"{used[target]!r}; choose another field or clear one of them."
            )
            continue
        try:
            field = _field_from_record(source, target, record)
        except (ValidationError, MappingFileError) as exc:
            problems.append(f"Column {source!r}: {_validation_text(exc)}")
            continue
        used[target] = source
        fields.append(field)
    return fields, problems


def static_value_from_text(text: str, field_type: str) -> str | int | float | bool:
    """Convert the text typed for a static field into a value of its type; raise ValueError."""
    text = text.strip()
    if not text:
        raise ValueError("Enter a value for the static field.")
    if field_type == "long":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number; type long needs one.") from None
    if field_type == "double":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number; type double needs one.") from None
        if not math.isfinite(number):
            raise ValueError("Enter a finite number for a static field of type double.")
        return number
    if field_type == "boolean":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"{text!r} is not true or false; type boolean needs one of them.")
        return lowered == "true"
    return text


def add_static_field(config: MappingConfig, target: str, text: str, field_type: str
                     ) -> MappingConfig:
    """Return a copy of the mapping with one more static field; raise ValueError if unusable."""
    target = target.strip()
    if not target:
        raise ValueError("Enter the Iterable field name of the static field.")
    if target in config.targets:
        raise ValueError(f"The field {target!r} is already filled; choose another field name.")
    try:
        static = StaticField(target=target, value=static_value_from_text(text, field_type),
                             type=field_type)
    except ValidationError as exc:
        raise ValueError(_validation_text(exc)) from None
    return config.model_copy(update={"static_fields": [*config.static_fields, static]})


def remove_static_field(config: MappingConfig, index: int) -> MappingConfig:
    """Return a copy of the mapping without the static field at ``index``."""
    remaining = [s for i, s in enumerate(config.static_fields) if i != index]
    return config.model_copy(update={"static_fields": remaining})


def with_fields(config: MappingConfig, fields: Iterable[FieldMapping]) -> MappingConfig:
    """Return a copy of the mapping with these mapped fields (static fields kept)."""
    fields = list(fields)
    static_targets = {s.target for s in config.static_fields}
    clashing = [f.target for f in fields if f.target in static_targets]
    if clashing:
        raise ValueError(
            f"The field {clashing[0]!r} is both mapped from a column and set as a static field; "
            "remove one of them."
        )
    return MappingConfig.model_validate({**config.model_dump(), "fields": [
        f.model_dump() for f in fields]})


def merge_suggestions(config: MappingConfig, suggestions: Iterable[FieldMapping]) -> MappingConfig:
    """Return the mapping plus the suggestions for columns and fields not yet used."""
    sources = {f.source for f in config.fields}
    targets = set(config.targets)
    added = [s for s in suggestions if s.source not in sources and s.target not in targets]
    if not added:
        return config
    return with_fields(config, [*config.fields, *added])


def adapt_to_file(config: MappingConfig, columns: Sequence[Any], project_fields: dict[str, str],
                  *, widget: str | None = None, frame: Any = None
                  ) -> tuple[MappingConfig, list[FieldMapping]]:
    """Return the mapping fitted to a newly loaded file's columns, and the rows it dropped.

    Rows whose source column is in the file stay as they are. Rows for columns the file does not
    have are dropped, and suggestions by name fill the columns that are then unmapped. The list,
    identifier, static fields and options stay. ``widget`` replaces the widget name when given.
    """
    names = {str(getattr(column, "name", column)) for column in columns}
    kept = [field for field in config.fields if field.source in names]
    dropped = [field for field in config.fields if field.source not in names]
    update: dict[str, Any] = {"fields": kept}
    if widget is not None:
        update["widget"] = widget
    base = config.model_copy(update=update)
    suggestions = suggest_fields(columns, project_fields, frame)
    return merge_suggestions(base, suggestions), dropped


def _row(name: str, kind: str, example: str, field: FieldMapping | None,
         project_fields: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {COLUMN: name, KIND: kind, EXAMPLE: example, FIELD: None,
                           NEW_FIELD: None, TYPE: None, CONVERTER: None, PHONE_REGION: None,
                           DATE_ORDER: None, EMPTY_IS_FALSE: False, TRIM: False}
    if field is None:
        return row
    if field.target in project_fields:
        row[FIELD] = field.target
    else:
        row[NEW_FIELD] = field.target
    row.update({TYPE: field.type, CONVERTER: field.converter, PHONE_REGION: field.phone_region,
                DATE_ORDER: field.date_order, EMPTY_IS_FALSE: field.empty_is_false,
                TRIM: field.trim})
    return row


def _field_from_record(source: str, target: str, record: dict[str, Any]) -> FieldMapping:
    region = _text(record.get(PHONE_REGION))
    return FieldMapping(
        source=source,
        target=target,
        type=_text(record.get(TYPE)) or None,
        converter=_text(record.get(CONVERTER)) or None,
        phone_region=region.upper() if region else None,
        date_order=_text(record.get(DATE_ORDER)) or None,
        empty_is_false=_flag(record.get(EMPTY_IS_FALSE)),
        trim=_flag(record.get(TRIM)),
    )


def _flag(value: Any) -> bool:
    # Checkbox cells are True, False, or missing (NA) in rows the editor added.
    return isinstance(value, (bool, np.bool_)) and bool(value)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _validation_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{error['loc'][-1] if error['loc'] else 'value'}: "
            f"{str(error.get('ctx', {}).get('error', error['msg']))}"
            for error in exc.errors(include_url=False)
        )
    return str(exc)

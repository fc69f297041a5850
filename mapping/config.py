"""Mapping file format, version 1: which column goes to which Iterable user field.

A mapping file is JSON (the app saves exactly what ``MappingConfig.to_json`` returns)::

    {"version": 1, "widget": "Spring sale pop-up", "list_id": 101, "identifier": "email",
     "fields": [{"source": "Email", "target": "email"},
                {"source": "Subscribed at", "target": "signupDate", "type": "date"}],
     "static_fields": [{"target": "signupSource", "value": "claspo", "type": "string"}],
     "options": {}}

Every problem in a file raises ``MappingFileError`` with a message that starts with the
path of the offending key (``fields[2].target: must not be empty``) and names the fix.

Field names follow Iterable's rules for user fields: case- and space-sensitive, a dot means
nesting (allowed here; the transform warns about it), and the Data Schema Management rules
(not only digits, no leading underscore, no comma or ``#``). Control characters and
surrounding whitespace are refused as well, because they are never intended.

``suggest_fields`` proposes a first mapping from column headers for the Mapping page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import operator
import os
import re
import unicodedata
import zoneinfo
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

logger = logging.getLogger(__name__)

SUPPORTED_VERSION = 1
MAX_TARGET_LENGTH = 255
MAX_FILE_BYTES = 5_000_000
IDENTIFIER_FIELDS = ("email", "userId")
PLACEHOLDERS = ("{{today}}", "{{now}}", "{{widget}}", "{{source_file}}")

FieldType = Literal["string", "long", "double", "boolean", "date"]
Converter = Literal["string", "email", "phone", "boolean", "date", "long", "double", "country"]

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{2}:\d{2}$")
_FORBIDDEN_TARGET_CHARS = {",": "a comma", "#": "a hash sign (#)"}


class MappingFileError(ValueError):
    """A mapping file (or mapping data) is not valid; the message names the key and the fix."""


# --------------------------------------------------------------------------- validators


def check_target_name(name: Any) -> str:
    """Return ``name`` when it is a usable Iterable user field name, else raise ValueError."""
    if not isinstance(name, str):
        raise ValueError(f"must be a field name in quotes, got {name!r}")
    if name == "":
        raise ValueError("must not be empty. Enter the Iterable field name")
    if name != name.strip():
        raise ValueError(
            f"{name!r} has spaces at the start or end. Iterable field names are "
            "space-sensitive, so remove them"
        )
    if len(name) > MAX_TARGET_LENGTH:
        raise ValueError(
            f"is {len(name)} characters long. Use at most {MAX_TARGET_LENGTH} characters"
        )
    _check_target_characters(name)
    return name


def _check_target_characters(name: str) -> None:
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise ValueError(
                f"{name!r} contains the control character U+{ord(char):04X}. Remove it"
            )
    for char, label in _FORBIDDEN_TARGET_CHARS.items():
        if char in name:
            raise ValueError(f"{name!r} contains {label}, which Iterable rejects in field names")
    if name.isdigit():
        raise ValueError(f"{name!r} is only digits; Iterable field names need a letter")
    if name.startswith("_"):
        raise ValueError(f"{name!r} starts with an underscore, which Iterable rejects")
    if any(part.strip() == "" for part in name.split(".")):
        raise ValueError(
            f"{name!r} has an empty part around a dot. A dot separates nested field names "
            "(for example address.city)"
        )


def _check_list_id(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, str) or isinstance(value, float):
        if isinstance(value, float) and value.is_integer() and value > 0:
            return int(value)
        raise ValueError(
            f"must be a list id number (for example 101) or null, got {value!r}"
        )
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"must be a list id number or null, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"must be a positive list id, got {number}")
    if number >= 2**63:
        raise ValueError(f"{number} is too large. Iterable list ids are 64-bit numbers")
    return number


def _check_version(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be the number {SUPPORTED_VERSION}, got {value!r}")
    if value > SUPPORTED_VERSION:
        raise ValueError(
            f"{value} is newer than this workbench supports (version {SUPPORTED_VERSION}); "
            "upgrade the workbench to read this file"
        )
    if value < SUPPORTED_VERSION:
        raise ValueError(f"must be {SUPPORTED_VERSION}, got {value}")
    return value


def _check_region(value: str | None) -> str | None:
    if value is None:
        return None
    import phonenumbers

    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{value!r} is not a phone region. Use a two-letter country code such as DE or US"
        )
    return region


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone. Use an IANA name such as Europe/Berlin or UTC"
        ) from None
    return value


def check_static_value(value: Any, field_type: str) -> None:
    """Raise ValueError when a static value cannot be sent as ``field_type``."""
    if field_type == "boolean":
        if not isinstance(value, bool):
            raise ValueError(
                f"{value!r} is not true or false for type boolean. "
                "Write true or false without quotes"
            )
    elif field_type == "long":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(
                f"{value!r} is not a whole number for type long. Write it without quotes"
            )
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{value} does not fit a 64-bit long")
    elif field_type == "double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{value!r} is not a number for type double. Write it without quotes")
    elif field_type == "date":
        _check_static_date(value)
    elif not isinstance(value, str):
        raise ValueError(
            f"{value!r} is not text for type string. Put it in quotes or set the type to match"
        )


def _check_static_date(value: Any) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date. Write it as \"YYYY-MM-DD\" or {{{{today}}}}")
    if value in ("{{today}}", "{{now}}"):
        return
    if _DATE_ONLY.match(value):
        _parse_or_raise(value, "%Y-%m-%d")
    elif _DATE_TIME.match(value):
        _parse_or_raise(value, "%Y-%m-%d %H:%M:%S %z")
    else:
        raise ValueError(
            f"{value!r} is not a date Iterable accepts. Use \"YYYY-MM-DD\", "
            "\"YYYY-MM-DD HH:MM:SS +00:00\", {{today}} or {{now}}"
        )


def _parse_or_raise(value: str, pattern: str) -> None:
    try:
        dt.datetime.strptime(value, pattern)
    except ValueError:
        raise ValueError(f"{value!r} is not a real calendar date") from None


# --------------------------------------------------------------------------- models


class FieldMapping(BaseModel):
    """One column of the submissions mapped to one Iterable user field."""

    model_config = ConfigDict(extra="forbid")

    source: str
    target: str
    type: FieldType | None = None
    converter: Converter | None = None
    phone_region: str | None = None
    date_order: Literal["DMY", "MDY", "YMD"] | None = None
    timezone: str | None = None
    empty_is_false: StrictBool = False
    decimal_separator: Literal[".", ","] | None = None
    country_format: Literal["alpha2", "name"] | None = None
    trim: StrictBool = False

    @field_validator("source", mode="before")
    @classmethod
    def _clean_source(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        cleaned = value.replace("\ufeff", "").strip()
        if not cleaned:
            raise ValueError("must not be empty. Enter the column header from the input file")
        return cleaned

    @field_validator("target", mode="before")
    @classmethod
    def _check_target(cls, value: Any) -> Any:
        return check_target_name(value)

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _check_region(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return _check_timezone(value)


class StaticField(BaseModel):
    """A constant sent with every row (placeholders are expanded once per run)."""

    model_config = ConfigDict(extra="forbid")

    target: str
    type: FieldType = "string"
    value: str | int | float | bool

    @field_validator("target", mode="before")
    @classmethod
    def _check_target(cls, value: Any) -> Any:
        name = check_target_name(value)
        if name in IDENTIFIER_FIELDS:
            raise ValueError(
                f"{name!r} identifies the user and cannot be a constant. Map it from a column"
            )
        return name

    @field_validator("value", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if isinstance(value, float) and (value != value or value in (float("inf"), -float("inf"))):
            raise ValueError(f"{value!r} is not a number JSON can carry. Use a finite number")
        if value is None:
            raise ValueError("must not be null. Remove the static field or give it a value")
        if not isinstance(value, (str, int, float, bool)):
            raise ValueError(f"must be text, a number or true/false, got {_short(value)}")
        return value

    @field_validator("value")
    @classmethod
    def _value_matches_type(cls, value: Any, info: ValidationInfo) -> Any:
        field_type = info.data.get("type")
        if field_type is not None:
            check_static_value(value, field_type)
        return value


class MappingOptions(BaseModel):
    """Run-wide options; per-field settings override them."""

    model_config = ConfigDict(extra="forbid")

    duplicates: Literal["last", "first", "merge"] = "last"
    create_new_fields: StrictBool | None = None
    default_phone_region: str | None = None
    date_order: Literal["DMY", "MDY", "YMD"] | None = None
    timezone: str | None = None
    decimal_separator: Literal[".", ","] = "."

    @field_validator("default_phone_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _check_region(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return _check_timezone(value)


class MappingConfig(BaseModel):
    """A whole mapping: list, identifier, mapped fields, static fields and options."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    widget: str = ""
    list_id: int | None = None
    identifier: Literal["email", "userId"] = "email"
    fields: list[FieldMapping] = []
    static_fields: list[StaticField] = []
    options: MappingOptions = MappingOptions()

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return _check_version(value)

    @field_validator("list_id", mode="before")
    @classmethod
    def _list_id(cls, value: Any) -> int | None:
        return _check_list_id(value)

    @model_validator(mode="after")
    def _unique_targets(self) -> "MappingConfig":
        seen: dict[str, str] = {}
        entries = [(f"fields[{i}].target", f.target) for i, f in enumerate(self.fields)]
        entries += [
            (f"static_fields[{i}].target", f.target) for i, f in enumerate(self.static_fields)
        ]
        for path, target in entries:
            if target in seen:
                raise ValueError(
                    f"{path}: {target!r} is already the target of {seen[target]}, and "
                    "each Iterable field can be filled from one place only"
                )
            seen[target] = path
        _check_nesting(seen)
        return self

    # ----------------------------------------------------------------- reading

    @classmethod
    def from_dict(cls, data: Any, source_name: str = "mapping") -> "MappingConfig":
        """Validate already-parsed mapping data; raises MappingFileError."""
        if not isinstance(data, dict):
            raise MappingFileError(
                f"{source_name}: expected a JSON object with \"version\", \"fields\", ...; "
                f"got {type(data).__name__}"
            )
        if "version" not in data:
            raise MappingFileError(
                f"{source_name}: version: missing. A mapping file must contain "
                f"\"version\": {SUPPORTED_VERSION}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise MappingFileError(_describe_errors(exc, source_name)) from None

    @classmethod
    def from_json(cls, text: str | bytes, source_name: str = "mapping file") -> "MappingConfig":
        """Parse mapping JSON text; raises MappingFileError naming the problem."""
        data = _parse_json(text, source_name)
        return cls.from_dict(data, source_name)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MappingConfig":
        """Read a mapping file from disk."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise MappingFileError(
                    f"{path}: the file is {size} bytes. A mapping file is at most "
                    f"{MAX_FILE_BYTES} bytes, so check that this is the right file"
                )
            raw = path.read_bytes()
        except OSError as exc:
            message = f"{path}: cannot read the mapping file ({exc.strerror})"
            raise MappingFileError(message) from None
        config = cls.from_json(raw, source_name=str(path))
        logger.info("loaded mapping %s (fingerprint %s)", path.name, config.fingerprint()[:12])
        return config

    # ----------------------------------------------------------------- writing

    def to_dict(self) -> dict[str, Any]:
        """Return the file content as a dict: every top-level key, item defaults left out."""
        return {
            "version": self.version,
            "widget": self.widget,
            "list_id": self.list_id,
            "identifier": self.identifier,
            "fields": [_field_dict(f) for f in self.fields],
            "static_fields": [
                {"target": s.target, "value": s.value, "type": s.type} for s in self.static_fields
            ],
            "options": self.options.model_dump(mode="json", exclude_defaults=True),
        }

    def to_json(self) -> str:
        """Stable JSON text (indent 2, trailing newline) as saved by the app and the CLI."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write the mapping file atomically (temporary file, then rename)."""
        path = Path(path)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(self.to_json(), encoding="utf-8")
        os.replace(temporary, path)
        return path

    def fingerprint(self) -> str:
        """sha256 hex of the canonical JSON of every setting, defaults included."""
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    # ----------------------------------------------------------------- helpers

    @property
    def targets(self) -> list[str]:
        """Every target field name, mapped fields first, then static fields."""
        return [f.target for f in self.fields] + [s.target for s in self.static_fields]

    def identifier_field(self) -> FieldMapping | None:
        """Return the mapped field that fills the identifier (email or userId), if any."""
        return next((f for f in self.fields if f.target == self.identifier), None)


def _check_nesting(paths_by_target: dict[str, str]) -> None:
    """Reject a target that is both a value and the parent object of a dotted target."""
    for target, path in paths_by_target.items():
        parts = target.split(".")
        for depth in range(1, len(parts)):
            parent = ".".join(parts[:depth])
            if parent in paths_by_target:
                raise ValueError(
                    f"{path}: {target!r} is nested inside {parent!r}, which "
                    f"{paths_by_target[parent]} fills with a value. Rename one of them"
                )


def _field_dict(field: FieldMapping) -> dict[str, Any]:
    extra = field.model_dump(mode="json", exclude_defaults=True, exclude={"source", "target"})
    return {"source": field.source, "target": field.target, **extra}


# --------------------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a mapping file. Use a finite number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice in one object. Keep one")
        result[key] = value
    return result


def _parse_json(text: str | bytes, source_name: str) -> Any:
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_FILE_BYTES:
            raise MappingFileError(f"{source_name}: larger than {MAX_FILE_BYTES} bytes")
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MappingFileError(
                f"{source_name}: not UTF-8 text (byte {exc.start}). Save the mapping as UTF-8 JSON"
            ) from None
    text = text.lstrip("\ufeff")
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise MappingFileError(
            f"{source_name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise MappingFileError(
                f"{source_name}: a number in the file has more than 4300 digits, which no "
                "mapping setting needs. Check that this is the right file"
            ) from None
        raise MappingFileError(f"{source_name}: {exc}") from None
    except RecursionError:
        raise MappingFileError(f"{source_name}: the JSON is nested too deeply") from None


def format_location(loc: Iterable[Any]) -> str:
    """("fields", 2, "target") -> "fields[2].target"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _describe_errors(exc: ValidationError, source_name: str) -> str:
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        line = _describe_error(error)
        if line not in lines:
            lines.append(line)
    if len(lines) == 1:
        head = f"{source_name}: "
    else:
        head = f"{source_name} has {len(lines)} problems:\n  "
    return head + "\n  ".join(lines)


_UNION_TAGS = {"str", "int", "float", "bool"}


def _describe_error(error: dict[str, Any]) -> str:
    loc = [p for p in error["loc"] if p not in _UNION_TAGS and not str(p).startswith("function-")]
    path = format_location(loc)
    kind = error["type"]
    value = error.get("input")
    if kind == "value_error":
        message = str(error["ctx"]["error"])
        if not path:
            return message
    elif kind == "extra_forbidden":
        message = "unknown key. Remove it or check its spelling"
    elif kind == "missing":
        message = "required key is missing"
    elif kind in ("literal_error", "enum"):
        message = f"{value!r} is not allowed. Use one of {error['ctx']['expected']}"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        message = f"must be an object {{...}}, got {_short(value)}"
    elif kind == "list_type":
        message = f"must be a list [...], got {_short(value)}"
    elif kind in ("string_type",):
        message = f"must be text in quotes, got {_short(value)}"
    elif kind.startswith("bool"):
        message = f"must be true or false, got {_short(value)}"
    else:
        message = f"{error['msg']} (got {_short(value)})"
    return f"{path}: {message}" if path else message


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- suggestions


def _squash(name: str) -> str:
    """Lower-case letters and digits only: "Country code" -> "countrycode"."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


# normalised header -> (target, converter, type for a new field)
_SUGGESTIONS: dict[str, tuple[str, str | None, str | None]] = {}


def _suggest(aliases: str, target: str, converter: str | None, field_type: str | None) -> None:
    for alias in aliases.split("|"):
        _SUGGESTIONS[_squash(alias)] = (target, converter, field_type)


_suggest("email|e-mail|email address|mail|e-mail address|emailaddress", "email", "email", None)
_suggest("first name|firstname|given name|name|vorname|prenom|nombre", "firstName", None, None)
_suggest("last name|lastname|surname|family name|nachname|nom|apellido", "lastName", None, None)
_suggest(
    "phone|phone number|telephone|tel|mobile|mobile phone|cell|phonenumber|telefon",
    "phoneNumber", "phone", None,
)
_suggest(
    "consent|agree|agreement|gdpr|gdpr consent|marketing consent|opt in|optin|newsletter|"
    "checkbox|accept|terms",
    "consent", "boolean", "boolean",
)
_suggest("country code|countrycode|country_code|country iso", "countryCode", "country", None)
_suggest("country|country name", "country", None, None)
_suggest("city|town", "city", None, None)
_suggest("site language|language|locale|lang", "locale", None, None)
_suggest(
    "subscribed at|subscription date|submitted at|submission date|created at|signup date|"
    "sign up date|date|timestamp",
    "signupDate", "date", "date",
)

_ROLE_TO_HEADER = {
    "email": "email",
    "first_name": "first name",
    "last_name": "last name",
    "phone": "phone",
    "consent": "consent",
    "country_code": "country code",
    "country": "country",
    "city": "city",
    "site_language": "site language",
    "language": "site language",
    "submission_time": "subscribed at",
    "subscribed_at": "subscribed at",
}


def suggest_fields(columns: Iterable[Any], project_fields: dict[str, str] | None = None,
                   frame: Any = None) -> list[FieldMapping]:
    """Propose field mappings from column headers (or ``ColumnInfo`` objects).

    Known headers get their usual Iterable target (Email -> email, Phone -> phoneNumber with
    the phone converter, a consent checkbox -> boolean, ...). When the project already has a
    field that differs only by case or spaces (``countrycode`` for "Country code"), that
    existing field is used instead. Headers that match an existing project field by name are
    mapped to it. Anything else (browser, device, page URL) is left unmapped, because a new
    Iterable field can never be deleted. Given the submissions ``frame``, a date column whose
    values read only day-first or only month-first gets that ``date_order``.
    """
    project_fields = project_fields or {}
    by_squashed = {_squash(name): name for name in project_fields}
    suggestions: list[FieldMapping] = []
    used: set[str] = set()
    for column in columns:
        header, role = _column_header_and_role(column)
        proposal = _propose(header, role, project_fields, by_squashed)
        if proposal is None or proposal.target in used:
            continue
        used.add(proposal.target)
        suggestions.append(_with_date_order(proposal, frame, project_fields))
    return suggestions


def _with_date_order(proposal: FieldMapping, frame: Any,
                     project_fields: dict[str, str]) -> FieldMapping:
    is_date = "date" in (proposal.converter, proposal.type, project_fields.get(proposal.target))
    if not is_date or frame is None or proposal.source not in frame.columns:
        return proposal
    from mapping.normalize import infer_date_order

    order = infer_date_order(frame[proposal.source])
    return proposal if order is None else proposal.model_copy(update={"date_order": order})


def _column_header_and_role(column: Any) -> tuple[str, str | None]:
    if isinstance(column, str):
        return column, None
    return str(getattr(column, "name", column)), getattr(column, "role", None)


def _propose(header: str, role: str | None, project_fields: dict[str, str],
             by_squashed: dict[str, str]) -> FieldMapping | None:
    known = _SUGGESTIONS.get(_squash(header))
    if known is None and role in _ROLE_TO_HEADER:
        known = _SUGGESTIONS.get(_squash(_ROLE_TO_HEADER[role]))
    if known is None:
        existing = by_squashed.get(_squash(header))
        if existing is None:
            return None
        return _build(header, existing, None, None)
    target, converter, new_type = known
    if target not in project_fields:
        target = by_squashed.get(_squash(target), target)
    field_type = None if target in project_fields else new_type
    return _build(header, target, converter, field_type)


def _build(header: str, target: str, converter: str | None, field_type: str | None
           ) -> FieldMapping | None:
    try:
        return FieldMapping(source=header, target=target, converter=converter, type=field_type)
    except ValidationError:
        logger.debug("no suggestion for column %r: target %r is not usable", header, target)
        return None


def load_mapping(path: str | os.PathLike) -> MappingConfig:
    """Read a mapping file (the notebook's ``mapping.load_mapping``)."""
    return MappingConfig.load(path)

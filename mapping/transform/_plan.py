"""Resolve a mapping against the input columns and the project's fields, before any row is read.

For each mapped field this decides the converter and the target type. It also collects the
mapping-level issues: a column missing from the file, a converter whose output cannot be the
field's type, a target that differs from an existing field only by case or spaces, a dot
(nesting), a new field whose first values would fix a surprising type, an identifier that no
field fills. Static fields get their placeholders expanded once per run.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from mapping.config import FieldMapping, MappingConfig, StaticField, check_static_value

logger = logging.getLogger(__name__)

# Iterable field type of the values each converter produces.
CONVERTER_OUTPUT = {
    "string": "string",
    "email": "string",
    "phone": "string",
    "country": "string",
    "boolean": "boolean",
    "date": "date",
    "long": "long",
    "double": "double",
}
SENDABLE_TYPES = {"string", "long", "double", "boolean", "date"}
IDENTIFIER_FIELDS = ("email", "userId")
SAMPLE_SIZE = 5

_NUMERIC_LOOKING = re.compile(r"^[+-]?\d+([.,]\d+)?$")
_DATE_LOOKING = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?.*)?$")
_PHONE_TARGETS = ("phone", "mobile", "telephone", "cellphone")
_COUNTRY_CODE_TARGETS = ("countrycode", "countryiso", "countryalpha2")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")


@dataclass
class MappingIssue:
    """A problem of the mapping as a whole (not of one row)."""

    code: str
    field: str
    message: str
    severity: str = "warning"  # "error" blocks every row; "warning" only informs
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FieldPlan:
    """Converter, target type and options of one mapped column."""

    mapping: FieldMapping
    converter: str
    target_type: str
    type_source: str  # "project", "mapping" or "converter"
    converter_kwargs: dict[str, Any]
    column_present: bool
    compatible: bool = True

    @property
    def source(self) -> str:
        return self.mapping.source

    @property
    def target(self) -> str:
        return self.mapping.target

    @property
    def output_type(self) -> str:
        return CONVERTER_OUTPUT[self.converter]


@dataclass
class StaticPlan:
    """One static field with its placeholders expanded."""

    target: str
    value: Any
    target_type: str
    compatible: bool = True


@dataclass
class RunPlan:
    """Everything apply() needs to know before converting rows."""

    fields: list[FieldPlan]
    statics: list[StaticPlan]
    issues: list[MappingIssue] = field(default_factory=list)
    new_fields: dict[str, str] = field(default_factory=dict)

    def identifier_plan(self, identifier: str) -> FieldPlan | None:
        return next((p for p in self.fields if p.target == identifier), None)


def squash(name: str) -> str:
    """Case- and space-insensitive form of a field name."""
    return "".join(name.casefold().split())


# --------------------------------------------------------------------------- converters


def infer_converter(mapping: FieldMapping, declared_type: str | None) -> str:
    """Pick the converter for a field: explicit, else from the target type or name."""
    if mapping.converter is not None:
        return mapping.converter
    if mapping.target == "email":
        return "email"
    if declared_type in ("date", "boolean", "long", "double"):
        return declared_type
    name = squash(mapping.target).replace("_", "").replace("-", "")
    leaf = name.rsplit(".", 1)[-1]
    if leaf in _COUNTRY_CODE_TARGETS:
        return "country"
    if any(word in leaf for word in _PHONE_TARGETS):
        return "phone"
    return "string"


def converter_kwargs(mapping: FieldMapping, converter: str, config: MappingConfig) -> dict:
    """Keyword arguments for the mapping.normalize function of ``converter``."""
    options = config.options
    if converter == "phone":
        return {"region": mapping.phone_region or options.default_phone_region}
    if converter == "boolean":
        return {"empty_is_false": mapping.empty_is_false}
    if converter == "date":
        return {
            "date_order": mapping.date_order or options.date_order,
            "timezone": mapping.timezone or options.timezone,
        }
    if converter in ("long", "double"):
        return {"decimal_separator": mapping.decimal_separator or options.decimal_separator}
    if converter == "country":
        return {"output": mapping.country_format or "alpha2"}
    if converter == "string":
        return {"trim": mapping.trim}
    return {}


def types_compatible(output_type: str, target_type: str) -> bool:
    """Tell whether values of ``output_type`` can be stored in a field of ``target_type``."""
    if output_type == target_type:
        return True
    if output_type == "long" and target_type == "double":
        return True
    # A date is sent as text, which a string field stores as it is.
    return output_type == "date" and target_type == "string"


# --------------------------------------------------------------------------- planning


def build_plan(df: pd.DataFrame, config: MappingConfig, project_fields: dict[str, str] | None,
               context: dict | None) -> RunPlan:
    """Resolve converters, types, static values and mapping-level issues for one run."""
    columns = set(map(str, df.columns))
    plan = RunPlan(fields=[], statics=[])
    for mapping in config.fields:
        plan.fields.append(_plan_field(mapping, config, project_fields, columns, plan.issues))
    for static in config.static_fields:
        plan.statics.append(_plan_static(static, config, project_fields, context, plan.issues))
    _check_identifier(config, plan)
    _check_names(config, project_fields, plan.issues)
    _check_new_field_types(df, plan, project_fields)
    plan.new_fields = _new_fields(plan, project_fields)
    return plan


def _plan_field(mapping: FieldMapping, config: MappingConfig,
                project_fields: dict[str, str] | None, columns: set[str],
                issues: list[MappingIssue]) -> FieldPlan:
    project_type = (project_fields or {}).get(mapping.target)
    declared = project_type or mapping.type
    converter = infer_converter(mapping, declared)
    if project_type is not None:
        target_type, type_source = project_type, "project"
    elif mapping.type is not None:
        target_type, type_source = mapping.type, "mapping"
    else:
        target_type, type_source = CONVERTER_OUTPUT[converter], "converter"
    plan = FieldPlan(
        mapping=mapping,
        converter=converter,
        target_type=target_type,
        type_source=type_source,
        converter_kwargs=converter_kwargs(mapping, converter, config),
        column_present=mapping.source in columns,
    )
    if project_type is not None and mapping.type is not None and mapping.type != project_type:
        issues.append(MappingIssue(
            "declared_type_ignored", mapping.target,
            f"the mapping declares {mapping.target} as {mapping.type}, but the project already "
            f"has it as a {project_type} field and Iterable never changes a field's type; values "
            f"are sent as {project_type}. Remove the type or map the column to another field",
            column=mapping.source,
        ))
    if not plan.column_present:
        issues.append(MappingIssue(
            "missing_column", mapping.target,
            f"the column {mapping.source!r} (mapped to {mapping.target}) is not in the input "
            "file; check the header spelling or remove the field from the mapping",
            severity="error", column=mapping.source,
        ))
    if not _field_type_ok(plan, issues):
        plan.compatible = False
    return plan


def _field_type_ok(plan: FieldPlan, issues: list[MappingIssue]) -> bool:
    target, target_type = plan.target, plan.target_type
    if target_type not in SENDABLE_TYPES:
        issues.append(MappingIssue(
            "type_mismatch", target,
            f"{target} is a {target_type} field in the project; the workbench sends only "
            "string, long, double, boolean and date values, so map the column to another field",
            severity="error", column=plan.source,
        ))
        return False
    if types_compatible(plan.output_type, target_type):
        return True
    origin = "in the project" if plan.type_source == "project" else "in the mapping"
    issues.append(MappingIssue(
        "type_mismatch", target,
        f"{target} is {target_type} {origin}, but the {plan.converter} converter produces "
        f"{plan.output_type} values; set the converter to {target_type} or pick another field",
        severity="error", column=plan.source,
    ))
    return False


# --------------------------------------------------------------------------- static fields


def expand_placeholders(value: Any, config: MappingConfig, context: dict | None) -> Any:
    """Replace {{today}}, {{now}}, {{widget}} and {{source_file}} in a text value."""
    if not isinstance(value, str) or "{{" not in value:
        return value
    context = {} if context is None else context
    now = _run_time(context)
    known = {
        "today": now.strftime("%Y-%m-%d"),
        "now": now.strftime("%Y-%m-%d %H:%M:%S +00:00"),
        "widget": config.widget,
        "source_file": str(context.get("source_file") or ""),
    }

    def replace(match: re.Match) -> str:
        return known.get(match.group(1), match.group(0))

    return _PLACEHOLDER.sub(replace, value)


def _run_time(context: dict) -> dt.datetime:
    # The first chunk stores the run time, so every chunk given the same dict expands alike.
    now = context.setdefault("now", dt.datetime.now(dt.timezone.utc))
    if now.tzinfo is None:
        return now.replace(tzinfo=dt.timezone.utc)
    return now.astimezone(dt.timezone.utc)


def _plan_static(static: StaticField, config: MappingConfig,
                 project_fields: dict[str, str] | None, context: dict | None,
                 issues: list[MappingIssue]) -> StaticPlan:
    value = expand_placeholders(static.value, config, context)
    project_type = (project_fields or {}).get(static.target)
    plan = StaticPlan(static.target, value, project_type or static.type)
    if isinstance(value, str) and _PLACEHOLDER.search(value):
        issues.append(MappingIssue(
            "unknown_placeholder", static.target,
            f"{value!r} has a placeholder the workbench does not know; use {{{{today}}}}, "
            "{{now}}, {{widget}} or {{source_file}}",
        ))
    try:
        check_static_value(value, static.type)
    except ValueError as exc:
        plan.compatible = False
        issues.append(MappingIssue("type_mismatch", static.target,
                                   f"static field {static.target}: {exc}", severity="error"))
        return plan
    if project_type is not None and not types_compatible(static.type, project_type):
        plan.compatible = False
        issues.append(MappingIssue(
            "type_mismatch", static.target,
            f"static field {static.target} is {static.type} in the mapping but {project_type} "
            f"in the project; Iterable would reject every row, so change the value and type "
            f"to {project_type}",
            severity="error",
        ))
    return plan


# --------------------------------------------------------------------------- warnings


def _check_identifier(config: MappingConfig, plan: RunPlan) -> None:
    if plan.identifier_plan(config.identifier) is None:
        plan.issues.append(MappingIssue(
            "missing_identifier", config.identifier,
            f"no column is mapped to {config.identifier}, which identifies each user; "
            f"map the column that holds it",
            severity="error",
        ))


def _check_names(config: MappingConfig, project_fields: dict[str, str] | None,
                 issues: list[MappingIssue]) -> None:
    existing = {squash(name): name for name in (project_fields or {})}
    for target in config.targets:
        if "." in target:
            issues.append(MappingIssue(
                "nested_field", target,
                f"{target} contains a dot, so it is sent as a nested object "
                f"({target.split('.', 1)[0]}: {{...}}) and replaces that whole object; "
                "rename the field if the dot is not meant as nesting",
            ))
        if project_fields is None or target in project_fields:
            continue
        twin = existing.get(squash(target))
        if twin is not None:
            issues.append(MappingIssue(
                "field_name_case", target,
                f"{target} differs from the existing field {twin} only by case or spaces; "
                f"Iterable would create a second field, so use {twin} unless that is intended",
            ))


def _check_new_field_types(df: pd.DataFrame, plan: RunPlan,
                           project_fields: dict[str, str] | None) -> None:
    if project_fields is None:
        return
    for field_plan in plan.fields:
        mapping = field_plan.mapping
        if (mapping.target in project_fields or mapping.type is not None
                or field_plan.converter != "string" or not field_plan.column_present):
            continue
        sample = df[mapping.source].dropna().head(SAMPLE_SIZE).astype(str).tolist()
        warning = _surprising_type(mapping, sample)
        if warning is not None:
            plan.issues.append(warning)


def _surprising_type(mapping: FieldMapping, sample: list[str]) -> MappingIssue | None:
    values = [v.strip() for v in sample if v.strip()]
    if not values:
        return None
    if all(_NUMERIC_LOOKING.match(v) for v in values):
        looks = "numbers"
    elif all(_DATE_LOOKING.match(v) for v in values):
        looks = "dates"
    else:
        return None
    return MappingIssue(
        "new_field_type", mapping.target,
        f"{mapping.target} is a new field and its first values look like {looks} "
        f"({values[0]!r}); Iterable fixes a field's type by its first value and never changes "
        f"it. Set \"type\" in the mapping (\"string\" keeps {values[0]!r} as text)",
        column=mapping.source,
    )


def _new_fields(plan: RunPlan, project_fields: dict[str, str] | None) -> dict[str, str]:
    if project_fields is None:
        return {}
    created: dict[str, str] = {}
    for field_plan in plan.fields:
        if field_plan.target not in project_fields and field_plan.target not in IDENTIFIER_FIELDS:
            created[field_plan.target] = field_plan.target_type
    for static in plan.statics:
        if static.target not in project_fields:
            created[static.target] = static.target_type
    return created

"""Mapping engine: raw submissions in, the user objects Iterable would receive out.

    result = apply(frame, config, project_fields)      # TransformResult
    result.items[i]          # the exact user object of row i, or None when it is not sent
    result.issues            # row, column, field, code, value, message, severity
    preview_records(result)  # JSON Lines records of `python -m mapping preview`
    preview_frame(result)    # the payload as a DataFrame (notebook, app)

Row issue codes (stable): missing_identifier, invalid_email, invalid_phone, invalid_boolean,
invalid_date, ambiguous_date, invalid_number, number_overflow, invalid_country, type_mismatch,
duplicate, value_too_long, missing_column. Every code is severity "error" (the row is not sent)
except "duplicate", a "warning": the row is folded into the kept row of its identifier by the
duplicates policy (not sent on its own) and counted in ``merged``.

Mapping-level issues (``result.warnings``): missing_column, missing_identifier, type_mismatch
(severity "error": every row is blocked), nested_field, field_name_case, new_field_type,
unknown_placeholder (warnings).
"""

from mapping.transform._apply import (
    ISSUE_COLUMNS,
    Items,
    TransformResult,
    apply,
    identifier_keys,
)
from mapping.transform._duplicates import DuplicatePlan, plan_duplicates
from mapping.transform._plan import MappingIssue, expand_placeholders, infer_converter
from mapping.transform._preview import (
    issues_frame,
    iter_preview_records,
    preview_frame,
    preview_records,
    warnings_frame,
)

__all__ = [
    "ISSUE_COLUMNS",
    "DuplicatePlan",
    "Items",
    "MappingIssue",
    "TransformResult",
    "apply",
    "expand_placeholders",
    "identifier_keys",
    "infer_converter",
    "issues_frame",
    "iter_preview_records",
    "plan_duplicates",
    "preview_frame",
    "preview_records",
    "warnings_frame",
]

"""Whether the session's file and mapping fit each other: shared by the Mapping page, the
sidebar and the Submissions page.

The checks here never read the whole file: the mapping runs on the first rows only, and the
whole-file result is used only when the Preview page already computed it for the same file and
mapping.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mapping import transform
from mapping.config import MappingConfig
from ui import field_table, project, state

logger = logging.getLogger(__name__)

CHECK_ROWS = 20
SAMPLE_RESULT = "wb_sample_result"     # (key, TransformResult of the first rows)
PREVIEW_RESULT = "wb_preview_result"   # (key, TransformResult of the whole file)
MAPPING_NOTICE = "wb_mapping_notice"   # text about rows dropped when a new file was loaded


def result_key(loaded: state.LoadedFile, config: MappingConfig, fields: dict[str, str]) -> tuple:
    """Return the key under which a transform of this file, mapping and field list is kept."""
    return (id(loaded.submissions), config.fingerprint(), tuple(sorted(fields.items())))


def sample_result(loaded: state.LoadedFile, config: MappingConfig, fields: dict[str, str]):
    """Return the transform of the first rows, reused until the mapping or the file changes."""
    key = result_key(loaded, config, fields)
    cached = state.get(SAMPLE_RESULT)
    if cached is not None and cached[0] == key:
        return cached[1]
    result = transform.apply(loaded.frame.head(CHECK_ROWS), config, fields)
    state.put(SAMPLE_RESULT, (key, result))
    return result


def missing_columns(loaded: state.LoadedFile, config: MappingConfig) -> list[str]:
    """Return the mapped source columns that the loaded file does not have."""
    present = set(loaded.frame.columns)
    return [field.source for field in config.fields if field.source not in present]


def mapping_problems(loaded: state.LoadedFile, config: MappingConfig,
                     fields: dict[str, str]) -> list[str]:
    """Return what keeps the mapping from sending rows of the loaded file, as sentences."""
    missing = missing_columns(loaded, config)
    if missing:
        return [f"The mapping reads {_columns_phrase(missing)} that {loaded.name} does not "
                "have: fix or clear those rows on Mapping."]
    try:
        sample = sample_result(loaded, config, fields)
    except Exception as exc:  # shown in detail on the Mapping page
        logger.info("sample check failed: %s", type(exc).__name__)
        return ["The mapping cannot be applied to the file: see Mapping."]
    if sample.mapping_errors:
        first = sample.mapping_errors[0]
        text = f"{first.field}: {first.message}" if first.field else first.message
        return [f"The mapping blocks every row ({text.rstrip('.')}): fix it on Mapping."]
    cached = state.get(PREVIEW_RESULT)
    if cached is not None and cached[0] == result_key(loaded, config, fields):
        if cached[1].sent_count == 0:
            return ["No row of the file can be sent: see the issues on Preview."]
    return []


def fit_mapping_to_new_file(previous: state.LoadedFile | None, loaded: state.LoadedFile) -> None:
    """After a file load, fit the session's mapping to the new columns when they differ.

    Rows for columns the new file lacks are dropped and named in a notice on Mapping. Suggestions
    fill the columns left unmapped, and the list and static fields stay. A widget name
    that was the previous file's default (its name without extension) follows the new file.
    """
    config = state.get(state.MAPPING)
    if config is None:
        return
    new_columns = list(loaded.frame.columns)
    if previous is not None and list(previous.frame.columns) == new_columns \
            and not missing_columns(loaded, config):
        return
    try:
        fields = project.project_fields()
    except Exception as exc:
        logger.info("project fields unavailable for suggestions: %s", type(exc).__name__)
        fields = {}
    default_names = {""} | ({Path(previous.name).stem} if previous is not None else set())
    widget = Path(loaded.name).stem if config.widget in default_names else None
    updated, dropped = field_table.adapt_to_file(config, loaded.report.columns, fields,
                                                 widget=widget, frame=loaded.frame)
    state.put(state.MAPPING, updated)
    state.reset_field_table()
    # The Mapping page's widgets take these values from the mapping again when next drawn.
    state.drop("mapping_widget", "mapping_list", "mapping_identifier")
    if dropped:
        rows = ", ".join(f"{field.source} → {field.target}" for field in dropped)
        state.put(MAPPING_NOTICE, f"{loaded.name} does not have every column the mapping read, "
                                  f"so {_rows_phrase(len(dropped))} of the mapping "
                                  f"{'was' if len(dropped) == 1 else 'were'} dropped: {rows}. "
                                  "Columns with a known name were mapped by suggestion; the "
                                  "list and the static fields were kept.")
    else:
        state.drop(MAPPING_NOTICE)
    logger.info("fitted the mapping to %s: %d rows kept, %d dropped", loaded.name,
                len(updated.fields), len(dropped))


def _columns_phrase(names: list[str]) -> str:
    quoted = ", ".join(repr(name) for name in names)
    return f"the column {quoted}" if len(names) == 1 else f"the columns {quoted}"


def _rows_phrase(count: int) -> str:
    return "1 row" if count == 1 else f"{count} rows"


"""Step 3, Mapping: the list, the field table, static fields, checks, and the mapping file.

Reruns must stay fast with a large file loaded: nothing here reads the whole file. The project's
fields and lists come from the session cache (ui.project), and the checks run the transform on
the first rows only. The Preview page transforms the whole file.
"""

import logging
from pathlib import Path

import streamlit as st

from mapping.config import MappingConfig, suggest_fields
from mapping.iterable.errors import WriteNotAllowedError
from ui import auth, field_table, project, readiness, state, widgets
from ui.errors import show_error, shown_errors

logger = logging.getLogger("ui.pages.mapping")

CHECK_ROWS = readiness.CHECK_ROWS
NO_LIST = 0  # selectbox value for "no list, profile update only"
MAPPING_LOAD_ERROR = "wb_mapping_load_error"  # why the last uploaded mapping file was rejected


def current_config(loaded: state.LoadedFile, fields: dict[str, str]) -> MappingConfig:
    """Return the session's mapping, creating one from suggestions for a first visit."""
    config = state.get(state.MAPPING)
    if config is None:
        config = MappingConfig(
            version=1,
            widget=Path(loaded.name).stem,
            fields=suggest_fields(loaded.report.columns, fields, loaded.frame),
        )
        state.put(state.MAPPING, config)
        state.reset_field_table()
    return config


def initial_widget_value(key: str, value) -> None:
    """Give a widget the mapping's value when it has none (first draw, or after a load).

    The widgets take their value from session state only, never from a default argument as
    well, so that setting the key is how the page changes what the browser shows.
    """
    if key not in st.session_state:
        st.session_state[key] = value


def show_in_widgets(config: MappingConfig) -> None:
    """Put a mapping's widget name, list and identifier into the widgets' state.

    Only allowed before the widgets are drawn in a run, so from a callback. Setting the keys,
    not only removing them, makes the browser show the new values instead of the old input.
    """
    st.session_state["mapping_widget"] = config.widget
    st.session_state["mapping_list"] = config.list_id if config.list_id is not None else NO_LIST
    st.session_state["mapping_identifier"] = config.identifier


def save(config: MappingConfig) -> None:
    """Store an edited mapping in the session."""
    state.put(state.MAPPING, config)


def file_columns(loaded: state.LoadedFile) -> list[field_table.FileColumn]:
    """Return the file's columns with their kind and an example value from the profile."""
    profile = loaded.profile
    columns = []
    for info in loaded.report.columns:
        example = ""
        if profile is not None and info.name in profile.index:
            example = str(profile.at[info.name, "examples"]).split(", ")[0]
        columns.append(field_table.FileColumn(info.name, info.kind, example))
    return columns


def list_picker(config: MappingConfig) -> MappingConfig:
    """Draw the Standard list picker, list sizes on request, and Create list."""
    lists = project.standard_lists()
    sizes = project.known_list_sizes()
    names = {item.id: item.name for item in lists}
    options = [NO_LIST, *names]
    if config.list_id is not None and config.list_id not in names:
        options.append(config.list_id)

    def label(list_id: int) -> str:
        if list_id == NO_LIST:
            return "No list: update user profiles only (users/bulkUpdate)"
        size = f", {sizes[list_id]:,} users" if list_id in sizes else ""
        return f"{names.get(list_id, 'unknown list')} (id {list_id}{size})"

    current = config.list_id if config.list_id is not None else NO_LIST
    initial_widget_value("mapping_list", current)
    chosen = st.selectbox("Iterable list (Standard lists)", options, format_func=label,
                          key="mapping_list")
    if chosen != current:
        config = config.model_copy(update={"list_id": None if chosen == NO_LIST else chosen})
        save(config)
    size_column, create_column = st.columns(2)
    if size_column.button("Show list sizes", key="mapping_list_sizes",
                          help="Iterable allows 5 list-size requests per minute per project."):
        with shown_errors("Reading the list sizes"):
            project.fetch_list_sizes(list(names)[:5])
            st.rerun()
    with create_column.popover("Create list"):
        create_list_form(config)
    return config


def create_list_form(config: MappingConfig) -> None:
    """Create a Standard list and select it."""
    name = st.text_input("New list name", key="mapping_new_list_name")
    if st.button("Create list", key="mapping_create_list"):
        if not name.strip():
            st.error("Enter a name for the new list.")
            return
        try:
            list_id = project.create_list(name.strip())
        except WriteNotAllowedError as exc:
            mark_read_only()
            st.error(str(exc))
            return
        except Exception as exc:
            show_error(exc, "Creating the list")
            return
        save(config.model_copy(update={"list_id": list_id}))
        st.session_state.pop("mapping_list", None)
        st.rerun()


def mark_read_only() -> None:
    """Mark the connection as read-only, so that the Connect page reports it."""
    connection = state.get(state.CONNECTION)
    if connection is not None:
        connection.can_write = False


def identifier_picker(config: MappingConfig) -> MappingConfig:
    """Let the analyst identify users by email (the usual) or by userId."""
    options = ["email", "userId"]
    initial_widget_value("mapping_identifier", config.identifier)
    chosen = st.radio("Identify users by", options, key="mapping_identifier", horizontal=True)
    if chosen != config.identifier:
        config = config.model_copy(update={"identifier": chosen})
        save(config)
    return config


def field_editor(loaded: state.LoadedFile, config: MappingConfig, fields: dict[str, str]
                 ) -> MappingConfig:
    """Draw the field table and turn its edits back into the mapping after every change."""
    columns = file_columns(loaded)
    show_all = st.toggle("Show more fields", key="mapping_show_more",
                         help="Also list the system columns (browser, device, page URL, ...).")
    version = state.get(state.EDITOR_VERSION, 0)
    editor_key = f"mapping_fields_{version}_{int(show_all)}"
    # A fresh editor starts from the mapping, which already contains every earlier edit. The
    # editor is fresh on a first visit, after a load, and back from another page (Streamlit
    # drops the state of widgets that a run did not draw).
    if editor_key not in st.session_state or state.get("wb_field_table") is None:
        state.put("wb_field_table", field_table.build_table(columns, config, fields,
                                                           show_all=show_all))
    hidden = field_table.hidden_column_count(columns, config)
    if hidden and not show_all:
        st.caption(f"{hidden} system columns are hidden; turn on Show more fields to map them.")
    edited = st.data_editor(
        state.get("wb_field_table"),
        key=editor_key,
        hide_index=True,
        num_rows="fixed",
        disabled=[field_table.COLUMN, field_table.KIND, field_table.EXAMPLE],
        column_config=field_table_config(fields),
    )
    mapped, problems = field_table.fields_from_table(edited)
    for problem in problems:
        st.error(problem)
    if mapped != config.fields:
        try:
            config = field_table.with_fields(config, mapped)
        except ValueError as exc:
            st.error(str(exc))
            return config
        save(config)
    return config


def field_table_config(fields: dict[str, str]) -> dict:
    """Column settings of the field table: dropdowns for fields, types and converters."""
    column = st.column_config
    return {
        field_table.FIELD: column.SelectboxColumn(
            options=sorted(fields), format_func=lambda name: f"{name} ({fields.get(name, '?')})",
            help="An existing field of the project, with its type."),
        field_table.NEW_FIELD: column.TextColumn(
            help="Type a name to create a new field instead; it wins over the dropdown."),
        field_table.TYPE: column.SelectboxColumn(
            options=field_table.FIELD_TYPES, help="Type of a new field, or a conversion."),
        field_table.CONVERTER: column.SelectboxColumn(
            options=field_table.CONVERTERS, help="Empty: chosen from the type and field name."),
        field_table.PHONE_REGION: column.TextColumn(
            help="Two-letter country for numbers without +country code, e.g. DE.", max_chars=2),
        field_table.DATE_ORDER: column.SelectboxColumn(
            options=field_table.DATE_ORDERS, help="Order of day, month and year in the file."),
        field_table.EMPTY_IS_FALSE: column.CheckboxColumn(
            help="Boolean fields: an empty checkbox means false instead of no value."),
        field_table.TRIM: column.CheckboxColumn(help="Strip spaces around text."),
    }


def suggestions_button(loaded: state.LoadedFile, config: MappingConfig,
                       fields: dict[str, str]) -> None:
    """Add suggestions by column name for columns that are not mapped yet."""
    if st.button("Suggest fields for unmapped columns", key="mapping_suggest"):
        suggested = suggest_fields(loaded.report.columns, fields, loaded.frame)
        updated = field_table.merge_suggestions(config, suggested)
        if updated is config:
            st.info("No further suggestions: every column with a known name is mapped.")
            return
        save(updated)
        state.reset_field_table()
        st.rerun()


def identifier_message(config: MappingConfig) -> None:
    """Say that the identifier is required until a column is mapped to it."""
    if config.identifier_field() is None:
        st.warning(
            f"{config.identifier} is required: map the column that holds it to the Iterable "
            f"field {config.identifier}. Nothing can be previewed or synced until then."
        )


def geolocation_check(loaded: state.LoadedFile, config: MappingConfig, fields: dict[str, str]
                      ) -> None:
    """Show whether the geolocation columns' targets exist in the project or will be created."""
    geo_columns = [c.name for c in loaded.report.columns if c.kind == "geolocation"]
    if not geo_columns:
        return
    by_source = {f.source: f for f in config.fields}
    lines = []
    for name in geo_columns:
        field = by_source.get(name)
        if field is None:
            lines.append(f"- {name}: not mapped")
        elif field.target in fields:
            lines.append(f"- {name} → {field.target}: exists in the project "
                         f"({fields[field.target]})")
        else:
            lines.append(f"- {name} → {field.target}: will be created as a new "
                         f"{field.type or 'string'} field")
    st.markdown("**Geolocation**\n" + "\n".join(lines))


def static_fields(config: MappingConfig) -> MappingConfig:
    """List the static fields with Remove buttons, and draw the Add static field form."""
    st.subheader("Static fields")
    st.caption("The same value for every user, for example signupSource = claspo.")
    for index, static in enumerate(config.static_fields):
        text_column, remove_column = st.columns([4, 1])
        text_column.markdown(f"`{static.target}` = `{static.value!r}` ({static.type})")
        if remove_column.button("Remove", key=f"mapping_static_remove_{index}"):
            save(field_table.remove_static_field(config, index))
            st.rerun()
    name_column, value_column, type_column = st.columns(3)
    target = name_column.text_input("Static field name", key="mapping_static_name")
    value = value_column.text_input("Static value", key="mapping_static_value")
    field_type = type_column.selectbox("Static field type", field_table.FIELD_TYPES,
                                       key="mapping_static_type")
    if st.button("Add static field", key="mapping_static_add"):
        try:
            config = field_table.add_static_field(config, target, value, field_type)
        except ValueError as exc:
            st.error(str(exc))
            return config
        save(config)
        st.rerun()
    return config


def sample_checks(loaded: state.LoadedFile, config: MappingConfig, fields: dict[str, str]
                  ) -> None:
    """Run the mapping on the first rows: mapping warnings, type conflicts and row issues.

    Nothing is shown until the identifier is mapped; the page already shows that it is required.
    """
    if config.identifier_field() is None:
        return
    st.subheader("Checks on the first rows")
    try:
        result = readiness.sample_result(loaded, config, fields)
    except Exception as exc:
        show_error(exc, "Checking the mapping")
        return
    widgets.mapping_warnings(result.warnings)
    if result.new_fields:
        st.info("New fields a sync would create: " + ", ".join(
            f"{name} ({kind})" for name, kind in result.new_fields.items()))
    issues = result.issues
    type_conflicts(issues)
    if len(issues):
        checked = min(len(loaded.frame), CHECK_ROWS)
        st.caption(f"{widgets.count_phrase(len(issues), 'issue')} in the first "
                   f"{widgets.count_phrase(checked, 'row')}; the Preview page lists every issue "
                   "of the file.")
        st.dataframe(issues.head(20), hide_index=True, key="mapping_sample_issues")
    elif not result.warnings and not result.new_fields:
        st.success(f"No issues in the first {widgets.count_phrase(len(result.items), 'row')}.")


def type_conflicts(issues) -> None:
    """Show one error per field whose values do not fit the field's type in the project."""
    conflicts = issues[issues["code"] == "type_mismatch"]
    for field, rows in conflicts.groupby("field", sort=True):
        st.error(f"Type conflict on {field}: {len(rows)} of the first rows do not fit. "
                 f"{rows['message'].iloc[0]}")


def load_and_download(config: MappingConfig) -> None:
    """Download the mapping as JSON, or load a mapping file."""
    st.subheader("Mapping file")
    name = (config.widget or "mapping").strip().replace(" ", "-").lower() or "mapping"
    st.download_button("Download mapping (JSON)", config.to_json(),
                       file_name=f"{name}.mapping.json", mime="application/json",
                       key="mapping_download")
    st.file_uploader("Load a mapping file", type=["json"], key="mapping_upload",
                     on_change=load_uploaded_mapping)
    problem = state.get(MAPPING_LOAD_ERROR)
    if problem:
        st.error(problem)


def load_uploaded_mapping() -> None:
    """Read a newly uploaded mapping file into the session (the uploader's change callback).

    It runs before the page script, so the widget name, list and identifier widgets can take
    the loaded values in the same run that draws them, and the browser shows them at once.
    """
    state.drop(MAPPING_LOAD_ERROR)
    uploaded = st.session_state.get("mapping_upload")
    if uploaded is None or state.get("wb_mapping_upload_id") == uploaded.file_id:
        return
    state.put("wb_mapping_upload_id", uploaded.file_id)
    try:
        loaded_config = MappingConfig.from_json(uploaded.getvalue(), source_name=uploaded.name)
    except ValueError as exc:
        state.put(MAPPING_LOAD_ERROR, str(exc))
        return
    save(loaded_config)
    state.reset_field_table()
    state.drop(readiness.MAPPING_NOTICE)
    show_in_widgets(loaded_config)
    logger.info("loaded mapping file (fingerprint %s)", loaded_config.fingerprint()[:12])


def widget_name(config: MappingConfig) -> MappingConfig:
    """Let the analyst name the widget this mapping belongs to (one mapping per widget)."""
    initial_widget_value("mapping_widget", config.widget)
    name = st.text_input("Widget", key="mapping_widget")
    if name != config.widget:
        config = config.model_copy(update={"widget": name})
        save(config)
    return config


def main() -> None:
    auth.stop_unless_logged_in()
    st.title("Mapping")
    loaded = state.get(state.SUBMISSIONS)
    if loaded is None:
        st.info("Load a submissions file first.")
        st.page_link("app_pages/2_submissions.py", label="Go to Submissions")
        return
    if project.connection() is None:
        st.warning("Not connected: the field dropdown is empty and new fields cannot be "
                   "checked. Connect a project first.")
    try:
        fields = project.project_fields()
    except Exception as exc:
        show_error(exc, "Reading the project's user fields")
        fields = {}
    config = current_config(loaded, fields)
    notice = state.get(readiness.MAPPING_NOTICE)
    if notice:
        st.info(notice)
    config = widget_name(config)
    config = list_picker(config)
    config = identifier_picker(config)

    st.subheader("Fields")
    config = field_editor(loaded, config, fields)
    suggestions_button(loaded, config, fields)
    identifier_message(config)
    geolocation_check(loaded, config, fields)
    config = static_fields(config)

    sample_checks(loaded, config, fields)
    load_and_download(config)


main()

"""Streamlit helpers of the workbench app: login gate, sidebar, session state and page parts.

Modules that import streamlit: auth, errors, navigation, project, session_restore, sidebar, state,
widgets. Modules without streamlit, unit-testable on their own: connection, credentials,
field_table, loading, logs, records, run_files, throttle, uploads, workspace.
"""

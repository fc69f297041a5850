"""Turning exceptions into sentences on the page, never into tracebacks.

Errors the library raises on purpose (bad key, unreadable file, invalid mapping, ...) carry a
message written for the analyst and are shown as is. Anything else is logged with its traceback
and shown as one short sentence that points to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from pydantic import ValidationError

from mapping.iterable.errors import IterableError

logger = logging.getLogger(__name__)


def message_for(exc: BaseException, action: str, subject: str | None = None) -> str:
    """Return the sentence shown for an exception raised while doing ``action``.

    ``subject`` is a name the action already contains (a file name). A message that starts
    with it ("fake.csv: is not a text file") does not repeat it.
    """
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        return f"{action} failed: {problems}."
    if isinstance(exc, (IterableError, ValueError, OSError)):
        text = str(exc) or type(exc).__name__
        if subject and text.startswith(f"{subject}:"):
            text = text[len(subject) + 1:].strip()
            text = text[:1].upper() + text[1:]
        return f"{action} failed: {_as_sentence(text)}"
    return (
        f"{action} failed because of an unexpected error ({type(exc).__name__}). "
        "The details are in the app's log; try again, and report it if it persists."
    )


def show_error(exc: BaseException, action: str, subject: str | None = None) -> None:
    """Show an exception as a sentence; log unexpected ones with their traceback."""
    if not isinstance(exc, (IterableError, ValueError, OSError)):
        logger.error("%s failed", action, exc_info=exc)
    else:
        logger.info("%s failed: %s", action, type(exc).__name__)
    st.error(message_for(exc, action, subject))


@contextmanager
def shown_errors(action: str) -> Iterator[None]:
    """Run a block; an exception in it is shown as a sentence instead of stopping the page."""
    try:
        yield
    except Exception as exc:  # st.stop / st.rerun are BaseException and pass through
        show_error(exc, action)


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."

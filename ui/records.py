"""Plain records the pages keep in session state: the connection and the loaded file.

No streamlit import, so the records can be built and checked in unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Target = Literal["sandbox", "iterable"]


@dataclass
class Connection:
    """The project the session is connected to; the key stays in memory only."""

    target: Target
    region: str
    base_url: str | None
    api_key: str = field(repr=False)
    key_source: str
    key_fingerprint: str
    lists_count: int
    can_write: bool | None = None  # None until a write was tried

    @property
    def masked_key(self) -> str:
        """The key as shown on screen: only its last four characters."""
        return "•" * 8 + self.api_key[-4:]

    @property
    def label(self) -> str:
        """Short description for the sidebar."""
        if self.target == "sandbox":
            return "Sandbox (local)"
        return f"Iterable ({self.region.upper()})"


@dataclass
class LoadedFile:
    """A submissions file as loaded, with what is needed to reload it with other options."""

    name: str
    content: bytes = field(repr=False)
    submissions: Any                      # mapping.submissions.Submissions
    encoding: str | None = None           # override chosen by the analyst, None = detect
    delimiter: str | None = None
    profile: Any = None                   # per-column profile DataFrame, computed once
    quality: Any = None                   # data-quality summary, computed once
    path: Any = None                      # Path of the copy in $WORKBENCH_HOME/inputs/

    @property
    def frame(self):
        """The loaded submissions as a DataFrame of raw strings."""
        return self.submissions.frame

    @property
    def report(self):
        """The reader's report (format, encoding, delimiter, header fixes, column kinds)."""
        return self.submissions.report

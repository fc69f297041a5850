"""Column classification (alias table), column profiles and the quality summary."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from mapping import submissions
from mapping.submissions import classify_column, column_profile, load, quality_summary

DOCS = Path(__file__).resolve().parent.parent / "docs" / "COLUMNS.md"

CLASSIFICATION = [
    ("Email", "widget", "email"),
    ("E-Mail", "widget", "email"),
    ("email_address", "widget", "email"),
    ("First name", "widget", "first_name"),
    ("firstName", "widget", "first_name"),
    ("LAST_NAME", "widget", "last_name"),
    ("Name", "widget", "full_name"),
    ("Phone number", "widget", "phone"),
    ("phoneNumber", "widget", "phone"),
    ("I agree to receive emails", "widget", "consent"),
    ("GDPR consent", "widget", "consent"),
    ("Opt-in", "widget", "consent"),
    ("Site language", "system", "site_language"),
    ("Browser", "system", "browser"),
    ("Operation system", "system", "operating_system"),
    ("Operating System", "system", "operating_system"),
    ("OS", "system", "operating_system"),
    ("Device", "system", "device"),
    ("Page URL", "system", "page_url"),
    ("pageUrl", "system", "page_url"),
    ("Referrer", "system", "referrer"),
    ("utm_source", "system", "utm_source"),
    ("UTM Campaign", "system", "utm_campaign"),
    ("utmMedium", "system", "utm_medium"),
    ("Subscribed at", "system", "submitted_at"),
    ("Submitted at", "system", "submitted_at"),
    ("Created", "system", "submitted_at"),
    ("createdAt", "system", "submitted_at"),
    ("Country code", "geolocation", "country_code"),
    ("country_code", "geolocation", "country_code"),
    ("countryCode", "geolocation", "country_code"),
    ("CC", "geolocation", "country_code"),
    ("COUNTRY-CODE", "geolocation", "country_code"),
    ("Country", "geolocation", "country"),
    ("City", "geolocation", "city"),
    (" City\u00a0", "geolocation", "city"),
    ("Favourite colour", "widget", None),
    ("Column 3", "widget", None),
]


@pytest.mark.parametrize(("header", "kind", "role"), CLASSIFICATION)
def test_classify_column(header, kind, role):
    info = classify_column(header)
    assert (info.kind, info.role) == (kind, role)
    assert info.original == header
    assert info.name == header.strip(" \u00a0")


def documented_aliases() -> dict[str, tuple[str, set[str]]]:
    """role -> (kind, aliases) as listed in the table of docs/COLUMNS.md."""
    table = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\| (widget|system|geolocation) \| `(\w+)` \| (.*) \|", line)
        if match:
            kind, role, aliases = match.groups()
            table[role] = (kind, set(re.findall(r"`([^`]+)`", aliases)))
    return table


def test_docs_list_exactly_the_alias_table():
    in_code = {role: (kind, set(aliases))
               for role, (kind, aliases) in submissions.COLUMN_ALIASES.items()}
    assert documented_aliases() == in_code


def test_aliases_do_not_clash():
    seen: dict[str, str] = {}
    for role, (_, aliases) in submissions.COLUMN_ALIASES.items():
        for alias in aliases:
            key = submissions.header_key(alias)
            assert seen.setdefault(key, role) == role, f"{alias!r} is listed for two roles"


@pytest.mark.parametrize(("header", "key"), [
    ("countryCode", "country code"), ("country_code", "country code"),
    ("Country-Code:", "country code"),
    ("  Page   URL ", "page url"), ("pageURL", "page url"), ("utm.source", "utm source"),
])
def test_header_key(header, key):
    assert submissions.header_key(header) == key


def test_column_profile():
    frame = load(b"Email,City\na@example.com,Berlin\nb@example.com,\nc@example.com,Berlin\n",
                 name="a.csv").frame
    profile = column_profile(frame)
    assert list(profile.index) == ["Email", "City"]
    assert profile.loc["City"].to_dict() == {
        "kind": "geolocation", "role": "city", "filled": pytest.approx(2 / 3, abs=1e-4),
        "distinct": 1, "examples": "Berlin"}
    assert profile.loc["Email", "examples"] == "a@example.com, b@example.com, c@example.com"


def test_column_profile_of_an_empty_frame():
    profile = column_profile(pd.DataFrame({"Email": pd.Series([], dtype="str")}))
    assert profile.loc["Email", "filled"] == 0.0


def test_quality_summary_counts_email_problems():
    text = ("Email,Name\nanna@example.com,A\nANNA@example.com,A2\nuser @example.com,B\n"
            ",C\nbob@example.org,\n")
    loaded = load(text.encode(), name="a.csv")
    summary = quality_summary(loaded.frame, loaded.report)
    assert summary == {
        "rows": 5, "email_column": "Email", "missing_emails": 1, "invalid_emails": 1,
        "duplicate_emails": 1, "empty_values": {"Email": 1, "Name": 1}}


def test_quality_summary_without_email_column():
    frame = load(b"Name\nA\n", name="a.csv").frame
    summary = quality_summary(frame)
    assert summary["email_column"] is None
    assert summary["invalid_emails"] == 0

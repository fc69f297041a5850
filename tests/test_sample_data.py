"""The bundled sample: reproducible from its generator, realistic, and syncable to the sandbox."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from mapping import normalize
from mapping.submissions import load, quality_summary

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
COLUMNS = [
    "Email", "First name", "Last name", "Phone number", "I agree to receive emails",
    "Site language", "Browser", "Operation system", "Device", "Country code", "Country", "City",
    "Page URL", "Subscribed at",
]


@pytest.fixture(scope="module")
def generator():
    """sample_data/generate.py imported as a module."""
    spec = importlib.util.spec_from_file_location("sample_generate", SAMPLE_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def sample():
    return load(SAMPLE_DIR / "submissions.csv")


def test_generator_reproduces_the_committed_files_byte_for_byte(generator, tmp_path):
    generator.main(["--out", str(tmp_path)])
    for name in ("submissions.csv", "mapping.json"):
        assert (tmp_path / name).read_bytes() == (SAMPLE_DIR / name).read_bytes(), (
            f"sample_data/{name} differs from what generate.py writes; run "
            "python sample_data/generate.py and commit the result")


def test_columns_and_size(sample):
    assert list(sample.frame.columns) == COLUMNS
    assert sample.report.rows >= 300
    assert sample.report.header_fixes == []
    assert sample.report.encoding == "utf-8"
    kinds = {info.name: info.kind for info in sample.report.columns}
    assert kinds["Email"] == kinds["I agree to receive emails"] == "widget"
    assert kinds["Operation system"] == kinds["Subscribed at"] == "system"
    assert kinds["Country code"] == kinds["City"] == "geolocation"


def test_names_are_international(sample):
    names = " ".join(sample.frame["First name"].dropna()) + " ".join(
        sample.frame["Last name"].dropna())
    assert any(ch in names for ch in "äöüéíñçł")        # accents
    assert any("\u0400" <= ch <= "\u04ff" for ch in names)  # Cyrillic
    assert any("\u4e00" <= ch <= "\u9fff" for ch in names)  # Chinese / Japanese characters


def test_validation_cases_are_present(sample):
    summary = quality_summary(sample.frame, sample.report)
    assert summary["invalid_emails"] == 5
    assert summary["duplicate_emails"] == 4
    assert summary["missing_emails"] == 1
    assert summary["empty_values"]["Phone number"] > 30
    assert summary["empty_values"]["City"] > 5


def test_emails_use_example_domains_only(sample):
    domains = sample.frame["Email"].dropna().str.strip().str.lower().str.rsplit("@", n=1).str[-1]
    valid = domains[domains.isin(["example.com", "example.org", "example.net"])]
    assert len(valid) >= len(domains) - 5


def test_values_convert_as_the_mapping_says(sample):
    frame = sample.frame
    consent = normalize.boolean(frame["I agree to receive emails"], empty_is_false=True)
    assert consent.codes.isna().all()
    assert 0.5 < consent.values.mean() < 0.95
    assert set(frame["I agree to receive emails"].dropna()) >= {"Ja", "Oui", "Tak", "Так", "はい"}

    dates = normalize.date(frame["Subscribed at"], date_order="DMY")
    assert dates.codes.isna().all()
    phones = normalize.phone(frame["Phone number"], region="DE")
    assert phones.codes.value_counts().to_dict() == {"invalid_phone": 2}
    assert normalize.country(frame["Country code"]).codes.isna().all()
    assert normalize.country(frame["Country"]).codes.isna().all()
    assert frame["Phone number"].str.startswith("0").any()       # German national format
    assert frame["Phone number"].str.startswith("+1 (").any()    # North American layout


def test_mapping_file_is_version_1_for_list_102():
    mapping = json.loads((SAMPLE_DIR / "mapping.json").read_text(encoding="utf-8"))
    assert mapping["version"] == 1
    assert mapping["list_id"] == 102
    assert {field["source"] for field in mapping["fields"]} <= set(COLUMNS)
    targets = {field["target"]: field for field in mapping["fields"]}
    assert targets["phoneNumber"]["converter"] == "phone"
    assert targets["consent"]["empty_is_false"] is True
    assert targets["signupDate"] == {"source": "Subscribed at", "target": "signupDate",
                                     "type": "date", "date_order": "DMY", "timezone": "UTC"}
    assert mapping["static_fields"] == [
        {"target": "signupSource", "value": "spring-sale-popup", "type": "string"}]


def test_mapping_loads_with_the_config_model():
    config = pytest.importorskip("mapping.config", reason="mapping.config is not there yet")
    loaded = config.MappingConfig.load(SAMPLE_DIR / "mapping.json")
    assert loaded.list_id == 102
    assert len(loaded.fields) == 10


def test_large_synthetic_rows_have_the_sample_columns(generator, tmp_path):
    generator.main(["--rows", "2000", "--out", str(tmp_path)])
    big = load(tmp_path / "submissions.csv")
    assert list(big.frame.columns) == COLUMNS
    assert big.report.rows == 2000
    assert not big.frame["Email"].str.lower().duplicated().any()
    assert normalize.email(big.frame["Email"]).codes.isna().all()


def test_sample_syncs_to_the_sandbox(sandbox):
    config = pytest.importorskip("mapping.config", reason="mapping.config is not there yet")
    transform = pytest.importorskip("mapping.transform", reason="mapping.transform missing")
    payload = pytest.importorskip("mapping.payload", reason="mapping.payload missing")
    from mapping.iterable import IterableClient

    mapping = config.MappingConfig.load(SAMPLE_DIR / "mapping.json")
    frame = load(SAMPLE_DIR / "submissions.csv").frame
    with IterableClient(sandbox.api_key, base_url=sandbox.base_url) as client:
        result = transform.apply(frame, mapping, client.get_fields())
        blocking = set(result.issues.loc[result.issues["severity"] == "error", "code"])
        assert blocking == {"invalid_email", "invalid_phone", "missing_identifier"}
        sent = 0
        for batch in payload.batches_for(result, mapping):
            response = client.post_raw(batch.endpoint, batch.body)
            assert response.fail_count == 0
            sent += response.success_count
        assert sent == int(result.sendable.sum()) >= 340
        assert client.list_size(102) == sent
        user = client.get_user_by_email("lukas.schmidt@example.org")
    fields = user.get("dataFields", user)
    assert fields["signupSource"] == "spring-sale-popup"
    assert fields["signupDate"] == "2026-03-01 08:24:00 +00:00"
    assert fields["consent"] is True

"""Write seed inputs for the atheris harnesses, so fuzzing starts from valid files.

    python fuzz/seeds.py /tmp/corpus-mapping /tmp/corpus-submissions
    python fuzz/fuzz_mapping_file.py /tmp/corpus-mapping -atheris_runs=200000
    python fuzz/fuzz_submissions.py /tmp/corpus-submissions -atheris_runs=50000 -rss_limit_mb=1024

atheris adds the inputs that reach new code to these folders, so keep them outside the
repository.
"""

import io
import json
import sys
from pathlib import Path

# The first byte of a submissions input picks one of these names (see fuzz_submissions.py).
NAMES = ("export.csv", "export.json", "export.jsonl", "export.xlsx", "export.txt", "export")

MAPPINGS = [
    {"version": 1},
    {
        "version": 1, "widget": "Spring sale pop-up", "list_id": 101, "identifier": "email",
        "fields": [
            {"source": "Email", "target": "email"},
            {"source": "Subscribed at", "target": "signupDate", "type": "date",
             "date_order": "DMY", "timezone": "Europe/Berlin"},
            {"source": "Phone", "target": "phoneNumber", "converter": "phone",
             "phone_region": "DE"},
            {"source": "Consent", "target": "consent", "type": "boolean", "empty_is_false": True},
        ],
        "static_fields": [{"target": "signupSource", "value": "claspo", "type": "string"},
                          {"target": "importedAt", "value": "{{today}}", "type": "date"}],
        "options": {"duplicates": "merge", "create_new_fields": False,
                    "decimal_separator": ","},
    },
]

ROWS = [
    ["Email", "First name", "Phone", "Consent", "Subscribed at"],
    ["anna@example.com", "Anna", "+49 151 2345678", "Yes", "2024-03-01 10:15:00"],
    ["björn@example.de", "Björn", "0151 9876543", "", "01.03.2024"],
]


def submission_seeds() -> dict[str, bytes]:
    header, *rows = ROWS
    records = [dict(zip(header, row)) for row in rows]
    csv_text = "\n".join(",".join(row) for row in ROWS) + "\n"
    return {
        "csv": csv_text.encode("utf-8"),
        "csv-semicolon": csv_text.replace(",", ";").encode("cp1252"),
        "json": json.dumps(records, ensure_ascii=False).encode("utf-8"),
        "jsonl": "\n".join(json.dumps(r) for r in records).encode("utf-8"),
        "xlsx": _xlsx(ROWS),
    }


def _xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def write_seeds(mapping_folder: Path, submissions_folder: Path) -> None:
    mapping_folder.mkdir(parents=True, exist_ok=True)
    submissions_folder.mkdir(parents=True, exist_ok=True)
    for number, mapping in enumerate(MAPPINGS):
        (mapping_folder / f"seed-{number}.json").write_text(json.dumps(mapping, indent=2))
    names = NAMES
    for label, content in submission_seeds().items():
        extension = "." + label.split("-")[0]
        selector = next(i for i, name in enumerate(names) if name.endswith(extension))
        (submissions_folder / f"seed-{label}").write_bytes(bytes([selector]) + content)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python fuzz/seeds.py MAPPING_CORPUS_DIR SUBMISSIONS_CORPUS_DIR")
    write_seeds(Path(sys.argv[1]), Path(sys.argv[2]))

"""Generate the sample export of widget submissions and its mapping file.

    python sample_data/generate.py            # rewrites submissions.csv and mapping.json here
    python sample_data/generate.py --out DIR  # writes them to DIR instead
    python sample_data/generate.py --rows 1000000 --out /tmp/big   # a large synthetic file

The data is synthetic: names come from the small lists below, every email address is at
example.com, example.org or example.net (domains reserved for examples), and phone numbers are
random digits in each country's usual layout (US ones in the fictional 555-01xx range). The same
seed always gives the same bytes; tests/test_sample_data.py checks that the committed files match.

What the sample exercises: international names (accents, Cyrillic, Chinese and Japanese
characters), empty optional values, consent answers in several spellings and languages, local
phone formats, day-first dates ("25/03/2026 14:05"), a few invalid emails, a few duplicates of
the same address in another letter case, and one row without an email.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

SEED = 20260315
SAMPLE_ROWS = 360
HERE = Path(__file__).resolve().parent
COLUMNS = [
    "Email", "First name", "Last name", "Phone number", "I agree to receive emails",
    "Site language", "Browser", "Operation system", "Device", "Country code", "Country", "City",
    "Page URL", "Subscribed at",
]
DOMAINS = ("example.com", "example.org", "example.net")
FIRST_SUBMISSION = datetime(2026, 3, 1, 8, 0)
CAMPAIGN_SECONDS = 45 * 24 * 3600


@dataclass(frozen=True)
class Country:
    """Names, cities, phone layouts and consent words for visitors from one country."""

    code: str
    name: str
    language: str
    cities: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    phone_layouts: tuple[str, ...]  # "#" is a random digit
    consent_yes: tuple[str, ...]
    weight: int


# Names in scripts other than Latin carry their romanised form after a "|", used for emails.
COUNTRIES = (
    Country("DE", "Germany", "de", ("Berlin", "München", "Hamburg", "Köln", "Leipzig"),
            ("Anna", "Lukas", "Jürgen", "Sophie", "Maximilian", "Lena", "Jörg", "Käthe"),
            ("Schmidt", "Müller", "Weiß", "Becker", "Schäfer", "Hoffmann", "Groß"),
            ("0151 ########", "0176 ########", "+49 160 #######", "030 ########"),
            ("Ja", "ja", "Yes", "1"), 26),
    Country("FR", "France", "fr", ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes"),
            ("Chloé", "Léa", "Émile", "François", "Zoé", "Hélène", "Noël"),
            ("Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau", "Béranger"),
            ("+33 6 1# ## ## ##", "+33 7 8# ## ## ##"), ("Oui", "oui", "on"), 12),
    Country("ES", "Spain", "es", ("Madrid", "Barcelona", "Sevilla", "Valencia", "Málaga"),
            ("José", "María", "Lucía", "Álvaro", "Inés", "Íñigo"),
            ("García", "Martínez", "López", "Sánchez", "Núñez", "Pérez"),
            ("+34 6## ### ###",), ("Sí", "si", "true"), 9),
    Country("IT", "Italy", "it", ("Roma", "Milano", "Napoli", "Torino", "Firenze"),
            ("Giulia", "Niccolò", "Francesca", "Matteo", "Chiara"),
            ("Rossi", "Bianchi", "Esposito", "Colombo", "Ricci"),
            ("+39 34# ### ####", "+39 33# #######"), ("Sì", "sì", "yes"), 7),
    Country("PT", "Portugal", "pt", ("Lisboa", "Porto", "Braga", "Coimbra"),
            ("João", "Inês", "Gonçalo", "Beatriz"),
            ("Silva", "Gonçalves", "Conceição", "Ferreira"),
            ("+351 91# ### ###", "+351 96# ### ###"), ("Sim", "sim"), 4),
    Country("PL", "Poland", "pl", ("Warszawa", "Kraków", "Łódź", "Wrocław", "Gdańsk"),
            ("Zofia", "Łukasz", "Małgorzata", "Paweł", "Agnieszka"),
            ("Nowak", "Wiśniewski", "Wójcik", "Kowalczyk", "Zieliński"),
            ("+48 5## ### ###", "+48 6## ### ###"), ("Tak", "tak"), 7),
    Country("UA", "Ukraine", "uk", ("Kyiv", "Lviv", "Odesa", "Kharkiv"),
            ("Олена|Olena", "Андрій|Andrii", "Тарас|Taras", "Ірина|Iryna", "Оксана|Oksana"),
            ("Шевченко|Shevchenko", "Коваленко|Kovalenko", "Бондаренко|Bondarenko",
             "Мельник|Melnyk"),
            ("+380 67 ### ## ##", "+380 50 ### ####"), ("Так", "так"), 7),
    Country("NL", "Netherlands", "nl", ("Amsterdam", "Rotterdam", "Utrecht"),
            ("Sanne", "Daan", "Femke", "Bram"), ("de Vries", "van Dijk", "Jansen", "Bakker"),
            ("+31 6 1#######", "+31 6 4#######"), ("Ja", "ja"), 5),
    Country("US", "United States", "en-US", ("New York", "Chicago", "Austin", "Seattle"),
            ("Emily", "Michael", "Olivia", "James"), ("Johnson", "Williams", "Brown", "O'Connor"),
            ("+1 (201) 555-01##", "+1 212-555-01##"), ("Yes", "yes", "checked", "true"), 9),
    Country("GB", "United Kingdom", "en-GB", ("London", "Manchester", "Edinburgh", "Bristol"),
            ("Oliver", "Amelia", "Harry", "Isla"), ("Smith", "Taylor", "Evans", "Davies"),
            ("+44 7400 ######", "+44 7700 1#####"), ("Yes", "yes", "on"), 6),
    Country("JP", "Japan", "ja", ("Tokyo", "Osaka", "Kyoto"),
            ("陽翔|Haruto", "結衣|Yui", "蓮|Ren", "美咲|Misaki"),
            ("佐藤|Sato", "鈴木|Suzuki", "高橋|Takahashi", "田中|Tanaka"),
            ("+81 90-1###-####", "+81 80-3###-####"), ("はい", "Yes"), 4),
    Country("CN", "China", "zh", ("Shanghai", "Beijing", "Shenzhen"),
            ("伟|Wei", "芳|Fang", "静|Jing", "磊|Lei"), ("王|Wang", "李|Li", "张|Zhang", "刘|Liu"),
            ("+86 139 #### ####", "+86 138 #### ####"), ("是", "Yes"), 4),
)
CONSENT_NO = ("", "", "", "", "No", "false", "0", "unchecked")
BROWSERS = {
    "desktop": (("Chrome", "Windows"), ("Edge", "Windows"), ("Firefox", "Windows"),
                ("Safari", "macOS"), ("Chrome", "macOS"), ("Firefox", "Linux")),
    "mobile": (("Safari", "iOS"), ("Chrome", "Android"), ("Samsung Internet", "Android"),
               ("Chrome", "iOS")),
    "tablet": (("Safari", "iOS"), ("Chrome", "Android")),
}
PAGES = ("spring-sale", "spring-sale/shoes", "spring-sale/jackets", "", "new-arrivals")
UTM = ("", "?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale",
       "?utm_source=instagram&utm_medium=social", "?utm_source=google&utm_medium=cpc")
# Rows that exercise validation; the position is the data row (1-based) they replace.
INVALID_EMAILS = {
    17: "anna.schmidt@example",
    58: "user @example.com",
    121: "jean.dupont@@example.org",
    184: "lukas.weber.example.com",
    251: "maria.garcia@example.test",
}
DUPLICATE_ROWS = {97: 12, 163: 40, 222: 75, 301: 150}  # row -> earlier row whose email it reuses
BLANK_EMAIL_ROWS = (140,)
PADDED_EMAIL_ROWS = (33, 276)  # emails with surrounding spaces, valid once trimmed
INVALID_PHONES = {88: "+44 7700 900123", 205: "12345"}  # a drama number, too short


def romanised(name: str) -> str:
    """Return the ASCII form of a name for an email address ("Jürgen" -> "juergen")."""
    if "|" in name:
        name = name.split("|", 1)[1]
    for letter, replacement in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("ł", "l"),
                                ("Ł", "L")):
        name = name.replace(letter, replacement)
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if ch.isascii())
    return "".join(ch for ch in ascii_only.lower() if ch.isalnum())


def shown(name: str) -> str:
    """Return the name as the visitor typed it (the native script)."""
    return name.split("|", 1)[0]


def fill_digits(layout: str, rng: random.Random) -> str:
    """Replace each "#" with a random digit."""
    return "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in layout)


class SubmissionFactory:
    """Makes one synthetic submission at a time from a seeded random generator."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.used_emails: set[str] = set()
        self.weights = [country.weight for country in COUNTRIES]

    def email_for(self, first: str, last: str) -> str:
        """Return a unique address at an example domain, sometimes with capitals as people type."""
        local = f"{romanised(first)}.{romanised(last)}"
        candidate = local
        while candidate in self.used_emails:
            candidate = f"{local}{self.rng.randrange(2, 99)}"
        self.used_emails.add(candidate)
        if self.rng.random() < 0.15:
            candidate = candidate.title()
        return f"{candidate}@{self.rng.choice(DOMAINS)}"

    def consent(self, country: Country) -> str:
        """Return a ticked checkbox in the site's language, or an unticked/declined one."""
        if self.rng.random() < 0.8:
            return self.rng.choice(country.consent_yes)
        return self.rng.choice(CONSENT_NO)

    def optional(self, value: str, empty_share: float) -> str:
        """Return the value, or empty in about `empty_share` of the rows."""
        return "" if self.rng.random() < empty_share else value

    def row(self, moment: datetime) -> dict[str, str]:
        """Return one submission at `moment`."""
        rng = self.rng
        country = rng.choices(COUNTRIES, weights=self.weights)[0]
        first, last = rng.choice(country.first_names), rng.choice(country.last_names)
        device = rng.choices(("desktop", "mobile", "tablet"), weights=(5, 6, 1))[0]
        browser, system = rng.choice(BROWSERS[device])
        has_location = rng.random() > 0.04
        language = country.language.split("-")[0]
        return {
            "Email": self.email_for(first, last),
            "First name": self.optional(shown(first), 0.06),
            "Last name": self.optional(shown(last), 0.15),
            "Phone number": self.optional(fill_digits(rng.choice(country.phone_layouts), rng),
                                          0.3),
            "I agree to receive emails": self.consent(country),
            "Site language": country.language,
            "Browser": browser,
            "Operation system": system,
            "Device": device,
            "Country code": country.code if has_location else "",
            "Country": country.name if has_location else "",
            "City": rng.choice(country.cities) if has_location and rng.random() > 0.05 else "",
            "Page URL": f"https://shop.example.com/{language}/{rng.choice(PAGES)}"
                        f"{rng.choice(UTM)}",
            "Subscribed at": moment.strftime("%d/%m/%Y %H:%M"),
        }


def submission_times(count: int, rng: random.Random) -> list[datetime]:
    """`count` sorted moments spread over the campaign."""
    offsets = sorted(rng.randrange(CAMPAIGN_SECONDS) for _ in range(count))
    return [FIRST_SUBMISSION + timedelta(seconds=offset) for offset in offsets]


def iter_rows(count: int, seed: int = SEED) -> Iterator[dict[str, str]]:
    """`count` plain synthetic submissions (no deliberate faults), for benchmarks."""
    factory = SubmissionFactory(seed)
    step = CAMPAIGN_SECONDS / max(count, 1)
    for number in range(count):
        if len(factory.used_emails) > 10_000:  # the number added below keeps emails unique
            factory.used_emails.clear()
        row = factory.row(FIRST_SUBMISSION + timedelta(seconds=int(number * step)))
        row["Email"] = row["Email"].replace("@", f".{number}@", 1)
        yield row


def sample_rows(count: int = SAMPLE_ROWS, seed: int = SEED) -> list[dict[str, str]]:
    """Return the sample: synthetic submissions plus the rows that exercise validation."""
    factory = SubmissionFactory(seed)
    rows = [factory.row(moment) for moment in submission_times(count, factory.rng)]
    for number, address in INVALID_EMAILS.items():
        rows[number - 1]["Email"] = address
    for number, earlier in DUPLICATE_ROWS.items():
        original = rows[earlier - 1]
        rows[number - 1]["Email"] = original["Email"].upper() if number % 2 else \
            original["Email"].title()
        for column in ("First name", "Last name", "Country code", "Country", "City"):
            rows[number - 1][column] = original[column]
    for number in BLANK_EMAIL_ROWS:
        rows[number - 1]["Email"] = ""
    for number in PADDED_EMAIL_ROWS:
        rows[number - 1]["Email"] = f" {rows[number - 1]['Email']} "
    for number, phone in INVALID_PHONES.items():
        rows[number - 1]["Phone number"] = phone
    return rows


def write_csv(path: Path, rows) -> None:
    """Write rows as UTF-8 CSV with the sample's columns."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def sample_mapping() -> dict:
    """The mapping file (format version 1) that sends the sample to list 102 in the sandbox."""
    return {
        "version": 1,
        "widget": "Spring sale pop-up",
        "list_id": 102,
        "identifier": "email",
        "fields": [
            {"source": "Email", "target": "email"},
            {"source": "First name", "target": "firstName"},
            {"source": "Last name", "target": "lastName"},
            {"source": "Phone number", "target": "phoneNumber", "converter": "phone",
             "phone_region": "DE"},
            {"source": "I agree to receive emails", "target": "consent", "type": "boolean",
             "converter": "boolean", "empty_is_false": True},
            {"source": "Site language", "target": "locale"},
            {"source": "Country code", "target": "countryCode"},
            {"source": "Country", "target": "country"},
            {"source": "City", "target": "city"},
            {"source": "Subscribed at", "target": "signupDate", "type": "date",
             "date_order": "DMY", "timezone": "UTC"},
        ],
        "static_fields": [{"target": "signupSource", "value": "spring-sale-popup",
                           "type": "string"}],
        "options": {},
    }


def write_sample(out_dir: Path) -> tuple[Path, Path]:
    """Write submissions.csv and mapping.json into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, mapping_path = out_dir / "submissions.csv", out_dir / "mapping.json"
    write_csv(csv_path, sample_rows())
    mapping_path.write_text(json.dumps(sample_mapping(), indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
    return csv_path, mapping_path


def main(argv: list[str] | None = None) -> None:
    """Command line entry: the sample by default, or `--rows N` plain synthetic rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into")
    parser.add_argument("--rows", type=int, help="write N synthetic rows instead of the sample")
    args = parser.parse_args(argv)
    if args.rows:
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv(args.out / "submissions.csv", iter_rows(args.rows))
        print(f"wrote {args.rows} rows to {args.out / 'submissions.csv'}")
        return
    for path in write_sample(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Regenerate `tlds.txt`, the top-level domains the email converter accepts.

Source: the ICANN section of the Public Suffix List as shipped by the `publicsuffixlist`
package on PyPI (a dev dependency). Every delegated top-level domain in IANA's root zone is in
that section; its last label is the top-level domain. Internationalised ones are stored in their
ASCII (xn--) form, which is how the email converter compares them.

Run: python -m mapping.normalize.update_tlds
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

TLD_FILE = Path(__file__).with_name("tlds.txt")
ICANN_BEGIN = "===BEGIN ICANN DOMAINS==="
ICANN_END = "===END ICANN DOMAINS==="


def public_suffix_list_text() -> tuple[str, str]:
    """The Public Suffix List shipped by `publicsuffixlist`, and the package version."""
    from importlib import metadata

    import publicsuffixlist

    path = Path(publicsuffixlist.__file__).with_name("public_suffix_list.dat")
    return path.read_text(encoding="utf-8"), metadata.version("publicsuffixlist")


def icann_top_level_domains(text: str) -> list[str]:
    """Return the top-level domains of the rules in the ICANN section, in ASCII form."""
    tlds: set[str] = set()
    inside = False
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if ICANN_BEGIN in line:
            inside = True
        elif ICANN_END in line:
            break
        elif inside and line and not line.startswith("//"):
            label = line.split()[0].lstrip("!").split(".")[-1]
            tlds.add(label.encode("idna").decode("ascii").lower())
    return sorted(tlds)


def write_tld_file(tlds: list[str], version: str) -> None:
    """Write the list with a header saying where it came from."""
    header = [
        "# Top-level domains accepted by mapping.normalize.email (ASCII form, one per line).",
        f"# Source: ICANN section of the Public Suffix List, publicsuffixlist {version} (PyPI).",
        "# Regenerate with: python -m mapping.normalize.update_tlds",
    ]
    TLD_FILE.write_text("\n".join(header + tlds) + "\n", encoding="utf-8")


def main() -> None:
    """Regenerate the file and print how many domains it contains."""
    text, version = public_suffix_list_text()
    tlds = icann_top_level_domains(text)
    write_tld_file(tlds, version)
    print(f"wrote {len(tlds)} top-level domains to {TLD_FILE}")


if __name__ == "__main__":
    main()

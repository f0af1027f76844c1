"""Renders the table of config keys in docs/configuration.md from the settings code (their defaults and doc
texts). `python scripts/config_table.py --write` updates the page; a test fails when they drift apart."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.settings import GCP_KEYS, SECRET_DOCS, Settings
from stackconfig.reader import reference

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"
NAMESPACE = "image-sharing"


def render() -> str:
    rows = [*GCP_KEYS, *reference(Settings, f"{NAMESPACE}:"),
            *((f"{NAMESPACE}:{key} (secret)", "(unset)", doc) for key, doc in SECRET_DOCS.items())]
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    # Literal defaults in code font; descriptions of defaults such as "(unset)" as plain text.
    lines += [f"| `{key}` | {default if default.startswith('(') else f'`{default}`'} | {doc} |"
              for key, default, doc in rows]
    return "\n".join(lines)


SECTION = re.compile(re.escape(START) + r"(.*?)" + re.escape(END), re.S)


def in_page(text: str) -> str:
    found = SECTION.search(text)
    return found.group(1).strip() if found else ""


def main() -> None:
    if "--write" in sys.argv:
        text = PAGE.read_text()
        PAGE.write_text(SECTION.sub(lambda _: f"{START}\n{render()}\n{END}", text))
    else:
        print(render())


if __name__ == "__main__":
    main()

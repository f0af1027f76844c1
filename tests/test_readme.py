"""The README is the front door: its config table matches the settings code, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from scripts import config_table

ROOT = Path(__file__).resolve().parent.parent


def test_config_table_matches_settings_code() -> None:
    assert config_table.in_readme((ROOT / "README.md").read_text()) == config_table.render(), (
        "run `python scripts/config_table.py --write`")


def test_every_settings_key_is_documented() -> None:
    table = config_table.render()
    for key in ("gcp:project", "image-sharing:artifactRegistry.cleanup.keepRecent",
                "image-sharing:registryVm.directAccessCidrs", "image-sharing:githubToken (secret)"):
        assert f"`{key}`" in table


def test_readme_make_targets_exist() -> None:
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    # `make X` in inline code or at the start of a line in a code block
    used = set(re.findall(r"(?:^|`)make ([a-z][a-z-]*)", (ROOT / "README.md").read_text(), re.M))
    assert {"test", "up"} <= used
    assert used <= targets

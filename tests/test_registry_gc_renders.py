"""Golden renders of the registry's garbage-collection units (components/registry_config.py `gc_units`),
and of the registry unit, its two configs (read-write and read-only) and user-data of a stack whose VMs
share a bucket, word for word: on its own disk and on a shared bucket (the read-only window, its handshake
and the mode timer), with and without the credential helper an Artifact Registry image needs. systemd warns
and goes on past a misspelled key and Distribution ignores one it does not know, so a changed key, path,
flag or timeout would fail nowhere else before a VM runs it; here any change fails.

After an intended change: `.venv/bin/python -m tests.test_registry_gc_renders --write`, then read the diff."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from components import registry_config as rc
from components.registry_config import GcsStorage, VmSecret
from components.settings import RegistrySettings

GOLDEN = Path(__file__).parent / "data" / "registry_units"
AR_IMAGE = "europe-docker.pkg.dev/p-123456/base/registry:2.8.3"
AR_HOST = "europe-docker.pkg.dev"
BUCKET = "acme-registry-dev"
SECRETS = [VmSecret("registry-htpasswd", "htpasswd"), VmSecret("registry-http-secret", "http-secret.env")]


def gc(name: str, *args: object) -> dict[str, Callable[[], str]]:
    """One golden file per unit gc_units writes for ARGS."""
    units = rc.gc_units(RegistrySettings(), *args)  # type: ignore[arg-type]
    return {f"{name}.{unit}": _constant(text) for unit, text in units.items()}


def _constant(text: str) -> Callable[[], str]:
    return lambda: text


def _user_data() -> str:
    """User-data with the two scripts replaced by markers (they are files of their own, pinned below)."""
    text = rc.cloud_init("CONFIG\n", "UNIT\n", False, {
        "registry-gc.service": "G\n", "registry-gc.timer": "T\n", "registry-mode.service": "M\n",
        "registry-mode.timer": "MT\n"}, readonly_config_yml="READONLY\n")
    for script in (rc.GC_WINDOW_SCRIPT, rc.FETCH_SECRETS_SCRIPT):
        block = textwrap.indent(script.read_text(), "    ")
        assert block in text
        text = text.replace(block, f"    <{script.name}>\n")
    return text


def cases() -> dict[str, Callable[[], str]]:
    return {
        **gc("disk", "registry:2.8.3", True, "Sat *-*-* 19:00:00 UTC"),
        **gc("disk-helper", AR_IMAGE, True, "daily", AR_HOST),
        **gc("shared", "registry:2.8.3", False, "Sun *-*-* 03:00:00 UTC", None, BUCKET),
        **gc("shared-helper", AR_IMAGE, False, "weekly", AR_HOST, BUCKET),
        "shared-helper.registry.service": lambda: rc.vm_unit(
            RegistrySettings(port=5443), AR_IMAGE, "proj", SECRETS, False, AR_HOST, BUCKET),
        "shared.user-data.yaml": _user_data,
        # What a registry serves while a window is open: pulls only, and no upload purging meanwhile.
        "shared.config-readonly.yml": lambda: rc.render_yaml(rc.registry_config(
            RegistrySettings(delete_enabled=True), GcsStorage(BUCKET), http_secret=None, listen_host="0.0.0.0",
            debug_host="", read_only=True)),
        "shared.config.yml": lambda: rc.render_yaml(rc.registry_config(
            RegistrySettings(delete_enabled=True), GcsStorage(BUCKET), http_secret=None, listen_host="0.0.0.0",
            debug_host="")),
    }


@pytest.mark.parametrize("name", list(cases()))
def test_render_in_full(name: str) -> None:
    assert cases()[name]() == (GOLDEN / name).read_text()


def test_the_golden_files_are_all_used() -> None:
    assert sorted(path.name for path in GOLDEN.iterdir()) == sorted(cases())


def test_user_data_carries_the_scripts_themselves() -> None:
    """The golden user-data shows markers for the two scripts (files of their own): here, that they are the files."""
    data = yaml.safe_load(rc.cloud_init("C\n", "U\n", False, readonly_config_yml="R\n"))
    contents = {item["path"]: item["content"] for item in data["write_files"]}
    assert contents["/etc/registry/gc-window.sh"] == rc.GC_WINDOW_SCRIPT.read_text()
    assert contents["/etc/registry/fetch-secrets.sh"] == rc.FETCH_SECRETS_SCRIPT.read_text()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for stale in GOLDEN.iterdir():
        stale.unlink()
    for case, make in cases().items():
        (GOLDEN / case).write_text(make())

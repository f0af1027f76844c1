"""The snapshot checks of components/data_disk_snapshot.py on their own: the age bound at its edge, the
message in full, and the lookup's error paths (a snapshot whose source disk is gone still gets the clear
error, never an AttributeError from inside an apply)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pytest

from components import data_disk_snapshot
from components.data_disk_snapshot import StaleSnapshotError, check_age, snapshot_ref, verified_snapshot
from tests import harness

TAKEN = "2026-01-01T00:00:00+00:00"
DISK_URL = "https://www.googleapis.com/compute/v1/projects/p/zones/z/disks/registry-data"


def test_snapshot_ref_reads_a_bare_name_or_a_path() -> None:
    assert snapshot_ref("s1", "p-1234") == ("p-1234", "s1")
    assert snapshot_ref("projects/other-5678/global/snapshots/s2", "p-1234") == ("other-5678", "s2")


def test_check_age_accepts_a_snapshot_exactly_as_old_as_allowed() -> None:
    taken = datetime.fromisoformat(TAKEN)
    check_age("s1", TAKEN, DISK_URL, 24, taken + timedelta(hours=24))  # no error: the bound is inclusive
    with pytest.raises(StaleSnapshotError):
        check_age("s1", TAKEN, DISK_URL, 24, taken + timedelta(hours=24, seconds=1))


@pytest.mark.parametrize(("age", "said", "bound"), [
    (timedelta(days=30, hours=5, minutes=59), "30 days, 5 h", 725),  # hours are whole hours, rounded down
    (timedelta(days=1, hours=6), "1 days, 6 h", 30),
])
def test_check_age_says_how_old_from_which_disk_and_what_bound_would_take_it(age: timedelta, said: str,
                                                                           bound: int) -> None:
    with pytest.raises(StaleSnapshotError) as err:
        check_age("s1", TAKEN, DISK_URL, 24, datetime.fromisoformat(TAKEN) + age)
    assert str(err.value) == (
        f"registryVm.dataDiskSnapshot s1 was taken {TAKEN} ({said} ago) from registry-data: a disk created "
        "from it would lose everything pushed since. Stop the VM, take a new snapshot and name it "
        "(docs/self-hosted-registry.md), or, to go back to this backup on purpose, raise "
        f"registryVm.dataDiskSnapshotMaxAgeHours above {bound}.")


class _SnapshotMocks(harness._Mocks):
    """getSnapshot answers with the age and source disk a test sets."""

    age = timedelta(days=30)
    source_disk: str | None = None

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token != "gcp:compute/getSnapshot:getSnapshot":
            return super().call(args)
        self.invokes.append(harness.Invoke(args.token, dict(args.args), args.provider))
        found = {"name": args.args["name"], "project": args.args["project"], "id": "snapshot",
                 "creationTimestamp": (datetime.now(UTC) - self.age).isoformat()}
        if self.source_disk is not None:
            found["sourceDisk"] = self.source_disk
        return found


def _lookup(monkeypatch: pytest.MonkeyPatch, snapshot: str, age: timedelta,
            source_disk: str | None) -> harness.StackRun:
    monkeypatch.setattr(_SnapshotMocks, "age", age)
    monkeypatch.setattr(_SnapshotMocks, "source_disk", source_disk)
    monkeypatch.setattr(harness, "_Mocks", _SnapshotMocks)
    return harness.run_stack("dev", program=lambda: pulumi.export(
        "snapshot", verified_snapshot(snapshot, "p-1234", 24)))


def test_a_stale_snapshot_whose_source_disk_is_gone_gets_the_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot outlives its disk (that is what it is for): the provider then has no sourceDisk."""
    with pytest.raises(StaleSnapshotError, match=r"^registryVm.dataDiskSnapshot old-1 was taken .* from : a disk"):
        _lookup(monkeypatch, "old-1", timedelta(days=30), None)


def test_a_recent_snapshot_whose_source_disk_is_gone_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    run = _lookup(monkeypatch, "projects/other-5678/global/snapshots/s2", timedelta(hours=1), None)
    assert run.outputs["snapshot"] == "projects/other-5678/global/snapshots/s2"
    assert [i.args for i in run.invokes if i.token == "gcp:compute/getSnapshot:getSnapshot"] == [
        {"name": "s2", "project": "other-5678"}]


def test_a_stale_snapshot_names_its_source_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StaleSnapshotError, match=r" from registry-data: a disk created from it"):
        _lookup(monkeypatch, "old-2", timedelta(days=2), DISK_URL)


def test_the_replacement_warning_names_the_way_back() -> None:
    assert data_disk_snapshot.replacement_allowed_warning() == (
        "registryVm.allowDataDiskReplacement is on: the data disk is unprotected and any change of its type, zone "
        "or snapshot replaces it. Once the restore or move is done, set it back to false and remove "
        "registryVm.dataDiskSnapshot (`pulumi stack output registryDataDisk` lists the steps).")


def test_the_lookup_goes_through_the_provider_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi_gcp as gcp

    monkeypatch.setattr(_SnapshotMocks, "age", timedelta(hours=1))
    monkeypatch.setattr(_SnapshotMocks, "source_disk", DISK_URL)
    monkeypatch.setattr(harness, "_Mocks", _SnapshotMocks)

    def program() -> None:
        provider = gcp.Provider("snapshots", project="p-1234")
        pulumi.export("snapshot", verified_snapshot("s1", "p-1234", 24,
                                                    opts=pulumi.InvokeOutputOptions(provider=provider)))
    run = harness.run_stack("dev", program=program)
    [lookup] = [i for i in run.invokes if i.token == "gcp:compute/getSnapshot:getSnapshot"]
    assert lookup.provider.rsplit("::", 1)[0] == run.one("pulumi:providers:gcp", "snapshots").urn

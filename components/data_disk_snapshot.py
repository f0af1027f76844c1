"""The snapshot a replaced data disk is created from, checked before the disk is.

The provider's `snapshot` argument forces a new disk and is read back, so a restore leaves it set. Months
later, a zone or type move with allowDataDiskReplacement would rebuild the disk from that old snapshot and
lose every push since. So the disk ignores changes to it unless a replacement is allowed, and an allowed
replacement looks the snapshot up and refuses one older than registryVm.dataDiskSnapshotMaxAgeHours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pulumi
import pulumi_gcp as gcp


class StaleSnapshotError(Exception):
    """The snapshot predates what the user would keep: the disk is not created from it."""


def snapshot_ref(snapshot: str, project: str) -> tuple[str, str]:
    """(project, name) of `NAME` or `projects/P/global/snapshots/NAME`."""
    parts = snapshot.split("/")
    return (parts[1], parts[-1]) if len(parts) > 1 else (project, snapshot)


def check_age(name: str, created: str, source_disk: str, max_age_hours: int, now: datetime) -> None:
    """Raises, saying what to do, when the snapshot is older than max_age_hours."""
    age = now - datetime.fromisoformat(created)
    if age > timedelta(hours=max_age_hours):
        raise StaleSnapshotError(
            f"registryVm.dataDiskSnapshot {name} was taken {created} ({age.days} days, "
            f"{age.seconds // 3600} h ago) from {source_disk.rsplit('/', 1)[-1]}: a disk created from it "
            f"would lose everything pushed since. Stop the VM, take a new snapshot and name it "
            f"(docs/self-hosted-registry.md), or, to go back to this backup on purpose, raise "
            f"registryVm.dataDiskSnapshotMaxAgeHours above {age.days * 24 + age.seconds // 3600}.")


def verified_snapshot(snapshot: str, project: str, max_age_hours: int,
                      opts: pulumi.InvokeOutputOptions | None = None) -> pulumi.Output[str]:
    """The snapshot to create the disk from, resolved only once it is found recent enough."""
    snap_project, name = snapshot_ref(snapshot, project)
    found = gcp.compute.get_snapshot_output(name=name, project=snap_project, opts=opts)

    def checked(values: list[str]) -> str:
        check_age(name, values[0], values[1] or "", max_age_hours, datetime.now(UTC))
        return snapshot
    return pulumi.Output.all(found.creation_timestamp, found.source_disk).apply(checked)


def replacement_allowed_warning() -> str:
    return ("registryVm.allowDataDiskReplacement is on: the data disk is unprotected and any change of its "
            "type, zone or snapshot replaces it. Once the restore or move is done, set it back to false and "
            "remove registryVm.dataDiskSnapshot (`pulumi stack output registryDataDisk` lists the steps).")

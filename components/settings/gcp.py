"""The three `gcp:` keys the stack's provider reads, and nothing else of that namespace."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components import checks
from components.gcp_locations import REGIONS, ZONES
from stackconfig.reader import Problem, closest, suggest

DEFAULT_REGION = "asia-northeast3"
# Keys outside the settings dataclasses, with their rows in docs/configuration.md (key, default, meaning).
GCP_KEYS = (
    ("gcp:project", "(required on gcp)", "GCP project id the gcp target deploys into."),
    ("gcp:region", json.dumps(DEFAULT_REGION), "Region of the repository, the VM and the build trigger."),
    ("gcp:zone", "(first zone of the region)", "Zone of the registry VM and its disk."),
)


@dataclass(frozen=True)
class GcpSettings:
    project: str
    region: str
    zone: str


def unknown_gcp_keys(config: dict[str, Any], problems: list[Problem]) -> set[str]:
    """The explicit provider (components/providers.py) reads only these three: any other `gcp:` key
    would be silently ignored, so it is a typo or a setting that has no effect. Returns the keys the
    unknown ones most likely meant."""
    known = [key.split(":")[1] for key, _, _ in GCP_KEYS]
    meant: set[str] = set()
    for full, value in config.items():
        namespace, _, key = full.partition(":")
        if namespace == "gcp" and key not in known:
            close = closest(key, known)
            meant |= {close} if close else set()
            problems.append(Problem(full, value, f"a gcp key this program reads ({checks.short(key)} is not one: "
                                    f"the stack's gcp provider takes only {', '.join(known)}){suggest(key, known)}",
                                    unknown_key=True))
    return meant


def read_gcp(target: str | None, problems: list[Problem], misspelled: set[str]) -> GcpSettings | None:
    """`misspelled`: gcp keys an unknown key most likely meant; their absence is not reported again."""
    gcp = pulumi.Config("gcp")
    project, region, zone = gcp.get("project"), gcp.get("region"), gcp.get("zone")
    if target != "gcp":
        return None
    if project is None and "project" not in misspelled:
        problems.append(Problem("gcp:project", None,
                                "your GCP project id: `pulumi config set gcp:project MY-PROJECT`"))
    elif project is not None and not checks.PROJECT_ID.fullmatch(project):
        problems.append(Problem("gcp:project", project,
                                "a project id: 6-30 lowercase letters, digits, hyphens; letter first"))
    if region is None and "region" in misspelled:
        return None  # the zone would be checked against the default region, which is not the one meant
    region = region or DEFAULT_REGION
    if region not in ZONES:
        problems.append(Problem("gcp:region", region, f"a GCP region{suggest(region, REGIONS)}"))
        return None
    zone = zone or ZONES[region][0]
    if zone not in ZONES[region]:
        problems.append(Problem("gcp:zone", zone, f"a zone of {region}: {', '.join(ZONES[region])}"))
    if project is None or problems:
        return None
    return GcpSettings(project=project, region=region, zone=zone)

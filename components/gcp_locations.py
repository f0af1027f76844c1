"""Google Cloud regions and their zones, so a typo in `gcp:region` / `gcp:zone` fails at preview
instead of half-way through `pulumi up`.

Data from Google's published region list (2026). Most regions have zones a-c; the exceptions are
listed. A new region needs one line here."""

from __future__ import annotations

_REGIONS = [
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "northamerica-south1",
    "southamerica-east1",
    "southamerica-west1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
]

_ZONE_LETTERS_EXCEPTIONS = {
    "us-central1": "abcf",
    "us-east1": "bcd",
    "europe-west1": "bcd",
}

ZONES: dict[str, tuple[str, ...]] = {
    region: tuple(f"{region}-{letter}" for letter in _ZONE_LETTERS_EXCEPTIONS.get(region, "abc")) for region in _REGIONS
}

REGIONS: tuple[str, ...] = tuple(_REGIONS)
# Artifact Registry's multi-region locations (`us-docker.pkg.dev`, ...), next to every region.
ARTIFACT_REGISTRY_MULTI_REGIONS: tuple[str, ...] = ("us", "europe", "asia")

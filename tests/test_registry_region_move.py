"""A region change with `storage: gcs` and the same bucket name is not done in place, and loses nothing:
the bucket's location follows the region (Cloud Storage cannot change it, so the provider replaces the
bucket), its name stays (names are global), the replacement is created before the old bucket is deleted
(so Cloud Storage refuses it while the old one exists and the update stops), a bucket holding images is
never force-deleted, and in production it is protected. docs/self-hosted-registry.md says how to move."""

from __future__ import annotations

from tests.harness import ROOT, Resource, run_stack

NS = "image-sharing"
BUCKET = "gcp:storage/bucket:Bucket"
GCS = {"storage": "gcs", "bucketName": "acme-registry-images"}


def bucket_in(region: str, stack: str = "dev") -> Resource:
    run = run_stack(stack, overrides={f"{NS}:registryVm": GCS, "gcp:region": region, "gcp:zone": f"{region}-b"})
    return run.one(BUCKET)


def test_a_region_change_keeps_the_name_and_moves_the_location() -> None:
    before, after = bucket_in("asia-northeast3"), bucket_in("europe-west1")
    assert before.inputs["name"] == after.inputs["name"] == "acme-registry-images"
    assert (before.inputs["location"], after.inputs["location"]) == ("ASIA-NORTHEAST3", "EUROPE-WEST1")


def test_the_replacement_is_never_made_by_deleting_the_images_first() -> None:
    dev, prod = bucket_in("europe-west1"), bucket_in("europe-west1", "prod")
    assert dev.options["deleteBeforeReplace"] is False and dev.inputs["forceDestroy"] is False
    assert prod.protect is True and not dev.protect


def test_the_docs_say_how_to_move_the_images() -> None:
    page = (ROOT / "docs" / "self-hosted-registry.md").read_text()
    assert "**Region moves with `storage: gcs` are not done in place.**" in page
    assert "gcloud storage rsync gs://OLD-BUCKET gs://NEW-BUCKET --recursive" in page

"""APIs: exactly those the enabled features use, never disabled on destroy; labels set once on an
explicit provider that every GCP resource uses."""

from __future__ import annotations

import pytest

from tests.conftest import stack_run
from tests.harness import StackRun, run_stack

SERVICE = "gcp:projects/service:Service"
NS = "image-sharing"


def apis(run: StackRun) -> list[str]:
    return sorted(r.inputs["service"] for r in run.of_type(SERVICE))


VM_APIS = ["cloudresourcemanager.googleapis.com", "compute.googleapis.com", "iam.googleapis.com",
           "secretmanager.googleapis.com"]


def test_dev_enables_the_repository_and_vm_apis(dev: StackRun) -> None:
    assert apis(dev) == sorted(["artifactregistry.googleapis.com", *VM_APIS])


def test_each_feature_enables_only_its_apis() -> None:
    only_repo = run_stack("dev", overrides={f"{NS}:registryVm": {"enabled": False}})
    assert apis(only_repo) == ["artifactregistry.googleapis.com"]
    only_vm = run_stack("dev", overrides={f"{NS}:artifactRegistry": {"enabled": False},
                                          f"{NS}:registryVm": {"cloudNat": True}})
    assert apis(only_vm) == VM_APIS
    gcs = run_stack("dev", overrides={f"{NS}:artifactRegistry": {"enabled": False},
                                      f"{NS}:registryVm": {"storage": "gcs", "bucketName": "acme-bucket",
                                                           "cloudNat": True}})
    assert apis(gcs) == sorted([*VM_APIS, "storage.googleapis.com"])


def test_audit_logs_need_resource_manager() -> None:
    run = run_stack("dev", overrides={f"{NS}:registryVm": {"enabled": False},
                                      f"{NS}:artifactRegistry": {"auditLogs": True}})
    assert apis(run) == ["artifactregistry.googleapis.com", "cloudresourcemanager.googleapis.com"]


def test_customer_managed_key_needs_cloud_kms() -> None:
    key = "projects/kms-project/locations/asia-northeast3/keyRings/ring/cryptoKeys/images"
    run = run_stack("dev", overrides={f"{NS}:registryVm": {"enabled": False},
                                      f"{NS}:artifactRegistry": {"kmsKeyName": key}})
    assert apis(run) == ["artifactregistry.googleapis.com", "cloudkms.googleapis.com"]


def test_scanning_switch_adds_container_scanning() -> None:
    run = run_stack("dev", overrides={f"{NS}:artifactRegistry": {"vulnerabilityScanning": True}})
    assert "containerscanning.googleapis.com" in apis(run)


def test_disabled_features_enable_nothing() -> None:
    run = run_stack("dev", overrides={f"{NS}:artifactRegistry": {"enabled": False},
                                      f"{NS}:registryVm": {"enabled": False}})
    assert apis(run) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_apis_are_never_disabled_on_destroy(stack: str) -> None:
    run = stack_run(stack)
    for service in run.of_type(SERVICE):
        assert service.inputs["disableOnDestroy"] is False
        assert service.inputs["disableDependentServices"] is False
        assert service.inputs["project"] == f"image-sharing-{stack}"
        assert service.parent.endswith("image-sharing:gcp:ProjectServices::apis")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_labels_are_set_once_on_the_provider_every_gcp_resource_uses(stack: str) -> None:
    run = stack_run(stack)
    provider = run.one("pulumi:providers:gcp")
    assert provider.inputs["defaultLabels"] == (
        f'{{"managed-by": "pulumi", "stack": "{stack}", "project": "image-sharing"}}')
    gcp_resources = [r for r in run.custom if r.type.startswith("gcp:")]
    assert gcp_resources
    for resource in gcp_resources:
        assert resource.provider.startswith(provider.urn + "::"), resource.name
        assert "labels" not in resource.inputs, f"{resource.name}: labels come from the provider only"


def test_local_stack_has_no_gcp_provider(local: StackRun) -> None:
    assert not [r for r in local.resources if "gcp" in r.type]

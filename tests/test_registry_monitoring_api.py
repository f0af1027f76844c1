"""The alert policies, uptime check and channel the program registers, decoded with Google's own
Cloud Monitoring v3 message classes (shipped with the installed gcloud, read by its bundled Python):
a misspelled field or an enum value the API does not have does not survive the round trip."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gcloud_sdk import sdk_python
from tests.test_registry_monitoring import SHAPES, shape_run

pytestmark = pytest.mark.integration
NS = "image-sharing"
DECODE = """
from apitools.base.protorpclite import messages as protorpc
from apitools.base.py import encoding
from googlecloudsdk.generated_clients.apis.monitoring.v3 import monitoring_v3_messages as messages

def unknown(message, path):
    # Fields (and enum values) the API's message classes do not have are kept aside as unrecognized.
    found = [f"{path}.{name}" for name in message.all_unrecognized_fields()]
    for field in message.all_fields():
        if isinstance(field, protorpc.MessageField):
            values = message.get_assigned_value(field.name)
            for index, value in enumerate(values if field.repeated else [values]):
                where = f"{path}.{field.name}" + (f"[{index}]" if field.repeated else "")
                if value is not None:
                    found += unknown(value, where)
    return found

result = [unknown(encoding.DictToMessage(body, getattr(messages, kind)), kind) for kind, body in payload]
"""
KINDS = {"gcp:monitoring/alertPolicy:AlertPolicy": "AlertPolicy",
         "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": "UptimeCheckConfig",
         "gcp:monitoring/notificationChannel:NotificationChannel": "NotificationChannel"}
PULUMI_ONLY = {"project"}


def unknown_to_the_api(bodies: list[tuple[str, dict[str, Any]]]) -> list[list[str]]:
    """Per body, the paths of fields or enum values Cloud Monitoring's v3 messages do not have."""
    result: list[list[str]] = sdk_python(DECODE, bodies)
    return result


def whole_numbers(value: Any) -> Any:
    """The engine hands numbers over as floats (protobuf Struct); the API's ints are whole numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


EXPECTED_KINDS = {
    "single-disk": ["AlertPolicy", "AlertPolicy", "NotificationChannel", "UptimeCheckConfig"],
    "single-gcs": ["AlertPolicy", "AlertPolicy", "NotificationChannel", "UptimeCheckConfig"],
    "group-internal": ["AlertPolicy", "AlertPolicy", "NotificationChannel", "UptimeCheckConfig"],
    "group-external": ["AlertPolicy", "AlertPolicy", "AlertPolicy", "NotificationChannel"],
}


@pytest.mark.parametrize("shape", SHAPES)
def test_monitoring_resources_are_what_the_api_accepts(shape: str) -> None:
    run = shape_run(shape)
    bodies = [(KINDS[r.type], whole_numbers({k: v for k, v in r.inputs.items() if k not in PULUMI_ONLY}))
              for r in run.resources if r.type in KINDS]
    assert sorted(kind for kind, _ in bodies) == EXPECTED_KINDS[shape]
    assert unknown_to_the_api(bodies) == [[]] * len(bodies)


def test_the_check_finds_a_misspelled_field_and_an_unknown_enum_value() -> None:
    policy = {"displayName": "x", "combiner": "OR", "conditions": [{"displayName": "c", "conditionThreshold": {
        "filter": "f", "comparison": "COMPARISON_LT", "thresholdValu": 0.5, "duration": "60s",
        "aggregations": [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_FRACTION_TRU"}]}}]}
    check = {"checkerType": "VPC_CHECKERS", "tcpChek": {"port": 1}}
    found = unknown_to_the_api([("AlertPolicy", policy), ("UptimeCheckConfig", check)])
    assert found == [["AlertPolicy.conditions[0].conditionThreshold.thresholdValu",
                      "AlertPolicy.conditions[0].conditionThreshold.aggregations[0].perSeriesAligner"],
                     ["UptimeCheckConfig.tcpChek"]]

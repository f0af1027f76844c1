"""Every threshold and absence condition the program registers, in every shape that has alerts, is a
filter Monitoring accepts for an alert: parsed with its grammar (tests/monitoring_filter.py), it names
its metric type and a monitored-resource type that metric is written against, and only labels those have."""

from __future__ import annotations

from typing import Any

import pytest

from components.registry_monitoring import bucket_bytes_filter, check_passed_filter, lb_requests_filter
from tests.harness import StackRun
from tests.monitoring_filter import FilterError, condition_filter_problems, parse
from tests.test_registry_monitoring import POLICY, SHAPES, shape_run


def condition_filters(run: StackRun) -> list[str]:
    filters = []
    for policy in run.of_type(POLICY):
        for condition in policy.inputs["conditions"]:
            for kind in ("conditionThreshold", "conditionAbsent"):
                body: dict[str, Any] = condition.get(kind) or {}
                filters += [body[key] for key in ("filter", "denominatorFilter") if key in body]
    return filters


@pytest.mark.parametrize("shape", SHAPES)
def test_every_condition_filter_follows_monitorings_rule(shape: str) -> None:
    filters = condition_filters(shape_run(shape))
    assert filters, f"{shape}: no threshold or absence condition to check"
    assert {f: condition_filter_problems(f) for f in filters} == {f: [] for f in filters}


def test_the_rule_refuses_a_filter_without_its_resource_type() -> None:
    # The filter main shipped: Monitoring refuses it ("must specify the metric type and the resource type").
    old = 'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND metric.label.check_id="c"'
    assert condition_filter_problems(old) == ['exactly one resource.type = "..." in the top-level conjunction, '
                                              "found 0"]


@pytest.mark.parametrize(("text", "problem"), [
    # a resource the metric is never written against
    (lb_requests_filter("fr").replace("https_lb_rule", "gce_instance"), "not a monitored resource"),
    (check_passed_filter("c").replace("servicedirectory_service", "gcs_bucket"), "not a monitored resource"),
    # labels the metric or the resource does not have, or of the wrong type
    (bucket_bytes_filter("b").replace("bucket_name", "bucket"), "gcs_bucket has no label bucket"),
    (lb_requests_filter("fr", 'response_code_class="5xx"'), "INT64"),
    (lb_requests_filter("fr", "status=500"), "has no label status"),
    # the type under OR, or twice
    ('metric.type="storage.googleapis.com/storage/total_bytes" OR resource.type="gcs_bucket"', "OR/NOT"),
    (bucket_bytes_filter("b") + ' AND resource.type="gcs_bucket"', "found 2"),
    # not the grammar at all
    (bucket_bytes_filter("b") + " AND", "not a Monitoring filter"),
    (bucket_bytes_filter("b").replace("=", "==", 1), "not a Monitoring filter"),
    ('(metric.type="storage.googleapis.com/storage/total_bytes" AND resource.type="gcs_bucket"', "expected )"),
    ('metric.kind="x" AND resource.type="gcs_bucket"', "unknown selector"),
])
def test_the_rule_refuses(text: str, problem: str) -> None:
    assert any(problem in p for p in condition_filter_problems(text)), condition_filter_problems(text)


def test_the_grammar_takes_what_monitorings_docs_show() -> None:
    for text in ['metric.type = "compute.googleapis.com/instance/cpu/utilization" AND '
                 'resource.type = "gce_instance" AND resource.label.zone = starts_with("us-")',
                 'resource.type="gce_instance" metric.label."state"=one_of("used", "free") AND NOT project="p"',
                 'metric.type="x" AND (metric.label.a="1" OR metric.label.b>=3)']:
        parse(text)
    with pytest.raises(FilterError):
        parse('metric.type="x" AND metric.label.a=starts_with("1"')

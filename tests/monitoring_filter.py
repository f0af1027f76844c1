"""Cloud Monitoring's time-series filter, as a parsed grammar, and the rule alert conditions must follow.

Grammar (cloud.google.com/monitoring/api/v3/filters): comparisons `SELECTOR OP VALUE` joined by AND, OR,
NOT and parentheses (juxtaposition means AND); selectors `metric.type`, `resource.type`,
`metric.label[s].KEY`, `resource.label[s].KEY`, `metadata.system_labels.KEY`, `metadata.user_labels.KEY`,
`project`, `group.id`; operators `=`, `!=`, `>`, `<`, `>=`, `<=`, `:`; values quoted strings, numbers,
booleans, or `starts_with`, `ends_with`, `has_substring`, `one_of`, `monitoring.regex.full_match` calls.

Rule for a MetricThreshold or MetricAbsence filter (AlertPolicy message docs shipped with gcloud: "must
specify the metric type and the resource type"): one `metric.type = "..."` and one `resource.type = "..."`
in the top-level conjunction, the resource type one of the metric's monitored resources, and every label
one that metric or resource has, compared with a value of its type. The tables below copy Google's
metrics list (cloud.google.com/monitoring/api/metrics_gcp) and monitored-resource list
(cloud.google.com/monitoring/api/resources) for the metrics this program alerts on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

LabelType = Literal["STRING", "INT64", "BOOL"]


@dataclass(frozen=True)
class Metric:
    resources: frozenset[str]
    labels: dict[str, LabelType]


METRICS: dict[str, Metric] = {
    "monitoring.googleapis.com/uptime_check/check_passed": Metric(
        frozenset({"uptime_url", "gce_instance", "gae_app", "aws_ec2_instance", "aws_elb_load_balancer",
                   "k8s_service", "servicedirectory_service", "cloud_run_revision"}),
        {"check_id": "STRING", "checker_location": "STRING"}),
    "loadbalancing.googleapis.com/https/request_count": Metric(
        frozenset({"https_lb_rule"}),
        {"protocol": "STRING", "response_code": "INT64", "response_code_class": "INT64", "proxy_continent": "STRING",
         "cache_result": "STRING", "client_country": "STRING"}),
    "storage.googleapis.com/storage/total_bytes": Metric(frozenset({"gcs_bucket"}), {"storage_class": "STRING"}),
}
RESOURCES: dict[str, frozenset[str]] = {
    "uptime_url": frozenset({"project_id", "host"}),
    # The uptime-check examples (Google's private-check page, the provider's) label it project_id.
    "servicedirectory_service": frozenset({"resource_container", "project_id", "location", "namespace_name",
                                           "service_name"}),
    "https_lb_rule": frozenset({"project_id", "region", "url_map_name", "forwarding_rule_name", "target_proxy_name",
                                "matched_url_path_rule", "backend_target_name", "backend_target_type", "backend_name",
                                "backend_type", "backend_scope", "backend_scope_type"}),
    "gcs_bucket": frozenset({"project_id", "bucket_name", "location"}),
    "gce_instance": frozenset({"project_id", "instance_id", "zone"}),
}

TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<op>>=|<=|!=|=|>|<|:)
    | (?P<paren>[()])
    | (?P<comma>,)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*"))*)
    )""", re.X)
FUNCTIONS = {"starts_with", "ends_with", "has_substring", "one_of", "monitoring.regex.full_match"}
SELECTOR = re.compile(r'^(metric\.type|resource\.type|project|group\.id'
                      r'|(metric|resource)\.labels?\.(\w+|"[^"]+")|metadata\.(system|user)_labels\.(\w+|"[^"]+"))$')


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class Comparison:
    selector: str
    op: str
    value: str | int | float | bool | tuple[str, tuple[str | int | float, ...]]  # (function, args) for a call


@dataclass(frozen=True)
class Node:
    kind: Literal["AND", "OR", "NOT"]
    children: tuple[Node | Comparison, ...]


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        found = TOKEN.match(text, position)
        if not found or found.end() == position:
            raise FilterError(f"unexpected text at {position}: {text[position:position + 20]!r}")
        kind = found.lastgroup
        assert kind is not None
        tokens.append((kind, found.group(kind)))
        position = found.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, kind: str | None = None, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (kind and token[0] != kind) or (text and token[1] != text):
            raise FilterError(f"expected {text or kind}, found {token[1] if token else 'the end'}")
        self.at += 1
        return token

    def expression(self) -> Node | Comparison:
        """OR binds loosest; AND (explicit or by juxtaposition) tighter; NOT tightest."""
        terms = [self.conjunction()]
        while self.peek() == ("word", "OR"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else Node("OR", tuple(terms))

    def conjunction(self) -> Node | Comparison:
        terms = [self.unary()]
        while (token := self.peek()) is not None and token != ("paren", ")") and token != ("word", "OR"):
            if token == ("word", "AND"):
                self.take()
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else Node("AND", tuple(terms))

    def unary(self) -> Node | Comparison:
        if self.peek() == ("word", "NOT"):
            self.take()
            return Node("NOT", (self.unary(),))
        if self.peek() == ("paren", "("):
            self.take()
            inner = self.expression()
            self.take("paren", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        selector = self.take("word")[1]
        if not SELECTOR.match(selector):
            raise FilterError(f"unknown selector {selector}")
        op = self.take("op")[1]
        return Comparison(selector, op, self.value())

    def value(self) -> str | int | float | bool | tuple[str, tuple[str | int | float, ...]]:
        kind, text = self.take()
        if kind == "string":
            return _unquote(text)
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "word" and text in ("true", "false"):
            return text == "true"
        if kind == "word" and text in FUNCTIONS:
            self.take("paren", "(")
            args: list[str | int | float] = []
            while self.peek() != ("paren", ")"):
                if args:
                    self.take("comma")
                arg = self.value()
                if isinstance(arg, tuple | bool):
                    raise FilterError(f"{text}() takes strings or numbers")
                args.append(arg)
            self.take("paren", ")")
            return text, tuple(args)
        raise FilterError(f"expected a value, found {text}")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse(text: str) -> Node | Comparison:
    parser = _Parser(text)
    tree = parser.expression()
    if parser.peek() is not None:
        raise FilterError(f"unexpected {parser.peek()}")
    return tree


def condition_filter_problems(text: str) -> list[str]:
    """What makes TEXT unacceptable as an alert condition's filter (empty: acceptable)."""
    try:
        tree = parse(text)
    except FilterError as err:
        return [f"not a Monitoring filter: {err}"]
    top = list(tree.children) if isinstance(tree, Node) and tree.kind == "AND" else [tree]
    comparisons = [c for c in top if isinstance(c, Comparison)]
    nested = [c for c in top if not isinstance(c, Comparison)]
    problems = [f"OR/NOT at the top level: {n.kind}" for n in nested if n.kind != "AND"]
    types = {name: [c for c in comparisons if c.selector == name] for name in ("metric.type", "resource.type")}
    for name, found in types.items():
        if len(found) != 1 or found[0].op != "=" or not isinstance(found[0].value, str):
            problems.append(f'exactly one {name} = "..." in the top-level conjunction, found {len(found)}')
    if problems:
        return problems
    metric_type, resource_type = str(types["metric.type"][0].value), str(types["resource.type"][0].value)
    metric = METRICS.get(metric_type)
    if metric is None:
        return [f"metric {metric_type} is not in the table of known metrics"]
    if resource_type not in metric.resources:
        problems.append(f"resource type {resource_type} is not a monitored resource of {metric_type} "
                        f"({', '.join(sorted(metric.resources))})")
    for c in comparisons:
        parts = re.match(r'^(metric|resource)\.labels?\.(?:"([^"]+)"|(\w+))$', c.selector)
        if not parts:
            continue
        label = parts.group(2) or parts.group(3)
        if parts.group(1) == "resource":
            if label not in RESOURCES.get(resource_type, frozenset()):
                problems.append(f"{resource_type} has no label {label}")
            elif not isinstance(c.value, str | tuple):
                problems.append(f"resource label {label} is a string, compared with {c.value!r}")
            continue
        kind = metric.labels.get(label)
        if kind is None:
            problems.append(f"{metric_type} has no label {label}")
        elif kind == "INT64" and (isinstance(c.value, bool) or not isinstance(c.value, int)):
            problems.append(f"metric label {label} is INT64, compared with {c.value!r}")
        elif kind == "STRING" and not isinstance(c.value, str | tuple):
            problems.append(f"metric label {label} is a string, compared with {c.value!r}")
    return problems

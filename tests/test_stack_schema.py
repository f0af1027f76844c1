"""The JSON Schemas editors check stack files with (scripts/stack_schema.py writes them from the settings
dataclasses): current, valid draft 2020-12, named by every stack file and docs example, accepting every
config the settings accept and refusing what the settings refuse key by key. Their patterns are compiled
by Node's own RegExp, the engine of the YAML language server, and match what Python matches."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts import stack_schema
from stackconfig.reader import SettingsError
from tests.harness import BOOTSTRAP, ROOT, run_stack
from tests.settings_strategies import GOOD_STRINGS, HOSTILE_STRINGS, NS, Config, configs
from tests.test_inventory import readme_examples

MAIN = json.loads(stack_schema.MAIN.read_text())
BOOT = json.loads(stack_schema.BOOTSTRAP.read_text())
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))
DOCS_LINE = "# yaml-language-server: $schema=../stack-config.schema.json"


def errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document))


def test_the_checked_in_schemas_are_what_the_settings_generate() -> None:
    assert stack_schema.MAIN.read_text() == stack_schema.render(stack_schema.main_schema())
    assert stack_schema.BOOTSTRAP.read_text() == stack_schema.render(stack_schema.bootstrap_schema())


@pytest.mark.parametrize("schema", [MAIN, BOOT], ids=["main", "bootstrap"])
def test_each_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", [*STACK_FILES, BOOTSTRAP / "Pulumi.ci.yaml"], ids=lambda p: p.name)
def test_every_stack_file_names_its_schema_first_and_passes_it(path: Any) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == stack_schema.FIRST_LINE
    assert (path.parent / "stack-config.schema.json").exists()
    schema = BOOT if path.parent == BOOTSTRAP else MAIN
    assert errors(schema, yaml.safe_load(text)) == []


@pytest.mark.parametrize("name", sorted(readme_examples()))
def test_every_docs_example_names_the_schema_and_passes_it_on_its_stack(name: str) -> None:
    stack, config = readme_examples()[name]
    pages = [p for p in (ROOT / "docs").glob("*.md") if f"<!-- example: {name} on {stack} -->" in p.read_text()]
    block = pages[0].read_text().split(f"<!-- example: {name} on {stack} -->\n```yaml\n", 1)[1]
    assert block.splitlines()[0] == DOCS_LINE
    base = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    assert errors(MAIN, {**base, "config": {**base["config"], **config}}) == []


def _file(config: dict[str, Any], stack: str = "dev") -> dict[str, Any]:
    base = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return {**base, "config": {**base["config"], **config}}


# (override, the key both must name)
REFUSED = [
    ({f"{NS}:artifactRegistry": {"repositoryID": "images"}}, "repositoryID"),        # a typo'd key
    ({f"{NS}:prodution": True}, "prodution"),                                         # a typo'd top-level key
    ({f"{NS}:registryVm": {"instances": "two"}}, "instances"),                        # a wrong type
    ({f"{NS}:production": "yes"}, "production"),                                      # a wrong top-level type
    ({f"{NS}:registryVm": {"instances": 11}}, "instances"),                           # above the range
    ({f"{NS}:registry": {"port": 1023}}, "port"),                                     # below the range
    ({f"{NS}:registryVm": {"diskType": "pd-fast"}}, "diskType"),                      # not one of the values
    ({f"{NS}:artifactRegistry": {"repositoryId": "Images"}}, "repositoryId"),         # the pattern
    ({f"{NS}:artifactRegistry": {"readers": ["allUsers"]}}, "readers"),               # never public
    ({"gcp:regoin": "asia-northeast3"}, "regoin"),                                    # an unknown gcp key
    ({"gcp:region": "mars-north1"}, "region"),
    ({f"{NS}:target": "cloud"}, "target"),
]


@pytest.mark.parametrize("override, key", REFUSED, ids=[k for _, k in REFUSED])
def test_what_the_settings_refuse_key_by_key_the_schema_refuses_too(override: dict[str, Any], key: str) -> None:
    with pytest.raises(SettingsError) as err:
        run_stack("dev", overrides={k: json.dumps(v) if isinstance(v, dict) else v for k, v in override.items()})
    assert any(key in p.key for p in err.value.problems)
    found = errors(MAIN, _file(override))
    assert found and all(key in line for line in found), found


@pytest.mark.parametrize("override", [
    {f"{NS}:registryVm": {"instances": 10, "storage": "gcs", "bucketName": "team-registry-bucket"}},
    {f"{NS}:registry": {"port": 1024}},                                              # both ends are in range
    {f"{NS}:registry": {"port": 65535}},
    {f"{NS}:production": "true", f"{NS}:sampleImage": {"enabled": False}},         # as `pulumi config set` writes it
])
def test_what_the_settings_accept_at_the_edges_the_schema_accepts(override: dict[str, Any]) -> None:
    run_stack("dev", overrides={k: json.dumps(v) if isinstance(v, dict) else v for k, v in override.items()})
    assert errors(MAIN, _file(override)) == []


def test_a_plain_secret_and_a_missing_project_are_refused() -> None:
    assert errors(MAIN, _file({f"{NS}:registryTlsKey": "-----BEGIN"}))
    assert errors(MAIN, _file({f"{NS}:registryTlsKey": {"secure": "AAAB"}})) == []
    # A retired secret (a token now kept in Secret Manager) is an unknown key to both.
    assert errors(MAIN, _file({f"{NS}:githubToken": {"secure": "AAAB"}}))
    dev = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    del dev["config"]["gcp:project"]
    assert errors(MAIN, dev) == ["config: 'gcp:project' is a required property"]
    assert errors(MAIN, {"config": {f"{NS}:target": "local"}}) == []
    # Another provider's keys are its own business.
    assert errors(MAIN, _file({"docker:host": "unix:///run/docker.sock"})) == []


def test_the_bootstrap_schema_refuses_a_typo_and_wants_its_required_keys() -> None:
    ci = yaml.safe_load((BOOTSTRAP / "Pulumi.ci.yaml").read_text())
    ns = "image-sharing-bootstrap"
    ci["config"][f"{ns}:githubRepo"] = ci["config"].pop(f"{ns}:githubRepository")
    found = errors(BOOT, ci)
    assert any("githubRepo'" in line for line in found) and any("githubRepository" in line for line in found)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stack=st.sampled_from(["dev", "prod", "local"]), config=configs())
def test_the_schema_accepts_every_config_the_settings_accept_and_refuses_every_bad_key(
        stack: str, config: Config) -> None:
    document = _file(config.overrides, stack)
    try:
        run_stack(stack, overrides={k: json.dumps(v) if isinstance(v, dict | list) and k.startswith(f"{NS}:") else v
                                    for k, v in config.overrides.items()})
    except SettingsError:
        # Refused: the schema may accept (cross-key rules are the settings' own), but never a bad key.
        found = errors(MAIN, document)
        for key in config.bad:
            leaf = key.split(":", 1)[1].split(".")[-1]
            assert any(leaf in line or key.split(".")[0] in line for line in found), (key, found)
        return
    assert errors(MAIN, document) == []


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern":
                yield value
            elif key == "patternProperties":
                yield from value
                yield from _patterns(list(value.values()))
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


@pytest.mark.integration
def test_every_pattern_compiles_in_javascript_and_matches_as_python_does() -> None:
    import re

    node = shutil.which("node")
    assert node, "node (the YAML language server's engine) is on machines of this kind"
    patterns = sorted(set(_patterns(MAIN)) | set(_patterns(BOOT)))
    assert len(patterns) >= 15
    samples = [*GOOD_STRINGS, *HOSTILE_STRINGS, "image-sharing:x", "gcp:project", "docker:host"]
    samples = [s for s in samples if "\ud800" not in s]  # not JSON-encodable for Node's stdin
    script = ("const [ps, ss] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(ps.map(p => { const r = new RegExp(p, 'u');"
              " return ss.map(s => r.test(s)); })));")
    out = subprocess.run([node, "-e", script], input=json.dumps([patterns, samples]), capture_output=True,
                         text=True, check=True, timeout=60).stdout
    for pattern, verdicts in zip(patterns, json.loads(out), strict=True):
        assert verdicts == [re.search(pattern, s) is not None for s in samples], pattern

"""Writes the JSON Schemas editors check stack files with: `stack-config.schema.json` (the main program's
Pulumi.<stack>.yaml) and `bootstrap/stack-config.schema.json` (bootstrap/Pulumi.ci.yaml), generated from
the settings dataclasses. `python scripts/stack_schema.py --write` updates them; a test fails when they drift."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent.parent / "bootstrap"))  # its package, as Pulumi runs it

from components import checks
from components.gcp_locations import REGIONS, ZONES
from components.settings import DEFAULT_REGION, SECRET_DOCS, Settings
from foundation.settings import BootstrapSettings, GcpSettings
from stackconfig import json_schema

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "stack-config.schema.json"
BOOTSTRAP = ROOT / "bootstrap" / "stack-config.schema.json"
# The line that names the schema, first in every stack file (relative to the file).
FIRST_LINE = "# yaml-language-server: $schema=./stack-config.schema.json"


def main_schema() -> dict[str, Any]:
    ns = "image-sharing"
    # The gcp keys are read on the gcp target only: a local stack may hold anything there.
    on_gcp = {
        "gcp:project": {"type": "string", "pattern": checks.PROJECT_ID.pattern},
        "gcp:region": {"enum": sorted(REGIONS)},
        "gcp:zone": {"enum": sorted(z for zones in ZONES.values() for z in zones)},
    }
    gcp = {
        "gcp:project": {"type": "string", "description": "GCP project id the gcp target deploys into (required)."},
        "gcp:region": {"type": "string", "default": DEFAULT_REGION,
                       "description": "Region of the repository, the VM and the build trigger."},
        "gcp:zone": {"type": "string",
                     "description": "Zone of the registry VM and its disk (one of gcp:region's). Unset: its first."},
    }
    keys = {**gcp, **json_schema.namespaced(ns, Settings), **json_schema.secrets(ns, SECRET_DOCS)}
    target = {"if": {"properties": {f"{ns}:target": {"const": "local"}}, "required": [f"{ns}:target"]},
              "else": {"required": ["gcp:project"], "properties": on_gcp}}
    return json_schema.stack_file(title="image-sharing stack config (Pulumi.<stack>.yaml)", keys=keys,
                                  owned=[ns, "gcp"], config_rules=[target])


def bootstrap_schema() -> dict[str, Any]:
    ns = "image-sharing-bootstrap"
    gcp = json_schema.object_schema(GcpSettings, top_level=True)
    keys = {**{f"gcp:{k}": v for k, v in gcp["properties"].items()}, **json_schema.namespaced(ns, BootstrapSettings)}
    needed = [f"gcp:{k}" for k in gcp.get("required", [])]
    needed += [f"{ns}:{k}" for k in json_schema.object_schema(BootstrapSettings).get("required", [])]
    return json_schema.stack_file(title="image-sharing bootstrap stack config (bootstrap/Pulumi.ci.yaml)",
                                  keys=keys, owned=[ns, "gcp"], config_rules=[{"required": needed}])


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    stale = [path for path, schema in ((MAIN, main_schema()), (BOOTSTRAP, bootstrap_schema()))
             if not path.exists() or path.read_text() != render(schema)]
    if "--write" in sys.argv:
        for path, schema in ((MAIN, main_schema()), (BOOTSTRAP, bootstrap_schema())):
            path.write_text(render(schema))
        return 0
    for path in stale:
        print(f"{path.relative_to(ROOT)} is stale: python scripts/stack_schema.py --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

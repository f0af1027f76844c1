"""The installed Google Cloud SDK's own libraries as offline peers, run in its bundled Python (its
argument parser is tests/gcloud_cli.py's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.peers import binary


def sdk_root() -> Path:
    return Path(os.path.realpath(binary("gcloud"))).parents[1]


def _env(config_dir: str) -> dict[str, str]:
    return {**os.environ, "CLOUDSDK_CONFIG": config_dir, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1"}


def sdk_python(code: str, payload: Any) -> Any:
    """Runs CODE in gcloud's bundled Python with its libraries importable; CODE reads the JSON
    `payload` variable and assigns a JSON-serialisable `result`."""
    root = sdk_root()
    bundled = root / "platform" / "bundledpythonunix" / "bin" / "python3"
    python = str(bundled) if bundled.exists() else sys.executable
    program = ("import json, sys\npayload = json.load(sys.stdin)\n" + code
               + "\njson.dump(result, sys.stdout)\n")
    with tempfile.TemporaryDirectory() as config_dir:
        path = os.pathsep.join([str(root / "lib"), str(root / "lib" / "third_party")])
        env = {**_env(config_dir), "PYTHONPATH": path}
        done = subprocess.run([python, "-c", program], input=json.dumps(payload), env=env,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# gcloud's own loader for `gcloud builds submit --config`: unknown fields, wrong types and enum values
# are refused exactly as gcloud refuses them; the Build message comes back as the API's JSON.
LOAD_BUILD_CONFIG = """
from apitools.base.py import encoding
from googlecloudsdk.api_lib.cloudbuild import cloudbuild_util, config
build = config.LoadCloudbuildConfigFromPath(payload, cloudbuild_util.GetMessagesModule())
result = json.loads(encoding.MessageToJson(build))
"""


def load_build_config(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = sdk_python(LOAD_BUILD_CONFIG, str(path))
    return loaded

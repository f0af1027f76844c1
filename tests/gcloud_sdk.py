"""The installed Google Cloud SDK's own libraries as offline peers, run in its bundled Python (its
argument parser is tests/gcloud_cli.py's)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from tests.peers import binary


def _env(config_dir: str) -> dict[str, str]:
    return {**os.environ, "CLOUDSDK_CONFIG": config_dir, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1"}


@cache
def _sdk() -> tuple[Path, str]:
    """(SDK root, the Python gcloud runs) as `gcloud info` reports them."""
    with tempfile.TemporaryDirectory() as config_dir:
        out = subprocess.run([binary("gcloud"), "info", "--format=json(installation.sdk_root,basic.python_location)"],
                             capture_output=True, text=True, env=_env(config_dir), timeout=120, check=True).stdout
    info = json.loads(out)
    return Path(info["installation"]["sdk_root"]), info["basic"]["python_location"]


def sdk_python(code: str, payload: Any) -> Any:
    """Runs CODE in gcloud's bundled Python with its libraries importable; CODE reads the JSON
    `payload` variable and assigns a JSON-serialisable `result`."""
    root, python = _sdk()
    program = ("import json, sys\npayload = json.load(sys.stdin)\n" + code
               + "\njson.dump(result, sys.stdout)\n")
    with tempfile.TemporaryDirectory() as config_dir:
        path = os.pathsep.join([str(root / "lib"), str(root / "lib" / "third_party")])
        env = {**_env(config_dir), "PYTHONPATH": path}
        done = subprocess.run([python, "-c", program], input=json.dumps(payload), env=env,
                              capture_output=True, text=True, timeout=120, check=False)
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


# `gcloud artifacts docker images list IMAGE ...` run through gcloud's own docker_util.GetDockerImages
# (what it asks Artifact Registry for: order, server-side limit, view) with the versions listing
# answered from `versions`, then gcloud's client-side filter, sort, limit and format, in that order.
DOCKER_IMAGES_LIST = """
import io
from types import SimpleNamespace
from googlecloudsdk.command_lib.artifacts import docker_util
from googlecloudsdk.command_lib.artifacts import requests as ar_requests
from googlecloudsdk.core.resource import resource_filter, resource_lex, resource_printer, resource_property
messages = ar_requests.GetMessages()
asked = {}
def list_versions(client, msgs, pkg, version_view=None, page_size=None, order_by=None, limit=None, server_filter=None):
    asked.update(order_by=order_by, limit=limit, view=str(version_view))
    full = "FULL" in str(version_view)  # tags are only returned in the FULL view (--include-tags)
    versions = [messages.Version(name=f"{pkg}/versions/{v['digest']}", createTime=v["time"], updateTime=v["time"],
                                 relatedTags=[messages.Tag(name=f"{pkg}/tags/{t}") for t in v["tags"]] if full else [])
                for v in payload["versions"]]  # the server's answer, already in the order asked for
    return versions[:limit] if limit else versions
ar_requests.ListVersions = list_versions
ar_requests.GetClient = lambda: None
docker_util._ValidateDockerRepo = lambda name: None
a = payload["args"]
args = SimpleNamespace(limit=a["limit"], filter=a["filter"], sort_by=[a["sort_by"]], include_tags=a["include_tags"],
                       page_size=None)
host, project, repo, image = payload["image"].split("/", 3)
resource = docker_util.DockerImage(docker_util.DockerRepo(project, host.split("-docker.")[0], repo), image)
listed = docker_util.GetDockerImages(resource, args)
if args.filter:
    expression = resource_filter.Compile(args.filter)
    listed = [r for r in listed if expression.Evaluate(r)]
key = resource_lex.Lexer(a["sort_by"].lstrip("~")).Key()
listed = sorted(listed, key=lambda r: resource_property.Get(r, key, ""), reverse=a["sort_by"].startswith("~"))
out = io.StringIO()
resource_printer.Print(listed[:args.limit], a["format"], out=out)
result = {"asked": asked, "printed": out.getvalue().strip()}
"""


def docker_images_list(argv: list[str], versions: list[dict[str, Any]]) -> dict[str, Any]:
    """ARGV is a split `gcloud artifacts docker images list IMAGE` command (only --include-tags,
    --filter, --sort-by, --limit and --format); VERSIONS are {digest, time, tags}, newest first."""
    assert argv[:5] == ["gcloud", "artifacts", "docker", "images", "list"], argv
    flags = dict(arg.split("=", 1) if "=" in arg else (arg, "") for arg in argv[6:])
    assert set(flags) <= {"--include-tags", "--filter", "--sort-by", "--limit", "--format"}, flags
    payload = {"image": argv[5], "versions": versions,
               "args": {"limit": int(flags["--limit"]), "filter": flags.get("--filter"),
                        "sort_by": flags["--sort-by"], "include_tags": "--include-tags" in flags,
                        "format": flags["--format"]}}
    listed: dict[str, Any] = sdk_python(DOCKER_IMAGES_LIST, payload)
    return listed

"""The Cloud Build steps as Cloud Build and the shell will read them: every `$` is either a known
substitution or escaped, and the scripts, once substituted, pass shellcheck."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from components.build_spec import BUILT_INS, build_spec
from tests.peers import binary

SUBSTITUTION = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
SAMPLE = {"_IMAGE": "asia-northeast3-docker.pkg.dev/p/images/hello-nginx", "_SOURCE": "https://github.com/a/b",
          "SHORT_SHA": "0123abc", "COMMIT_SHA": "0123abc" + "0" * 33}


def substitutions_used(text: str) -> set[str]:
    unescaped = text.replace("$$", "")
    return {m.group(1) or m.group(2) for m in SUBSTITUTION.finditer(unescaped)}


def cloud_build_substitute(text: str) -> str:
    """What the step receives: substitutions replaced, then `$$` turned into `$`."""
    parts = text.split("$$")
    for name, value in SAMPLE.items():
        parts = [p.replace(f"${{{name}}}", value).replace(f"${name}", value) for p in parts]
    return "$".join(parts)


@pytest.mark.parametrize("mutable", [True, False])
def test_every_substitution_is_declared_or_built_in(mutable: bool) -> None:
    spec = build_spec("IMAGE", "SOURCE", mutable)
    declared = set(spec["substitutions"])
    texts = [arg for step in spec["steps"] for arg in step.get("args", [])] + list(spec["images"])
    used = set().union(*(substitutions_used(t) for t in texts))
    assert used <= declared | BUILT_INS, used - declared - BUILT_INS
    assert declared <= used, "MUST_MATCH refuses a declared substitution nobody uses"


def test_shell_variables_are_escaped_for_cloud_build() -> None:
    scripts = [step["args"][1] for step in build_spec("IMAGE", "SOURCE", True)["steps"]]
    for script in scripts:
        assert substitutions_used(script) <= set(SAMPLE), script


def test_substituted_script_reads_as_the_shell_sees_it() -> None:
    build = build_spec("IMAGE", "SOURCE", False)["steps"][1]["args"][1]
    script = cloud_build_substitute(build)
    assert 'docker pull "$cache"' in script
    assert f'-t "{SAMPLE["_IMAGE"]}:{SAMPLE["SHORT_SHA"]}" app' in script
    assert "latest" not in script


@pytest.mark.integration
@pytest.mark.parametrize("mutable", [True, False])
def test_step_scripts_pass_shellcheck(tmp_path: Path, mutable: bool) -> None:
    spec = build_spec(SAMPLE["_IMAGE"], SAMPLE["_SOURCE"], mutable)
    for step in spec["steps"]:
        shell = "bash" if step.get("entrypoint") == "bash" else "sh"
        path = tmp_path / f"{step['id']}.sh"
        path.write_text(f"#!/bin/{shell}\n" + cloud_build_substitute(step["args"][1]))
        result = subprocess.run([binary("shellcheck"), "--severity=style", str(path)],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout

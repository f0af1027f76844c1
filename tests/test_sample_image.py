"""The sample image under mocks: one push per registry target, a tag derived from exactly the build
inputs pulumi-docker rebuilds on, secret credentials, and dependencies on exactly the repository and
the grants that allow the push."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.app_source import (
    APP_DIR,
    PROJECT_DIR,
    STAGED_APP,
    STAGED_MTIME,
    build_tag,
    image_build,
    sample_site_build,
    stage_context,
)
from components.docker_context import SymlinkInContextError, context_digest
from components.names import member_key
from tests.harness import ACCESS_TOKEN, StackRun, is_secret, run_stack, unwrap

NS = "image-sharing"
IMAGE = "docker:index/image:Image"
TAG = re.compile(r"^src-[0-9a-f]{12}$")
HUB_CONFIG = {f"{NS}:sampleImage": {"dockerHubUser": "alice1", "dockerHubRepository": "site"}}


def content_tag() -> str:
    """The tag of the dev stack's build (no GitHub repository configured)."""
    return sample_site_build("unknown").tag


def test_gcp_stack_pushes_to_artifact_registry(dev: StackRun) -> None:
    image = dev.one(IMAGE)
    assert image.name == "sample-image-artifactRegistry"
    tag = content_tag()
    assert TAG.match(tag)
    assert image.inputs["imageName"] == f"asia-northeast3-docker.pkg.dev/image-sharing-dev/images/hello-nginx:{tag}"
    # Built from the copy of app/ with git's modes, at the same relative path on every machine.
    assert image.inputs["build"] == {"context": ".build-context/app", "dockerfile": ".build-context/app/Dockerfile",
                                     "platform": "linux/amd64", "args": {"SOURCE": "unknown", "REVISION": tag}}
    assert image.inputs.get("skipPush") is False


def test_artifact_registry_credentials_are_a_secret_short_lived_token(dev: StackRun) -> None:
    registry = dev.one(IMAGE).inputs["registry"]
    assert is_secret(registry)
    assert unwrap(registry) == {"server": "asia-northeast3-docker.pkg.dev", "username": "oauth2accesstoken",
                                "password": "mock-access-token"}


def test_image_waits_for_repository_and_push_grants_only() -> None:
    run = run_stack("dev", overrides={f"{NS}:artifactRegistry": {"writers": ["user:deployer@example.com"]}})
    assert run.deps_of(run.one(IMAGE)) == {
        "gcp:artifactregistry/repository:Repository:repository",
        f"gcp:artifactregistry/repositoryIamMember:RepositoryIamMember:repo-writer-{member_key('user:deployer@example.com')}",
    }


def test_docker_hub_push_only_when_configured(dev: StackRun) -> None:
    assert [i.name for i in dev.of_type(IMAGE)] == ["sample-image-artifactRegistry"]
    run = run_stack("dev", overrides=HUB_CONFIG)
    hub = run.one(IMAGE, "sample-image-dockerHub")
    assert hub.inputs["imageName"] == f"docker.io/alice1/site:{content_tag()}"
    # No credentials in the program, so none in state: pulumi-docker pushes with the host's `docker login`.
    assert unwrap(hub.inputs["registry"]) == {"server": "docker.io"}
    assert run.deps_of(hub) == set()
    assert run.outputs["sampleImage"]["dockerHub"]["ref"] == f"docker.io/alice1/site:{content_tag()}"


def test_outputs_give_digest_and_pull_by_digest(dev: StackRun) -> None:
    out = dev.outputs["sampleImage"]
    assert out["tag"] == content_tag()
    digest = out["artifactRegistry"]["digest"]
    assert re.fullmatch(r"asia-northeast3-docker\.pkg\.dev/image-sharing-dev/images/hello-nginx@sha256:[0-9a-f]{64}",
                        digest)
    assert out["artifactRegistry"]["pull"] == f"docker pull {digest}"
    assert "sampleImage" not in dev.secret_outputs


def test_disabled_image_builds_nothing() -> None:
    run = run_stack("dev", overrides={f"{NS}:sampleImage": {"enabled": False}})
    assert run.of_type(IMAGE) == []
    assert "sampleImage" not in run.outputs


def test_source_label_follows_the_github_repository() -> None:
    run = run_stack("dev", overrides={f"{NS}:buildTrigger": {"githubRepository": "acme/site"}})
    assert run.one(IMAGE).inputs["build"]["args"]["SOURCE"] == "https://github.com/acme/site"


def build_inputs(run: StackRun) -> tuple[str, dict[str, Any]]:
    """The tag and the build inputs the program really passed to docker.Image (REVISION is the tag)."""
    image = run.one(IMAGE)
    build = dict(image.inputs["build"])
    args = dict(build.pop("args"))
    tag = args.pop("REVISION")
    assert image.inputs["imageName"].endswith(f":{tag}")
    return tag, {**build, "args": args}


def leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaves(item, (*path, key))]
    return [path]


def replaced(value: dict[str, Any], path: tuple[str, ...], new: Any) -> dict[str, Any]:
    head, *rest = path
    return {**value, head: replaced(value[head], tuple(rest), new) if rest else new}


def test_tag_is_a_function_of_exactly_the_recorded_build_inputs(dev: StackRun) -> None:
    tag, build = build_inputs(dev)
    assert TAG.match(tag)
    assert build_tag(build) == tag
    assert image_build(build).build == dev.one(IMAGE).inputs["build"], "docker.Image gets the hashed dict as is"


def test_every_build_input_the_program_passes_feeds_the_tag(dev: StackRun, tmp_path: Path) -> None:
    """Mutates each input docker.Image gets, whatever it is: any change pulumi-docker rebuilds on
    must give another tag. Paths are changed to other folders holding the very same bytes."""
    tag, build = build_inputs(dev)
    other_context = tmp_path / "context"
    shutil.copytree(PROJECT_DIR / build["context"], other_context)
    other_dockerfile = tmp_path / "elsewhere" / "Dockerfile"
    other_dockerfile.parent.mkdir()
    shutil.copy(PROJECT_DIR / build["dockerfile"], other_dockerfile)
    mutations: dict[tuple[str, ...], Any] = {("context",): str(other_context), ("dockerfile",): str(other_dockerfile),
                                             ("platform",): "linux/arm64"}
    paths = leaves(build)
    assert {("context",), ("dockerfile",), ("platform",), ("args", "SOURCE")} <= set(paths)
    for path in paths:
        current: Any = build
        for key in path:
            current = current[key]
        value = mutations.get(path, f"{current}-changed")
        assert build_tag(replaced(build, path, value)) != tag, f"build.{'.'.join(path)} does not feed the tag"
    assert build_tag({**build, "args": {**build["args"], "NEW_ARG": "1"}}) != tag
    assert build_tag({**build, "target": "final"}) != tag, "a new build option feeds the tag too"


def test_revision_cannot_feed_its_own_tag(dev: StackRun) -> None:
    _, build = build_inputs(dev)
    with pytest.raises(ValueError, match="REVISION build argument is the tag itself"):
        build_tag({**build, "args": {**build["args"], "REVISION": "x"}})


def test_source_argument_changes_the_tag() -> None:
    """Setting buildTrigger.githubRepository changes the OCI source label, so the image: new tag."""
    run = run_stack("dev", overrides={f"{NS}:buildTrigger": {"githubRepository": "acme/site"}})
    tag, build = build_inputs(run)
    assert build["args"]["SOURCE"] == "https://github.com/acme/site"
    assert tag == sample_site_build("https://github.com/acme/site").tag != content_tag()
    assert run.outputs["sampleImage"]["tag"] == tag


def test_a_pulumi_docker_upgrade_changes_the_tag(dev: StackRun, monkeypatch: pytest.MonkeyPatch) -> None:
    """pulumi-docker's context digest (and fsutil's walk) changed across releases: an upgrade may rebuild,
    so the installed version feeds the tag, read from the package metadata."""
    from importlib import metadata

    tag, build = build_inputs(dev)
    installed = metadata.version

    def version_of(upgraded: str) -> Callable[[str], str]:
        return lambda name: upgraded if name == "pulumi-docker" else installed(name)

    tags = []
    for version in (installed("pulumi-docker"), "4.5.8", "99.0.0"):
        monkeypatch.setattr(metadata, "version", version_of(version))
        tags.append(build_tag(build))
    assert tags[0] == tag, "the installed version is the one read"
    assert len(set(tags)) == 3, "another pulumi-docker, another tag"


def app_copy(tmp_path: Path) -> tuple[Path, Callable[[], str]]:
    root = tmp_path / "project"
    shutil.copytree(APP_DIR, root / "app")
    build = {"context": "app", "dockerfile": "app/Dockerfile", "platform": "linux/amd64", "args": {"SOURCE": "s"}}
    return root / "app", lambda: build_tag(build, root)


def test_tag_follows_what_pulumi_docker_rebuilds_on(tmp_path: Path) -> None:
    app, tag = app_copy(tmp_path)
    original = tag()
    steps: list[tuple[str, Callable[[], object], bool]] = [
        ("new mtime, same bytes", lambda: os.utime(app / "site" / "index.html", (1, 1)), False),
        ("an ignored file", lambda: (app / "NOTES.md").write_text("x"), False),
        ("an ignored folder", lambda: (app / "tests").mkdir() or (app / "tests" / "t.py").write_text("x"), False),
        ("bytecode", lambda: (app / "site" / "__pycache__").mkdir() or (app / "site" / "__pycache__" / "a.pyc")
         .write_bytes(b"x"), False),
        ("file mode (another umask or chmod +x)", lambda: (app / "site" / "style.css").chmod(0o755), True),
        ("content", lambda: (app / "site" / "style.css").write_text("footer { color: red; }\n"), True),
        ("a new file", lambda: (app / "site" / "extra.txt").write_text("x"), True),
        ("a rename", lambda: (app / "site" / "extra.txt").rename(app / "site" / "other.txt"), True),
        ("the Dockerfile (ignored in the context, hashed on its own)",
         lambda: (app / "Dockerfile").write_text((app / "Dockerfile").read_text() + "# x\n"), True),
        (".dockerignore now admits NOTES.md", lambda: (app / ".dockerignore").write_text(
            (app / ".dockerignore").read_text().replace("*.md\n", "")), True),
        ("Dockerfile.dockerignore takes precedence", lambda: (app / "Dockerfile.dockerignore").write_text("site/\n"),
         True),
    ]
    seen = {original}
    for what, change, rebuilds in steps:
        before = tag()
        change()
        after = tag()
        assert (after != before) is rebuilds, what
        if rebuilds:
            assert after not in seen, f"{what}: a tag came back"
            seen.add(after)
        assert TAG.match(after)


def test_outputs_say_how_to_run_it_on_the_port_nginx_listens_on(dev: StackRun) -> None:
    from components.sample_image import CONTAINER_PORT

    listens = re.findall(r"^\s*listen (\d+);", (APP_DIR / "nginx" / "default.conf").read_text(), re.M)
    assert listens == [str(CONTAINER_PORT)]
    out = dev.outputs["sampleImage"]["artifactRegistry"]
    assert out["run"] == f"docker run --rm -p 8080:8080 {out['digest']}"


GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]


def checkout(origin: Path, where: Path, umask: int) -> Path:
    """A `git clone` made under UMASK, as a laptop (002) or CI (022) makes it."""
    subprocess.run([*GIT, "clone", "-q", str(origin), str(where)], check=True,
                   preexec_fn=lambda: os.umask(umask))
    return where


def modes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository holding app/ as committed, one file executable (git records 100755)."""
    repo = tmp_path_factory.mktemp("origin")
    shutil.copytree(APP_DIR, repo / "app")
    (repo / "app" / "site" / "run.sh").write_text("#!/bin/sh\n")
    (repo / "app" / "site" / "run.sh").chmod(0o755)
    subprocess.run([*GIT, "init", "-q", str(repo)], check=True)
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-qm", "app"], check=True)
    return repo


def test_same_commit_same_tag_under_any_umask(origin: Path, tmp_path: Path) -> None:
    laptop, ci = checkout(origin, tmp_path / "laptop", 0o002), checkout(origin, tmp_path / "ci", 0o022)
    # The checkouts really differ: group-writable files on the laptop.
    assert modes(laptop / "app") != modes(ci / "app")
    assert modes(laptop / "app")["site/index.html"] == 0o664 and modes(ci / "app")["site/index.html"] == 0o644
    # What pulumi-docker would hash in app/ itself differs (the reason for the copy) ...
    assert (context_digest(laptop / "app", laptop / "app" / "Dockerfile")
            != context_digest(ci / "app", ci / "app" / "Dockerfile"))
    # ... and in the copy it builds from, it does not: same tag, same build inputs, same digest input.
    built = {name: sample_site_build("https://github.com/acme/site", root) for name, root in
             (("laptop", laptop), ("ci", ci))}
    assert built["laptop"].tag == built["ci"].tag
    assert built["laptop"].build == built["ci"].build
    staged = {name: root / STAGED_APP for name, root in (("laptop", laptop), ("ci", ci))}
    assert (context_digest(staged["laptop"], staged["laptop"] / "Dockerfile")
            == context_digest(staged["ci"], staged["ci"] / "Dockerfile"))
    assert modes(staged["laptop"]) == modes(staged["ci"])
    assert modes(staged["ci"])["site/run.sh"] == 0o755 and modes(staged["ci"])["site/index.html"] == 0o644
    assert set(modes(staged["ci"]).values()) == {0o644, 0o755}


def test_the_copy_follows_app_exactly(origin: Path, tmp_path: Path) -> None:
    """A change git would record (bytes, a new or removed file, chmod +x) gives a new tag; a umask-only
    difference (group write) does not; the copy never keeps a file app/ no longer has."""
    root = checkout(origin, tmp_path / "work", 0o022)
    app = root / "app"
    first = sample_site_build("s", root).tag
    (app / "site" / "index.html").chmod(0o664)
    assert sample_site_build("s", root).tag == first
    (app / "site" / "style.css").chmod(0o755)
    executable = sample_site_build("s", root).tag
    assert executable != first
    (app / "site" / "style.css").chmod(0o644)
    assert sample_site_build("s", root).tag == first
    (app / "site" / "run.sh").unlink()
    removed = sample_site_build("s", root).tag
    assert removed not in (first, executable) and not (root / STAGED_APP / "site" / "run.sh").exists()
    leftovers = [p.name for p in (root / STAGED_APP).parent.iterdir() if p.name != "app"]
    assert leftovers == []


def test_every_staged_entry_has_the_fixed_mtime(tmp_path: Path) -> None:
    """Docker's COPY keeps mtimes in the layer: a fresh copy's times would make layers differ between
    machines (and between two stagings) although tag and pulumi-docker digest agree."""
    target = tmp_path / "staged"
    stage_context(APP_DIR, target)
    entries = [target, *target.rglob("*")]
    assert len(entries) > 3 and {p.lstat().st_mtime for p in entries} == {STAGED_MTIME}
    # A copy whose times were touched is no longer up to date: staged again, with the fixed time.
    os.utime(target / "Dockerfile")
    stage_context(APP_DIR, target)
    assert {p.lstat().st_mtime for p in [target, *target.rglob("*")]} == {STAGED_MTIME}


def test_an_up_to_date_copy_is_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "staged"
    stage_context(APP_DIR, target)
    before = target.stat().st_ino
    stage_context(APP_DIR, target)
    assert target.stat().st_ino == before


def test_a_symbolic_link_in_app_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "app"
    shutil.copytree(APP_DIR, source)
    (source / "site" / "link.html").symlink_to("index.html")
    with pytest.raises(SymlinkInContextError, match=r"link\.html is a symbolic link"):
        stage_context(source, tmp_path / "staged")


def _holds(value: Any, needle: str) -> bool:
    if isinstance(value, dict):
        return any(_holds(v, needle) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds(v, needle) for v in value)
    return isinstance(value, str) and needle in value


PRODUCTION_RUNS = {
    "prod": ("prod", {}),
    "dev as production": ("dev", {f"{NS}:production": True, f"{NS}:sampleImage": {"enabled": False}}),
}


@pytest.mark.parametrize("stack, overrides", PRODUCTION_RUNS.values(), ids=list(PRODUCTION_RUNS))
def test_no_per_run_token_reaches_a_production_stack(stack: str, overrides: dict[str, Any]) -> None:
    """Production is applied from a saved update plan (`pulumi up --plan`), which refuses any resource
    input that differs from the plan: a token minted per run would stop every prod update half-way.
    The deployer's token is not even asked for there."""
    run = run_stack(stack, overrides=overrides)
    assert run.resources
    assert [r.name for r in run.resources if _holds(unwrap(r.inputs), ACCESS_TOKEN)] == []
    assert [i for i in run.invokes if i.token == "gcp:organizations/getClientConfig:getClientConfig"] == []


def test_the_token_check_sees_a_token_where_there_is_one(dev: StackRun) -> None:
    assert [r.name for r in dev.resources if _holds(unwrap(r.inputs), ACCESS_TOKEN)] == [
        "sample-image-artifactRegistry"]


def test_app_is_staged_only_where_the_stack_pushes_the_sample_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production (sample image off) builds nothing from app/: the program must not write the staged
    copy there; its walkthrough commands still get a content-derived tag."""
    import components.app_source as app_source

    def refuse(source: Path, target: Path) -> None:
        raise AssertionError(f"staged {source} -> {target}")
    monkeypatch.setattr(app_source, "stage_context", refuse)
    prod = run_stack("prod")
    assert not prod.of_type("docker:index/image:Image")
    tag = app_source.sample_tag("unknown", enabled=False)[1]
    assert re.fullmatch(r"src-[0-9a-f]{12}", tag)
    assert f"manual-{tag.removeprefix('src-')}" in str(prod.outputs)
    with pytest.raises(AssertionError, match="staged"):
        run_stack("dev")

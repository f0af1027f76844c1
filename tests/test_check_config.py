"""`make check-config` as a newcomer runs it: the real make, a PATH with no Pulumi CLI (nothing at all
on it), temporary stack files with mistakes; every stack's problems at once, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.repo_copy import make, repo_copy

NS = "image-sharing"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return repo_copy(tmp_path / "repo")


def write_stack(repo: Path, stack: str, config: dict[str, object]) -> None:
    (repo / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def check(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    empty = repo.parent / "empty-bin"
    empty.mkdir(exist_ok=True)
    result = make(repo, "check-config", *args, env={"PATH": str(empty), "HOME": str(repo.parent), **(env or {})})
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    # make exits 2 when a recipe fails; the script's own status is in make's message.
    status = {0: 0, 2: int(result.stderr.rsplit("Error ", 1)[-1]) if "Error " in result.stderr else -1}
    own = "".join(line for line in result.stderr.splitlines(True) if not line.startswith("make: "))
    return status.get(result.returncode, -1), result.stdout + own


def test_every_stack_is_checked_at_once_and_a_good_one_says_ok(repo: Path) -> None:
    write_stack(repo, "local", {f"{NS}:target": "local", f"{NS}:registry": {"port": 80}})
    write_stack(repo, "dev", {"gcp:project": "image-sharing-dev", "gcp:zone": "asia-northeast3-z",
                              f"{NS}:registry": {"port": 80}, "gcp:impersonateServiceAccount": "ci@x.com"})
    code, out = check(repo)
    assert code == 1
    assert f"{NS}:registry.port = 80: expected a number from 1024 to 65535" in out
    assert "gcp:zone = 'asia-northeast3-z'" in out
    assert "prod: OK" in out
    dev = out.split("dev: ", 1)[1].split("\nlocal: ", 1)[0]
    # The unknown key first: the problems after it may follow from the default it left in place.
    assert dev.index("gcp:impersonateServiceAccount") < min(dev.index("gcp:zone"), dev.index("registry.port"))


def test_the_shipped_stacks_are_fine_and_one_stack_can_be_named(repo: Path) -> None:
    code, out = check(repo)
    assert (code, out.splitlines()) == (0, ["dev: OK", "local: OK", "prod: OK"])
    write_stack(repo, "local", {f"{NS}:target": "local", f"{NS}:registry": {"port": 80}})
    assert check(repo, "STACK=prod") == (0, "prod: OK\n")
    code, out = check(repo, env={"STACK": "local"})
    assert code == 1 and out.startswith("local: 1 problem(s)") and "prod" not in out


def test_a_misspelled_target_on_the_local_stack_asks_for_no_gcp_project(repo: Path) -> None:
    write_stack(repo, "local", {f"{NS}:traget": "local"})
    code, out = check(repo, "STACK=local")
    assert code == 1
    assert "did you mean 'target'? (`target` takes \"gcp\", \"local\"" in out
    assert "gcp:project" not in out.split("(`target` takes", 1)[0] and "(not set)" not in out
    write_stack(repo, "local", {f"{NS}:target": "locl"})
    code, out = check(repo, "STACK=local")
    assert code == 1 and "target = 'locl': expected one of \"gcp\", \"local\"; did you mean 'local'?" in out
    assert "(not set)" not in out


def test_a_misspelled_gcp_key_is_reported_without_what_its_default_implies(repo: Path) -> None:
    write_stack(repo, "dev", {"gcp:projct": "image-sharing-dev", "gcp:zone": "asia-northeast3-x"})
    code, out = check(repo, "STACK=dev")
    assert code == 1 and "gcp:projct = 'image-sharing-dev'" in out and "did you mean 'project'?" in out
    assert "gcp:project = (not set)" not in out
    assert "gcp:zone = 'asia-northeast3-x'" in out, "the other keys are still checked"
    # A misspelled region: the zone is not judged against the default region it did not mean.
    write_stack(repo, "dev", {"gcp:project": "image-sharing-dev", "gcp:regin": "europe-west1",
                              "gcp:zone": "europe-west1-b"})
    code, out = check(repo, "STACK=dev")
    assert code == 1 and "did you mean 'region'?" in out and "gcp:zone" not in out.split("did you mean", 1)[1]


def test_a_secure_secret_counts_as_set_and_a_plain_one_is_refused(repo: Path) -> None:
    tls = {f"{NS}:registryVm": {"directAccessCidrs": ["203.0.113.0/24"]}}
    secure = {f"{NS}:registryTlsCert": {"secure": "v1:AAAA"}, f"{NS}:registryTlsKey": {"secure": "v1:BBBB"}}
    write_stack(repo, "dev", {"gcp:project": "image-sharing-dev", **tls, **secure})
    assert check(repo, "STACK=dev") == (0, "dev: OK\n")
    write_stack(repo, "dev", {"gcp:project": "image-sharing-dev", **tls, **secure,
                              f"{NS}:registryTlsCert": "plain-certificate-text"})
    code, out = check(repo, "STACK=dev")
    assert code == 1 and f"{NS}:registryTlsCert = (value hidden): expected a secret" in out
    assert "plain-certificate-text" not in out


def test_a_broken_stack_file_and_an_unknown_stack_are_reported_plainly(repo: Path) -> None:
    (repo / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: [unclosed\n")
    code, out = check(repo)
    assert code == 1 and "dev: 1 problem(s)" in out and "Pulumi.dev.yaml: not valid YAML" in out
    assert "local: OK" in out
    code, out = check(repo, "STACK=staging")
    assert code == 2 and "no stack file Pulumi.staging.yaml; the stacks here: dev, local, prod" in out


def test_the_bootstrap_stack_is_checked_when_named_placeholders_included(repo: Path) -> None:
    code, out = check(repo, "STACK=bootstrap")
    assert code == 1 and out.startswith("bootstrap: 6 problem(s) in bootstrap/Pulumi.ci.yaml")
    assert "image-sharing-bootstrap:githubRepository = 'your-org/image-sharing': expected your repository" in out
    filled = (repo / "bootstrap" / "Pulumi.ci.yaml").read_text()
    for old, new in (("image-sharing-ci", "acme-images-ci"), ("your-org/image-sharing", "acme/image-sharing"),
                     ("123456789", "912345678"), ("User:1234567", "User:7654321"),
                     ("image-sharing-dev", "acme-images-dev"), ("image-sharing-prod", "acme-images-prod")):
        filled = filled.replace(old, new)
    (repo / "bootstrap" / "Pulumi.ci.yaml").write_text(filled)
    assert check(repo, "STACK=bootstrap") == (0, "bootstrap: OK\n")
    # Not among the stacks checked by default: a local-only newcomer never fills it in.
    assert "bootstrap" not in check(repo)[1]

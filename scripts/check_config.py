"""`make check-config [STACK=...]`: every stack's config problems (or the named stack's), all at once,
without the Pulumi CLI and without a traceback. Exit 1 on any problem, 0 with one OK line per stack.

Each stack file (Pulumi.<stack>.yaml) is read as the Pulumi CLI hands it to the program, and the
settings loader the program runs (components/settings/) checks it under Pulumi's mocks: no resource
is registered, nothing leaves this machine. A secret (`secure:` in the stack file) counts as set; its
value is the CLI's to decrypt and is not checked here."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "bootstrap"))  # its `foundation` package

from stackconfig.reader import SettingsError
from tests.harness import BOOTSTRAP, ROOT, run_stack

# `STACK=bootstrap` checks the bootstrap project's one stack (bootstrap/Pulumi.ci.yaml), placeholders
# included; it is not among the stacks checked by default, which a local-only newcomer never fills in.
BOOTSTRAP_NAME = "bootstrap"


def stacks(project_dir: Path = ROOT) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml"))


def _load_settings_only() -> None:
    from components.settings import load_settings

    load_settings()


def _load_bootstrap_settings_only() -> None:
    from foundation.settings import load_settings  # bootstrap/ is on the path while its stack runs

    load_settings()


def problems_of(stack: str) -> list[str]:
    """Each problem of the stack's config as one line; empty when it is fine."""
    bootstrap = stack == BOOTSTRAP_NAME
    path = BOOTSTRAP / "Pulumi.ci.yaml" if bootstrap else ROOT / f"Pulumi.{stack}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        return [f"{path.name}: cannot be read ({err.strerror})"]
    except yaml.YAMLError as err:
        return [f"{path.name}: not valid YAML ({' '.join(str(err).split())})"]
    if data is not None and not (isinstance(data, dict) and isinstance(data.get("config", {}), dict | None)):
        return [f"{path.name}: expected a mapping with a `config:` mapping of KEY: VALUE"]
    try:
        if bootstrap:
            run_stack("ci", project_dir=BOOTSTRAP, program=_load_bootstrap_settings_only, as_shipped=True)
        else:
            run_stack(stack, program=_load_settings_only)
    except SettingsError as err:  # one reader for both programs (stackconfig/)
        return [str(problem) for problem in err.problems]
    return []


def main(argv: list[str]) -> int:
    known = stacks()
    wanted = [a for a in argv if a] or known
    unknown = [s for s in wanted if s not in [*known, BOOTSTRAP_NAME]]
    if unknown:
        print(f"no stack file Pulumi.{unknown[0]}.yaml; the stacks here: {', '.join(known)} "
              f"(and {BOOTSTRAP_NAME}: bootstrap/Pulumi.ci.yaml)", file=sys.stderr)
        return 2
    failed = False
    for stack in wanted:
        found = problems_of(stack)
        if found:
            failed = True
            where, fix = ("bootstrap/Pulumi.ci.yaml", "in the file") if stack == BOOTSTRAP_NAME else (
                f"Pulumi.{stack}.yaml", f"with `pulumi config set -s {stack} [--path] KEY VALUE` or in the file")
            print(f"{stack}: {len(found)} problem(s) in {where}; fix each {fix}:")
            print("\n".join(f"  - {line}" for line in found))
        else:
            print(f"{stack}: OK")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

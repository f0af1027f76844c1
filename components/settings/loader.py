"""Reads the stack's config once, before any resource exists: every capability's keys and rules, every
problem at once."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import pulumi

from components.settings import artifact_registry, gcp, network, pipeline, registry, secrets
from components.settings.stack import Settings
from stackconfig.reader import INVALID, Problem, SettingsError, closest, config_fields, parse_object

# Each capability's rules that tie several keys together, in the order their problems are listed.
CROSS_CHECKS: tuple[Callable[[Settings, str, list[Problem]], None], ...] = (
    registry.cross_checks,
    network.cross_checks,
    secrets.cross_checks,
    artifact_registry.cross_checks,
    pipeline.cross_checks,
    # Names the program derives from several keys, then what they need.
    artifact_registry.derived_checks,
    pipeline.derived_checks,
    registry.derived_checks,
)


def _decode(raw: str) -> Any:
    """Pulumi hands every top-level value over as a string; objects and scalars are JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or numbers/nesting beyond Python's limits
        return raw


def _all_config() -> dict[str, Any]:
    # pulumi.Config only answers for keys it is asked about; to report typos in top-level keys
    # we need every key the engine passed in (pulumi.runtime.config holds them).
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def load_settings() -> Settings:
    """Reads and validates the whole stack config; raises SettingsError listing every problem."""
    namespace = pulumi.get_project()
    problems: list[Problem] = []
    prefix = f"{namespace}:"
    config = _all_config()
    raw = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}
    read_secrets = secrets.read_secrets(namespace, raw, problems)
    problems += [Problem(f"{prefix}{key}", None, expected, secret=True)
                 for key, expected in secrets.RETIRED_SECRETS.items() if key in raw]
    objects = {k: _decode(v) if isinstance(v, str) else v for k, v in raw.items()
               if k not in secrets.SECRET_KEYS and k not in secrets.RETIRED_SECRETS}
    parsed = parse_object(Settings, objects, prefix, problems,
                          extra={"project_name": namespace, "stack": pulumi.get_stack(),
                                 "gcp": None, "secrets": read_secrets}, also_known=secrets.SECRET_KEYS)
    misspelled_gcp = gcp.unknown_gcp_keys(config, problems)
    target = parsed.target if parsed is not INVALID else objects.get("target", _guessed_target(objects, namespace,
                                                                                              problems))
    gcp_settings = gcp.read_gcp(target, problems, misspelled_gcp)
    if parsed is not INVALID:
        parsed = replace(parsed, gcp=gcp_settings)
        for check in CROSS_CHECKS:
            check(parsed, namespace, problems)
    if problems:
        # Unknown keys first: what follows may be the consequence of the default they left in place.
        problems.sort(key=lambda p: not p.unknown_key)
        raise SettingsError([_hide_secrets(p) for p in problems])
    return cast(Settings, parsed)


def _guessed_target(objects: dict[str, Any], namespace: str, problems: list[Problem]) -> str | None:
    """The target when `target` is unset: its default, "gcp", unless an unknown key looks like a
    misspelled `target`. Then the target is unknown (None): asking a stack that meant `local` for a GCP
    project would only mislead, so the misspelling's problem says what `target` takes instead."""
    known = list(config_fields(Settings))
    for key in objects:
        if key not in known and closest(key, known) == "target":
            accepted = ", ".join(json.dumps(a) for a in typing.get_args(typing.get_type_hints(Settings)["target"]))
            for i, problem in enumerate(problems):
                if problem.key == f"{namespace}:{key}" and problem.unknown_key:
                    problems[i] = replace(problem, expected=f"{problem.expected} (`target` takes {accepted}; "
                                                            "unset, it is \"gcp\", which needs gcp:project)")
            return None
    return "gcp"


def _hide_secrets(problem: Problem) -> Problem:
    """Whatever the key (a secret one, or a misspelling of one set with --secret), a value set as a
    secret is never printed, nor any part of it."""
    from pulumi.runtime import config as runtime_config

    top = re.split(r"[.\[]", problem.key, maxsplit=1)[0]
    return problem.hidden() if runtime_config.is_config_secret(top) else problem

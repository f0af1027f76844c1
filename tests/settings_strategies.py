"""Hypothesis strategies for stack configs, built from the settings dataclasses themselves (type hints,
Literal values, nested dataclasses, defaults): a key added to settings is generated with no change here.

A drawn config is a few leaf keys set to values of the right type (good, odd or hostile), sometimes a
value of the wrong type, an unknown key or a raw top-level text no parser likes. The latter three are
bad whatever the other keys say, so the config carries them as `bad`: a run must name each."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from hypothesis import strategies as st

from components.settings import SECRET_KEYS, Settings
from stackconfig.reader import config_fields

NS = "image-sharing"

# Strings each key's grammar accepts somewhere, and strings something refuses: every str key draws from
# both, so runs happen and checks are exercised.
GOOD_STRINGS = [
    "images", "team-images", "hello-nginx", "team/site.web", "site__v2", "registry:2.8.3", "registry:3.0.0",
    "mirror.example.com:5000/registry:2.8.3", "acme/site", "Acme-Corp/site.io", "^main$", r"^release-\p{N}+$",
    "e2-small", "n2-standard-2", "default", "team-registry-bucket", "registry.example.com", "012345-6789AB-CDEF01",
    "EUR", "KRW", "alice1", "registry", "v", "release-",
    "projects/image-sharing-dev/locations/asia-northeast3/keyRings/ring/cryptoKeys/key",
    "user:ann@example.com", "group:team@example.com", "serviceAccount:ci@p.iam.gserviceaccount.com",
    "domain:example.com", "203.0.113.0/24", "35.235.240.0/20", "2001:db8::/32", "Docker images",
    "asia-northeast3-docker.pkg.dev/image-sharing-dev/images", "us-docker.pkg.dev/other-project/team-images",
]
HOSTILE_STRINGS = [
    "", " ", "A", "x" * 300, "y" * 70, "a\x00b", "\ud800", "한글", "goog-x", "my-g00gle", "192.168.5.4",
    "allUsers", "user:allUsers", "0.0.0.0/0", "::/0", "^(?=x)", r"(a)\1", "(", "a{1001}", "latest",
    "registry:latest", "registry:2.8.2", "Registry:2", "a/b/c", "xau", "images-", "-", "..", "user:A@x.com",
    "team/" + "a" * 240, "r" * 60, "registry@sha256:" + "A" * 64, "registry@md5:abc",
]
INTS = [0, 1, 2, 5, 7, 10, 30, 53, 100, 365, 1024, 3650, 5000, 65535, 65536, -1, 2**53, 2**64, 10**400]
# Raw top-level texts (the engine hands every top-level value over as text).
HOSTILE_RAW = ["[" * 5000, '{"x": 1' + "0" * 5000 + "}", "NaN", "1e400", "{", '"' + "z" * 100_000 + '"']
WRONG: list[Any] = [[1]]  # a list: never valid for a scalar, and JSON keeps it a list at the top level too


@dataclass(frozen=True)
class Leaf:
    path: str          # camelCase, dotted: "artifactRegistry.cleanup.keepRecent"
    type: Any


@dataclass
class Config:
    overrides: dict[str, Any] = field(default_factory=dict)   # full `ns:key` -> value, as run_stack takes
    bad: set[str] = field(default_factory=set)                # full keys that must be named


def leaves(cls: type, prefix: str = "") -> list[Leaf]:
    hints = typing.get_type_hints(cls)
    found: list[Leaf] = []
    for key, f in config_fields(cls).items():
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            found += leaves(tp, f"{prefix}{key}.")  # type: ignore[arg-type]
        else:
            found.append(Leaf(prefix + key, tp))
    return found


LEAVES = leaves(Settings)


def values_of(tp: Any) -> st.SearchStrategy[Any]:
    """Values of the right JSON type for a type hint: what the type check lets through."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return st.one_of(st.none(), *(values_of(a) for a in inner))
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.sampled_from(INTS) | st.integers(-5, 70_000)
    if tp is str:
        return st.sampled_from(GOOD_STRINGS) | st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=12)
    if origin is Literal:
        return st.sampled_from(typing.get_args(tp))
    if origin is tuple:
        return st.lists(values_of(typing.get_args(tp)[0]), max_size=3)
    if dataclasses.is_dataclass(tp):  # an object inside a list: some of its keys set
        hints = typing.get_type_hints(tp)
        return st.fixed_dictionaries({}, optional={key: st.deferred(lambda t=hints[f.name]: values_of(t))
                                                   for key, f in config_fields(tp).items()})  # type: ignore[arg-type]
    raise TypeError(f"no strategy for {tp!r}: teach tests/settings_strategies.py this type")


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[last] = value


LEAF_PREFIXES = {".".join(leaf.path.split(".")[:n]) for leaf in LEAVES
                 for n in range(1, leaf.path.count(".") + 2)} | set(SECRET_KEYS)
GCP_KEYS = ["gcp:project", "gcp:region", "gcp:zone"]
GCP_VALUES = ["my-project-1", "us-east1", "europe-west9", "us-east1-b", "asia-northeast3-c", "mars-1", "P", ""]


def _typo(draw: st.DrawFn, tree: dict[str, Any], bad: set[str]) -> None:
    """A known key with one character dropped: the first unknown part of it must be reported."""
    key = draw(st.sampled_from(sorted(LEAF_PREFIXES) + GCP_KEYS))
    cut = draw(st.integers(0, len(key) - 1))
    typo = key[:cut] + key[cut + 1:]
    if key in GCP_KEYS:
        if typo.startswith("gcp:") and typo not in GCP_KEYS:
            tree[typo] = "typo-value"  # marked: configs() puts it outside the project's namespace
            bad.add(typo)
        return
    parts = typo.split(".")
    if "" in parts or ":" in typo:
        return
    unknown = next((".".join(parts[:n]) for n in range(1, len(parts) + 1)
                    if ".".join(parts[:n]) not in LEAF_PREFIXES), None)
    if unknown is not None:
        _set(tree, typo, "typo-value")
        bad.add(f"{NS}:{unknown}")


@st.composite
def configs(draw: st.DrawFn, hostile: bool = True) -> Config:
    """A few keys set; with `hostile`, also wrong types, unknown keys and unparseable top-level texts."""
    tree: dict[str, Any] = {}
    bad: set[str] = set()
    for leaf in draw(st.lists(st.sampled_from(LEAVES), max_size=4, unique_by=lambda leaf: leaf.path)):
        if hostile and draw(st.integers(0, 9)) == 0:
            _set(tree, leaf.path, WRONG[0])
            bad.add(f"{NS}:{leaf.path}")
        else:
            _set(tree, leaf.path, draw(values_of(leaf.type)))
    if draw(st.integers(0, 5)) == 0:
        tree[draw(st.sampled_from(GCP_KEYS))] = draw(st.sampled_from(GCP_VALUES))
    if hostile and draw(st.integers(0, 4)) == 0:
        _typo(draw, tree, bad)
    config = Config({top if top.startswith("gcp:") else f"{NS}:{top}": value for top, value in tree.items()}, bad)
    if hostile and draw(st.integers(0, 6)) == 0:
        top = draw(st.sampled_from(sorted({leaf.path.split(".")[0] for leaf in LEAVES})))
        full = f"{NS}:{top}"
        config.overrides[full] = draw(st.sampled_from(HOSTILE_RAW))
        config.bad = {k for k in config.bad if not k.startswith((full + ".", full + "["))} | {full}
    return config

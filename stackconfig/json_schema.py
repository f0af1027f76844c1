"""A JSON Schema (draft 2020-12) of a Pulumi stack file, generated from the settings dataclasses, so an
editor (the YAML language server: VS Code, Neovim, ...) checks and completes `Pulumi.<stack>.yaml` as it is
typed. It says what the types, the Literal values and the checks' `Rule` fragments say (patterns, ranges,
lists of values), with the `doc=` texts as descriptions. It never refuses what the settings accept; the
settings, with their cross-key rules, still have the last word at `pulumi preview`."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Union

from stackconfig.reader import config_fields, required
from stackconfig.rules import schema_of

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# What a stack file holds besides `config` (Pulumi writes these for its secrets providers).
STACK_FILE_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt", "environment")
# `pulumi config set --secret` writes {secure: CIPHERTEXT}.
SECRET = {"type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
          "additionalProperties": False}


def _anchored(pattern: str) -> str:
    """JSON Schema searches a pattern anywhere in the value; the settings match the whole value."""
    return pattern if pattern.startswith("^") and pattern.endswith("$") else f"^(?:{pattern})$"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in _defaults(type(value)).items()}
    return value


def _defaults_of(f: dataclasses.Field[Any]) -> list[Any]:
    """The field's default, as a one-item list; empty for a required key."""
    if f.default is not dataclasses.MISSING:
        return [f.default]
    if f.default_factory is not dataclasses.MISSING:
        return [f.default_factory()]
    return []


def _defaults(cls: type) -> dict[str, Any]:
    return {key: found[0] for key, f in config_fields(cls).items() if (found := _defaults_of(f))}


def type_schema(tp: Any, *, top_level: bool = False) -> dict[str, Any]:
    """The JSON Schema of a settings type hint. `top_level`: Pulumi hands a top-level scalar over as
    text, and `pulumi config set production true` writes the string "true", which the reader decodes."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) != 1:  # pragma: no cover - a schema bug, not a user error
            raise TypeError(f"unsupported settings type {tp!r}")
        return {"anyOf": [type_schema(inner[0], top_level=top_level), {"type": "null"}]}
    if tp is bool:
        return {"anyOf": [{"type": "boolean"}, {"enum": ["true", "false"]}]} if top_level else {"type": "boolean"}
    if tp is int:
        return ({"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]+$"}]} if top_level
                else {"type": "integer"})
    if tp is str:
        return {"type": "string"}
    if origin is Literal:
        values = list(typing.get_args(tp))
        texts = [str(v) for v in values if isinstance(v, int) and not isinstance(v, bool)] if top_level else []
        return {"enum": values + texts}
    if origin is tuple:
        return {"type": "array", "items": type_schema(typing.get_args(tp)[0])}
    if dataclasses.is_dataclass(tp):
        return object_schema(tp)  # type: ignore[arg-type]
    raise TypeError(f"unsupported settings type {tp!r}")  # pragma: no cover


def _constrain(schema: dict[str, Any], rule: Mapping[str, Any]) -> dict[str, Any]:
    """Puts a check's fragment where the value itself is described (inside anyOf's non-null branch)."""
    if not rule:
        return schema
    if "anyOf" in schema:
        return {**schema, "anyOf": [_constrain(branch, rule) if branch.get("type") != "null" else branch
                                    for branch in schema["anyOf"]]}
    fragment = dict(rule)
    if "pattern" in fragment:
        fragment["pattern"] = _anchored(fragment["pattern"])
    if "items" in fragment and "items" in schema:
        fragment["items"] = _constrain(schema["items"], fragment["items"])
    if schema.get("type") == "string" and ("minimum" in fragment or "maximum" in fragment):
        return schema  # a number's text at the top level: the reader decodes it, the range is checked then
    return {**schema, **fragment}


def field_schema(f: dataclasses.Field[Any], tp: Any, *, top_level: bool = False) -> dict[str, Any]:
    schema = _constrain(type_schema(tp, top_level=top_level), schema_of(f.metadata.get("check")))
    doc = f.metadata.get("doc")
    if doc:
        schema["description"] = doc
    defaults = _defaults_of(f)
    if defaults:
        schema["default"] = _jsonable(defaults[0])
    return schema


def object_schema(cls: type, *, top_level: bool = False) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = config_fields(cls)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {key: field_schema(f, hints[f.name], top_level=top_level) for key, f in fields.items()},
        "additionalProperties": False,
    }
    needed = [key for key, f in fields.items() if required(f)]
    if needed:
        schema["required"] = needed
    return schema


def namespaced(namespace: str, cls: type) -> dict[str, dict[str, Any]]:
    """A settings dataclass's keys as they sit in a stack file's `config`: `NAMESPACE:key`."""
    top = object_schema(cls, top_level=True)
    return {f"{namespace}:{key}": schema for key, schema in top["properties"].items()}


def secrets(namespace: str, docs: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    return {f"{namespace}:{key}": {**SECRET, "description": f"{doc} Set with `pulumi config set --secret {key} "
                                   "...`: a plain value is refused."} for key, doc in docs.items()}


def stack_file(*, title: str, keys: Mapping[str, dict[str, Any]], owned: Iterable[str],
               config_rules: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """The schema of a whole stack file. Keys of the `owned` namespaces are known exactly (a typo is
    refused); other namespaces (another provider's config) are left to their owners."""
    owned = sorted(owned)
    config: dict[str, Any] = {
        "type": "object",
        "properties": dict(keys),
        "patternProperties": {
            "^(?!(?:" + "|".join(name.replace(".", "[.]") for name in owned) + "):)[^:]+:.+$": {},
        },
        "additionalProperties": False,
    }
    rules = list(config_rules)
    if rules:
        config["allOf"] = rules
    return {
        "$schema": DIALECT,
        "title": title,
        "description": "Generated from the settings dataclasses (scripts/stack_schema.py); do not edit by hand.",
        "type": "object",
        "properties": {"config": config, **{key: {} for key in STACK_FILE_KEYS}},
        "additionalProperties": False,
    }

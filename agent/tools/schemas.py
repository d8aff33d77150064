"""Turning a tool's JSON schema into the one the model sees: `pre_exec_msg` first, strict mode."""

from __future__ import annotations

import copy
from typing import Any

PRE_EXEC_MSG = "pre_exec_msg"
PRE_EXEC_DESCRIPTION = (
    "A short sentence to say aloud to the caller before the tool runs, "
    "e.g. 'One moment, let me check that for you.'"
)


def with_pre_exec_msg(parameters: dict[str, Any]) -> dict[str, Any]:
    """A copy of `parameters` with `pre_exec_msg` inserted FIRST in properties and required.

    First, so that the model writes it first and it can be spoken while the rest of
    the arguments are still streaming. `request_heartbeat` (a Letta-ism) is removed.
    """
    schema: dict[str, Any] = copy.deepcopy(parameters) if parameters else {"type": "object", "properties": {}}
    properties = {k: v for k, v in schema.get("properties", {}).items() if k not in (PRE_EXEC_MSG, "request_heartbeat")}
    schema["properties"] = {PRE_EXEC_MSG: {"type": "string", "description": PRE_EXEC_DESCRIPTION}, **properties}
    required = [r for r in schema.get("required", []) if r not in (PRE_EXEC_MSG, "request_heartbeat")]
    schema["required"] = [PRE_EXEC_MSG, *required]
    schema.setdefault("type", "object")
    return schema


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    if _accepts_null(prop):
        return prop
    kind = prop.get("type")
    if isinstance(kind, str | list):
        nullable = {**prop, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
        if "enum" in prop:
            nullable["enum"] = [*prop["enum"], None]
        return nullable
    if "anyOf" in prop:
        return {**prop, "anyOf": [*prop["anyOf"], {"type": "null"}]}
    return {"anyOf": [prop, {"type": "null"}]}


def _accepts_null(prop: dict[str, Any]) -> bool:
    kind = prop.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind) or any(_accepts_null(p) for p in prop.get("anyOf", []))


def _is_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def _subschemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemas nested directly in `schema` that strict mode must also accept."""
    nested = [*schema.get("properties", {}).values(), *schema.get("$defs", {}).values(), *schema.get("anyOf", [])]
    if isinstance(schema.get("items"), dict):
        nested.append(schema["items"])
    return nested


_NOT_IN_STRICT_MODE = frozenset({
    "allOf", "oneOf", "not", "if", "then", "else", "definitions", "patternProperties", "propertyNames",
    "unevaluatedProperties", "unevaluatedItems", "dependentRequired", "dependentSchemas", "minProperties",
    "maxProperties", "prefixItems", "contains", "minContains", "maxContains", "uniqueItems",
})


def strict_compatible(schema: dict[str, Any]) -> bool:
    """Whether OpenAI strict mode can express `schema` without changing what it accepts.

    It cannot when an object is open-ended (no `properties`, or `additionalProperties`
    allowed, e.g. a free-form map) or when a keyword strict mode rejects appears.
    """
    if _NOT_IN_STRICT_MODE & schema.keys():
        return False
    if _is_object(schema) and ("properties" not in schema or schema.get("additionalProperties") not in (None, False)):
        return False
    return all(strict_compatible(s) for s in _subschemas(schema))


def strictify(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI strict mode: every field required, optional ones nullable, no extra properties.

    Applied recursively (properties, array items, `anyOf` branches, `$defs`); `default`
    keywords are dropped because strict mode rejects them.
    """
    strict = {k: v for k, v in schema.items() if k != "default"}
    if "$defs" in schema:
        strict["$defs"] = {name: strictify(d) for name, d in schema["$defs"].items()}
    if "anyOf" in schema:
        strict["anyOf"] = [strictify(s) for s in schema["anyOf"]]
    if isinstance(schema.get("items"), dict):
        strict["items"] = strictify(schema["items"])
    if not _is_object(schema):
        return strict
    required = set(schema.get("required", []))
    properties = {name: strictify(prop) for name, prop in schema.get("properties", {}).items()}
    properties = {name: prop if name in required else _nullable(prop) for name, prop in properties.items()}
    return {**strict, "properties": properties, "required": list(properties), "additionalProperties": False}


def drop_optional_nulls(arguments: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Undo strict mode's padding: `null` for a field the tool's own schema made optional means "not given".

    Nulls the tool's schema itself allows are kept; nested objects are cleaned the same way.
    """
    required = set(schema.get("required", []))
    properties = schema.get("properties", {})
    cleaned: dict[str, Any] = {}
    for name, value in arguments.items():
        prop = properties.get(name, {})
        if value is None and name not in required and not _accepts_null(prop):
            continue
        cleaned[name] = drop_optional_nulls(value, prop) if isinstance(value, dict) and _is_object(prop) else value
    return cleaned


def function_tool(name: str, description: str, parameters: dict[str, Any], strict: bool) -> dict[str, Any]:
    """The chat-completions `tools[]` entry the model sees for one tool.

    With `strict`, a schema strict mode cannot express falls back to non-strict for
    this tool only (`"strict": false`), so one odd tool never breaks the others.
    """
    schema = with_pre_exec_msg(parameters)
    function: dict[str, Any] = {"name": name, "description": description, "parameters": schema}
    if strict:
        function["strict"] = strict_compatible(schema)
        if function["strict"]:
            function["parameters"] = strictify(schema)
    return {"type": "function", "function": function}

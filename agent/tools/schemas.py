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
    schema = copy.deepcopy(parameters) if parameters else {"type": "object", "properties": {}}
    properties = {k: v for k, v in schema.get("properties", {}).items() if k not in (PRE_EXEC_MSG, "request_heartbeat")}
    schema["properties"] = {PRE_EXEC_MSG: {"type": "string", "description": PRE_EXEC_DESCRIPTION}, **properties}
    required = [r for r in schema.get("required", []) if r not in (PRE_EXEC_MSG, "request_heartbeat")]
    schema["required"] = [PRE_EXEC_MSG, *required]
    schema.setdefault("type", "object")
    return schema


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    kind = prop.get("type")
    if isinstance(kind, str):
        return {**prop, "type": [kind, "null"]}
    if isinstance(kind, list) and "null" not in kind:
        return {**prop, "type": [*kind, "null"]}
    if "anyOf" in prop and not any(p.get("type") == "null" for p in prop["anyOf"]):
        return {**prop, "anyOf": [*prop["anyOf"], {"type": "null"}]}
    return prop


def strictify(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI strict mode: every field required, optional ones nullable, no extra properties.

    Applied recursively to nested objects; `default` keywords are dropped because
    strict mode rejects them.
    """
    if schema.get("type") != "object" and "properties" not in schema:
        return schema
    required = set(schema.get("required", []))
    properties: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "default"}
        if prop.get("type") == "object":
            prop = strictify(prop)
        elif prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            prop = {**prop, "items": strictify(prop["items"])}
        properties[name] = prop if name in required else _nullable(prop)
    return {**schema, "properties": properties, "required": list(properties), "additionalProperties": False}


def function_tool(name: str, description: str, parameters: dict[str, Any], strict: bool) -> dict[str, Any]:
    """The chat-completions `tools[]` entry the model sees for one tool."""
    schema = with_pre_exec_msg(parameters)
    function: dict[str, Any] = {"name": name, "description": description, "parameters": schema}
    if strict:
        function["parameters"] = strictify(schema)
        function["strict"] = True
    return {"type": "function", "function": function}

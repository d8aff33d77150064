"""Tools an operator writes as plain Python functions, referenced as `module:function`."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import docstring_parser
from pydantic import ConfigDict, Field, create_model

from agent.tools.base import Tool


class ToolImportError(ValueError):
    """A `module:function` reference that does not name a callable."""


def _resolve(reference: str) -> Callable[..., Any]:
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise ToolImportError(f"tool reference {reference!r} must look like 'module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolImportError(f"cannot import module {module_name!r} for tool {reference!r}: {exc}") from exc
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ToolImportError(f"{module_name!r} has no {attribute!r}")
    if not callable(target):
        raise ToolImportError(f"{reference!r} is not callable")
    return target


def tool_from_function(function: Callable[..., Any]) -> Tool:
    """Adapt a Python function: the schema comes from its signature, descriptions from its docstring.

    Sync functions run in a worker thread so they never block the event loop.
    """
    doc = docstring_parser.parse(inspect.getdoc(function) or "")
    param_docs = {p.arg_name: p.description for p in doc.params}
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(function).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = param.annotation if param.annotation is not inspect.Parameter.empty else str
        default = param.default if param.default is not inspect.Parameter.empty else ...
        fields[name] = (annotation, Field(default, description=param_docs.get(name)))
    arguments_model = create_model(
        f"{function.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    schema = arguments_model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)

    async def run(arguments: dict[str, Any]) -> Any:
        validated = arguments_model.model_validate(arguments)
        kwargs = {name: getattr(validated, name) for name in fields}
        if inspect.iscoroutinefunction(function):
            return await function(**kwargs)
        return await asyncio.to_thread(function, **kwargs)

    description = "\n\n".join(d for d in (doc.short_description, doc.long_description) if d)
    return Tool(name=function.__name__, description=description, parameters=schema, run=run)


def load_python_tool(reference: str) -> Tool:
    """The tool named by `module:function`."""
    return tool_from_function(_resolve(reference))

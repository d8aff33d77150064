"""JSON from a client, checked before anything reads it: nesting depth, number ranges and text encoding.

`json.loads` alone lets through what breaks code further in: frames nested deeper than
the interpreter's recursion limit, integers of thousands of digits (ValueError),
`NaN`/`Infinity`, and lone UTF-16 surrogates (`"\\ud800"`) that cannot be encoded
again when the text is stored, logged or sent back.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_SAFE_INTEGER = 2**53


class UnsafeJson(ValueError):
    """A frame that is not JSON this server accepts; the message says why, without echoing the frame."""


def _no_constants(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number")


def _check_text(text: str, what: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJson(f"{what} is not valid Unicode (a lone surrogate escape such as \\ud800)") from None


def _check_tree(value: Any, max_depth: int) -> None:
    """Walk the parsed value without recursion: depth, numbers and every string (keys included)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth >= max_depth:
                raise UnsafeJson(f"nested deeper than {max_depth} levels")
            children = node.values() if isinstance(node, dict) else node
            if isinstance(node, dict):
                for key in node:
                    _check_text(key, "a key")
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(node, str):
            _check_text(node, "a string")
        elif isinstance(node, bool) or node is None:
            continue
        elif isinstance(node, int):
            if abs(node) > MAX_SAFE_INTEGER:
                raise UnsafeJson(f"an integer beyond ±2^53 ({str(node)[:12]}...)")
        elif isinstance(node, float) and not math.isfinite(node):
            raise UnsafeJson("a number too large to represent")


def load_checked(text: str, max_depth: int) -> Any:
    """Parse `text` as JSON and check it; UnsafeJson says what is wrong."""
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise UnsafeJson(f"malformed JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise UnsafeJson(f"nested deeper than {max_depth} levels") from None
    except UnsafeJson:
        raise
    except ValueError:  # int() refuses numbers of more than 4,300 digits
        raise UnsafeJson("a number with too many digits") from None
    _check_tree(value, max_depth)
    return value

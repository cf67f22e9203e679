"""Checks of assignment.toml values, shared by grader.course.assignment and its settings modules.

Each raises `Bad` with one line naming the key (`model.points must be a positive number, not 0`);
grader.course.assignment turns it into AssignmentError. Calls nothing of the grader's.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any


class Bad(Exception):
    """A value of assignment.toml that cannot be used; the message names the key."""


def check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f" (allowed: {', '.join(allowed)})"
            raise Bad(f"unknown key '{prefix}{key}'{hint}")


def string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise Bad(f"{key} must be a string, not {type_name(value)}")
    return value


def string_list(value: Any, key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise Bad(f"{key} must be a list of strings, not {type_name(value)}")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise Bad(f"{key} must be a list of strings; found {type_name(item)} {item!r}")
        if not pattern.match(item):
            raise Bad(f"{key}: {item!r} is not {what}")
        if item not in out:
            out.append(item)
    return tuple(out)


def type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise Bad(f"{key} must be a table ([{key}]), not {type_name(value)}")
    return value


def positive(value: Any, key: str, integer: bool = True) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0 or not math.isfinite(value):
        raise Bad(f"{key} must be a positive {'integer' if integer else 'number'}, not {value!r}")
    return value

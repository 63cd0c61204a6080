"""Merging of scenario tables: ``extends`` inheritance and dotted ``key=value`` overrides.

Pure functions on plain dicts, so ``io`` (files) and ``Scenario.with_overrides`` (in memory)
share one implementation. Tables merge deeply; arrays, scalars and distributions replace.
"""

from __future__ import annotations

import copy
import re
import tomllib
from typing import Any

from kamsim.errors import Problem, ScenarioError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: tables merge recursively, everything else replaces.

    A distribution (a table with a ``dist`` key) is one value: it replaces whole, so a
    variant can change a distribution's kind (triangular -> fixed) without stale parameters.
    """
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and "dist" not in value and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=<TOML literal>``; a bare word is taken as a string (``priority=fifo``)."""
    where = f"--set {text}"
    if "=" not in text:
        raise ScenarioError([Problem(where, "expected key=value")])
    key, _, raw = text.partition("=")
    path = key.strip().split(".")
    if not all(_KEY.match(p) for p in path):
        raise ScenarioError([Problem(where, f"'{key.strip()}' is not a dotted key path")])
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if not _BARE_WORD.match(raw):
            raise ScenarioError(
                [Problem(".".join(path), f"--set value {raw!r} is not a TOML literal")]
            ) from None
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with every ``key=value`` override applied in order."""
    out = copy.deepcopy(data)
    problems: list[Problem] = []
    for text in overrides:
        try:
            path, value = parse_override(text)
        except ScenarioError as err:
            problems.extend(err.problems)
            continue
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(Problem(".".join(path[: i + 1]), f"--set {text}: is not a table"))
                break
            node = child
        else:
            leaf = node.get(path[-1])
            node[path[-1]] = (
                deep_merge(leaf, value)
                if isinstance(leaf, dict) and isinstance(value, dict) and "dist" not in value
                else value
            )
    if problems:
        raise ScenarioError(problems)
    return out

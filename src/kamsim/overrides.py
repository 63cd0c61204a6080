"""Merging of scenario tables: ``extends`` inheritance and dotted ``key=value`` overrides.

Pure functions on plain dicts, so ``io`` (files) and ``Scenario.with_overrides`` (in memory)
share one implementation. Tables merge deeply; arrays, scalars and distributions replace.

Overrides come in three forms: a list of ``"key=value"`` strings (values are TOML literals, as
with ``--set``), a mapping from dotted key to a Python value (a dict for a distribution), or a
single ``"key=value"`` string. Any other shape is a ``ValueError`` naming ``overrides``, raised
before any work; a bad key or value is a :class:`ScenarioError` like any scenario problem.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from kamsim.errors import Problem, ScenarioError

Overrides = str | Iterable[str] | Mapping[str, Any]
"""What ``load_scenario``, ``Scenario.with_overrides`` and ``apply_overrides`` accept."""

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


def _key_path(key: str) -> list[str]:
    path = key.strip().split(".")
    if not all(_KEY.match(p) for p in path):
        raise ScenarioError([Problem(key, f"'{key}' is not a dotted key path")])
    return path


def setting(data: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key`` of a scenario table; a ``KeyError`` naming the key when it
    is not a dotted key path or names no setting there."""
    try:
        path = _key_path(key)
    except ScenarioError:
        raise KeyError(key) from None
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=<TOML literal>``; a bare word is taken as a string (``priority=fifo``)."""
    where = f"--set {text}"
    if "=" not in text:
        raise ScenarioError([Problem(where, "expected key=value")])
    key, _, raw = text.partition("=")
    try:
        path = _key_path(key)
    except ScenarioError:
        raise ScenarioError([Problem(where, f"'{key.strip()}' is not a dotted key path")]) from None
    raw = raw.strip()
    if "\n" in raw or "\r" in raw:
        raise ScenarioError([Problem(".".join(path), "--set value must be on one line")])
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except RecursionError:
        raise ScenarioError([Problem(".".join(path), "--set value is nested too deeply")]) from None
    except tomllib.TOMLDecodeError:
        if not _BARE_WORD.match(raw):
            raise ScenarioError(
                [Problem(".".join(path), f"--set value {raw!r} is not a TOML literal")]
            ) from None
        value = raw
    return path, value


def override_items(overrides: Overrides) -> list[tuple[str, Any]]:
    """The overrides as (dotted key, raw) pairs in order; raw is the ``key=value`` text for
    strings and the Python value for a mapping. Wrong shapes raise ``ValueError``."""
    if isinstance(overrides, str):
        return [(overrides.partition("=")[0].strip(), overrides)]
    if isinstance(overrides, Mapping):
        if not all(isinstance(k, str) for k in overrides):
            raise ValueError("overrides: a mapping's keys must be dotted key strings")
        return [(k.strip(), (k, v)) for k, v in overrides.items()]
    if isinstance(overrides, bytes) or not isinstance(overrides, Iterable):
        raise ValueError(
            "overrides: expected 'key=value' strings, a mapping from dotted key to value, "
            f"or one 'key=value' string, not {type(overrides).__name__}"
        )
    items = list(overrides)
    bad = [repr(o) for o in items if not isinstance(o, str)]
    if bad:
        raise ValueError(f"overrides: every item must be a 'key=value' string, not {bad[0]}")
    return [(o.partition("=")[0].strip(), o) for o in items]


def apply_overrides(data: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
    """Return a copy of ``data`` with every override applied in order."""
    out = copy.deepcopy(data)
    problems: list[Problem] = []
    for _, raw in override_items(overrides):
        try:
            if isinstance(raw, str):
                path, value = parse_override(raw)
                text = raw
            else:
                path, value = _key_path(raw[0]), raw[1]
                text = f"{raw[0]}={value!r}"
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

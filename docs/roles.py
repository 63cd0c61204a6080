"""Griffe extension: the docstrings' Sphinx roles as checked cross-references.

kamsim's docstrings name other objects the Sphinx way (``:func:`format_kpi```,
``:data:`~kamsim.intervals.MIN_REPLICATIONS```). mkdocstrings reads docstrings as Markdown, so
this extension rewrites each role before rendering:

- a name that resolves to a documented kamsim object becomes a mkdocstrings cross-reference,
  ``[`format_kpi`][kamsim.analysis.format_kpi]`` (with ``~`` only the last part is shown);
- a name that resolves to an object the site does not document (a private name, the engine
  under ``kamsim.model``, another package) becomes inline code;
- a name that resolves to nothing stays a cross-reference to that name, which
  ``mkdocs build --strict`` then reports: a renamed object breaks the build.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|meth|class|data|attr|mod|obj|exc|const):`(~?)([\w.]+)`")
INTERNAL = ("kamsim.model",)
"""Packages the site does not document."""


def _documented(path: str) -> bool:
    parts = path.split(".")
    return (
        parts[0] == "kamsim"
        and not any(part.startswith("_") for part in parts)
        and not any(path == top or path.startswith(f"{top}.") for top in INTERNAL)
    )


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **_: Any) -> None:
        self._walk(pkg, pkg)

    def _walk(self, obj: griffe.Object, pkg: griffe.Module) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(
                lambda m: self._rewrite(m, obj, pkg), obj.docstring.value
            )
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, pkg)  # type: ignore[arg-type]  # not an alias

    @staticmethod
    def _target(name: str, obj: griffe.Object, pkg: griffe.Module) -> str | None:
        """The full path of ``name`` as seen from ``obj``, or None when nothing has it."""
        if name == pkg.path:
            return name
        if name.startswith(f"{pkg.path}."):
            try:
                pkg[name.removeprefix(f"{pkg.path}.")]
            except KeyError:
                return None
            return name
        head, _, rest = name.partition(".")
        try:
            resolved = obj.resolve(head)
        except griffe.NameResolutionError:
            return None
        return f"{resolved}.{rest}" if rest else resolved

    def _rewrite(self, match: re.Match[str], obj: griffe.Object, pkg: griffe.Module) -> str:
        short, name = match.groups()
        shown = name.rpartition(".")[2] if short else name
        target = self._target(name, obj, pkg)
        if target is None:
            return f"[`{shown}`][{name}]"  # unresolved: --strict reports it
        if _documented(target):
            return f"[`{shown}`][{target}]"
        return f"`{shown}`"

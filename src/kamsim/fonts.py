"""A CJK font for Chinese plots, from a plain ``pip install``.

Matplotlib's own font (DejaVu Sans) has no Chinese glyphs: Chinese text would print as empty
boxes. The ``mplfonts`` package (a dependency) ships Noto Sans CJK SC; its files are found on
disk and registered with matplotlib's font manager directly, without importing ``mplfonts``
or running ``mplfonts init`` (which copies files into matplotlib and rewrites its rc file).
A font installed on the system with one of the known CJK families is used when the bundle is
missing.

Plots ask :func:`typeset` for the language they may draw in: inside it, matplotlib's font
settings name the CJK family (an ``rc_context``, so nothing outside changes). Without a CJK
font it warns and falls back to English labels rather than draw boxes.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

import matplotlib
from matplotlib import font_manager

from kamsim.labels import LANGS, Lang

BUNDLE: Final = "mplfonts"
"""The package whose ``fonts/`` folder holds the CJK font files."""
PREFERRED: Final[tuple[str, ...]] = (
    "NotoSansCJKsc-Regular.otf",
    "SourceHanSansSC-Regular.otf",
    "SimHei.ttf",
)
"""Bundled files in order of preference: a sans-serif face matches the rest of the plot."""
SYSTEM_FAMILIES: Final[tuple[str, ...]] = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
"""Families of CJK fonts a system may have installed (Linux, Windows, macOS)."""
NO_CJK: Final = "no CJK font found; labels in English"


@dataclass(frozen=True)
class CjkFont:
    """A registered CJK font: the file and the family name matplotlib knows it by."""

    path: Path
    family: str


def _bundled() -> list[Path]:
    """The bundle's font files, preferred ones first (none if the package is absent)."""
    spec = importlib.util.find_spec(BUNDLE)
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    found = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".otf", ".ttf"))
    rank = {name: i for i, name in enumerate(PREFERRED)}
    return sorted(found, key=lambda p: rank.get(p.name, len(rank)))


@cache
def cjk_font() -> CjkFont | None:
    """The CJK font for Chinese plots, registered once with matplotlib; ``None`` if neither
    the bundle nor the system has one."""
    for path in _bundled():
        try:
            font_manager.fontManager.addfont(str(path))
            family = font_manager.FontProperties(fname=str(path)).get_name()
        except (OSError, RuntimeError, ValueError):  # an unreadable or truncated file
            continue
        return CjkFont(path, family)
    for entry in font_manager.fontManager.ttflist:
        if entry.name in SYSTEM_FAMILIES:
            return CjkFont(Path(entry.fname), entry.name)
    return None


@contextmanager
def typeset(lang: str) -> Iterator[Lang]:
    """Draw in ``lang``: yields the language to label in, with the CJK font set for
    ``"zh"`` (DejaVu Sans behind it for any glyph it lacks); ``"en"`` with a ``UserWarning``
    when no CJK font exists."""
    if lang not in LANGS:
        raise ValueError(f"lang: {lang!r} is not a display language; use one of {LANGS}")
    font = cjk_font() if lang == "zh" else None
    if lang == "zh" and font is None:
        warnings.warn(NO_CJK, UserWarning, stacklevel=4)
    if font is None:
        with matplotlib.rc_context():
            yield "en"
        return
    with matplotlib.rc_context({"font.family": [font.family, "DejaVu Sans"]}):
        yield "zh"

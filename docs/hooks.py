"""MkDocs hook: the pages that are made from the repository rather than kept by hand.

Nothing here is a second copy that could drift: every page below is generated at build time.

- ``index.md``, ``changelog.md`` and ``benchmarks.md`` from README.md, CHANGELOG.md and
  benchmarks/README.md, with their links to repository files turned into links between pages.
- ``notebooks/*.ipynb``: the notebooks from the repository's ``notebooks/`` folder, which
  mkdocs-jupyter then executes and renders with their outputs.
- ``api/<module>.md``: one page per public module (:func:`api_modules`), each a mkdocstrings
  ``:::`` block, so the reference is the docstrings.
- ``cli.md``: the ``--help`` of the ``kamsim`` command and of every subcommand, taken from the
  typer app.

The "Notebooks" and "API reference" sections of ``mkdocs.yml``'s nav are left empty there and
filled here, so a new notebook or module needs no edit to the nav.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "kamsim"
NOTEBOOKS = ROOT / "notebooks"

PAGES = {
    "index.md": "README.md",
    "changelog.md": "CHANGELOG.md",
    "benchmarks.md": "benchmarks/README.md",
}
"""Generated page -> the repository file it is made from."""

GENERATED_SECTIONS = ("Notebooks", "API reference")
"""Top-level nav sections that mkdocs.yml leaves empty for this hook to fill."""

HELP_WIDTH = 80
"""Line width of the rendered ``--help`` texts."""

_LINK = re.compile(r"\]\((?!https?://|#)([^)#\s]+)(#[^)\s]*)?\)")


def api_modules() -> list[str]:
    """The modules that get an API page: the package and every module in ``src/kamsim/``
    whose name does not start with an underscore. The engine (``kamsim.model``) is internal
    and has none; its extension point is documented through :mod:`kamsim.extensions`."""
    modules = sorted(
        f"kamsim.{path.stem}" for path in PACKAGE.glob("*.py") if not path.stem.startswith("_")
    )
    return ["kamsim", *modules]


def notebooks() -> list[Path]:
    """The notebooks, in file-name order (they are numbered)."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _page_of(target: str, source: str) -> str | None:
    """The site page for a link from repository file ``source`` to ``target``, if any."""
    path = (ROOT / source).parent / target
    try:
        relative = path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return None
    if relative.startswith("docs/"):
        return relative.removeprefix("docs/")
    pages = {repo_file: page for page, repo_file in PAGES.items()}
    return pages.get(relative)


def _rewrite_links(text: str, source: str) -> str:
    """Links from ``source`` to repository files that are pages of the site, as page links.

    Any other relative link is left alone, so ``mkdocs build --strict`` reports it."""

    def replace(match: re.Match[str]) -> str:
        page = _page_of(match.group(1), source)
        if page is None:
            return match.group(0)
        return f"]({page}{match.group(2) or ''})"

    return _LINK.sub(replace, text)


def _api_page(module: str) -> str:
    return f"::: {module}\n"  # the module's own heading is the page's title


def _help(command: Any, parent: Any, name: str) -> str:
    """The plain-text ``--help`` of a click command as ``TYPER_USE_RICH=0`` prints it.

    Duck-typed: recent typer releases carry their own copy of click, so its commands are not
    instances of ``click.Command``."""
    command.rich_markup_mode = None  # typer's commands format their help with rich otherwise
    ctx = command.context_class(
        command,
        info_name=name,
        parent=parent,
        terminal_width=HELP_WIDTH,
        max_content_width=HELP_WIDTH,
    )
    return str(command.get_help(ctx)).rstrip()


def cli_page() -> str:
    """The command-line reference: ``kamsim --help`` and each subcommand's ``--help``."""
    from kamsim.cli import app

    group: Any = typer.main.get_command(app)  # a group: the app has several commands
    ctx = group.context_class(group, info_name="kamsim")
    lines = [
        "# Command line",
        "",
        "The `--help` of the `kamsim` command and of each subcommand, generated from the",
        "command line itself when the site is built.",
        "",
        f"```text\n$ kamsim --help\n{_help(group, None, 'kamsim')}\n```",
    ]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        lines += [
            "",
            f"## kamsim {name}",
            "",
            f"```text\n$ kamsim {name} --help\n{_help(command, ctx, name)}\n```",
        ]
    return "\n".join(lines) + "\n"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the nav's empty generated sections."""
    entries: dict[str, list[Any]] = {
        "Notebooks": [f"notebooks/{path.name}" for path in notebooks()],
        "API reference": [{module: f"api/{module}.md"} for module in api_modules()],
    }
    nav = config.nav or []
    found = []
    for item in nav:
        if isinstance(item, dict) and len(item) == 1:
            (title, value), *_ = item.items()
            if title in entries:
                if value != []:
                    raise PluginError(
                        f"nav: leave the section {title!r} empty ([]): it is generated"
                    )
                item[title] = entries[title]
                found.append(title)
    missing = [title for title in GENERATED_SECTIONS if title not in found]
    if missing:
        raise PluginError(f"nav: add the empty sections {missing} for the generated pages")
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which picks up the notebooks
def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages and the notebooks to the site's files."""
    for page, source in PAGES.items():
        text = (ROOT / source).read_text(encoding="utf-8")
        files.append(File.generated(config, page, content=_rewrite_links(text, source)))
    for module in api_modules():
        files.append(File.generated(config, f"api/{module}.md", content=_api_page(module)))
    files.append(File.generated(config, "cli.md", content=cli_page()))
    for path in notebooks():
        # A plain File under the repository root, not File.generated: mkdocs-jupyter's
        # wrapper recomputes the source path from src_dir, which a generated file lacks.
        files.append(
            File(
                path.relative_to(ROOT).as_posix(),
                src_dir=str(ROOT),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files

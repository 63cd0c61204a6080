"""One self-contained HTML report of an experiment's output folder.

``kamsim report RUN_DIR`` reads the folder any experiment command writes
(:mod:`kamsim.outputs`) and renders, in one file with every image and style embedded and no
network reference: what was simulated (each scenario in short), the ``kamsim check`` panel,
the KPI table, the command's own tables (comparison, sweep, returns, sensitivity), the plots
that fit the command (:mod:`kamsim.plots`) and the provenance (scenario hashes, seed, package
versions, status of every replication). Headings and labels follow ``lang``; keys stay
English.

The fit folder of ``kamsim calibrate --report`` (:mod:`kamsim.fit_folder`) gets its own report:
the estimates with the numbers that came from data set apart from the assumptions (shaded),
the four plots of observed against fitted (arrivals by month, cycle-time survival, win rate by
segment, the calendar), the repair log, the notes of the fit and its provenance.

Sections and figures carry stable ids (``section-check``, ``figure-funnel``, ...) so a test,
or a reader's bookmark, finds them.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from kamsim import plots
from kamsim.analysis import format_kpi
from kamsim.comparison import COLUMNS
from kamsim.comparison import compare as compare_variants
from kamsim.experiment import Experiment
from kamsim.flips import deal_flips
from kamsim.fonts import typeset
from kamsim.io import write_text
from kamsim.kpis import KPIS
from kamsim.labels import label
from kamsim.outputs import FitOutput, Output, read_fit, read_manifest, read_output
from kamsim.vocabulary import POOLS

REPORT_FILE = "report.html"
"""The report's default name, inside the folder it reports on."""


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.4;padding:0 1em}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #bbb}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f2f2f2}
figure{margin:1.5em 0}img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9em}.warn{color:#a00}code{background:#f4f4f4;padding:0 .2em}
tr.source-assumption td{background:#fff4d6}td.source{font-weight:bold}
li.source-assumption{color:#8a5a00}pre{background:#f7f7f7;padding:.6em;overflow-x:auto}
"""


def _w(key: str, lang: str) -> str:
    return label(f"report.{key}", lang)


def _e(x: object) -> str:
    return html.escape(str(x))


def _table(
    rows: Iterable[Sequence[object]], head: Sequence[str], table_id: str, cls: str = "data"
) -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in head) if any(head) else ""
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f'<table id="{table_id}" class="{cls}">'
        + (f"<thead><tr>{cells}</tr></thead>" if cells else "")
        + f"<tbody>{body}</tbody></table>"
    )


def _figure(fig: Figure, fig_id: str, caption: str) -> str:
    """The figure as an embedded PNG (no file beside the report, no network)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure id="figure-{fig_id}"><img alt="{_e(caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{_e(caption)}</figcaption></figure>'
    )


def _section(key: str, lang: str, body: str) -> str:
    return f'<section id="section-{key}"><h2>{_e(_w(key, lang))}</h2>{body}</section>'


def _interval(kpi: str, mean: float, low: float, high: float) -> str:
    if pd.isna(low) or pd.isna(high):
        return format_kpi(kpi, mean)
    return f"{format_kpi(kpi, mean)} [{format_kpi(kpi, low)}, {format_kpi(kpi, high)}]"


def _measure(name: str, value: float) -> str:
    """A figure of the check in its KPI's format where it is a KPI (bookings, cycle time)."""
    return format_kpi(name, value) if name in KPIS else f"{value:,.1f}"


# -- sections ---------------------------------------------------------------------------------


def _scenarios(output: Output, lang: str) -> str:
    parts: list[str] = []
    shown = (
        output.scenarios if len(output.scenarios) <= 6 else dict(list(output.scenarios.items())[:1])
    )
    for name, s in shown.items():
        cal = s.calendar
        rows: list[tuple[object, object]] = [
            (_w("start", lang), cal.start),
            (_w("horizon", lang), cal.horizon_months),
            (_w("warmup", lang), cal.warmup_months),
            (_w("leads_per_month", lang), f"{s.arrivals.rate_per_month:g}"),
        ]
        rows += [
            (f"{_w('headcount', lang)}: {label(p, lang)}", s.resources[p].headcount) for p in POOLS
        ]
        policy = s.policy.model_dump(mode="json")
        rows += [(f"{_w('policy', lang)}: {k}", v) for k, v in policy.items()]
        description = f"<p>{_e(s.description)}</p>" if s.description else ""
        parts.append(
            f"<h3>{_e(name)}</h3>{description}"
            + _table(rows, ("", ""), f"table-scenario-{len(parts)}")
        )
    if len(shown) < len(output.scenarios):
        parts.append(f"<p>{len(output.scenarios)} variants; the first is shown.</p>")
    return _section("scenario", lang, "".join(parts))


def _check(output: Output, lang: str) -> str:
    parts = []
    for i, (name, check) in enumerate(output.checks.items()):
        summary = pd.DataFrame(check["summary"])
        wide = summary.pivot_table(
            index="measure", columns="capacity", values="value", aggfunc="first", sort=False
        )
        rows = [
            (
                label(str(m), lang) if m in KPIS else _w(str(m), lang),
                *(_measure(str(m), float(v)) for v in wide.loc[m].to_numpy()),
            )
            for m in wide.index
        ]
        head = (_w("measure", lang), *(str(c) for c in wide.columns))
        pools = [
            (
                label(str(p["pool"]), lang),
                f"{p['offered_load']:.2f}",
                f"{p['utilisation_expected']:.2f}",
                f"{p['p_wait']:.2f}",
                f"{p['mean_wait_days']:.1f}",
                f"{p['mean_queue']:.1f}",
                p["method"],
            )
            for p in check["pools"]
        ]
        pool_head = tuple(
            _w(k, lang)
            for k in ("pool", "offered", "util", "p_wait", "wait_days", "queue", "method")
        )
        warnings = "".join(f'<li class="warn">{_e(w)}</li>' for w in check["warnings"])
        notes = "".join(f"<li>{_e(n)}</li>" for n in check["notes"])
        parts.append(
            f"<h3>{_e(name)} ({_e(_w('per_year', lang))}, {_e(check['currency'])})</h3>"
            + _table(rows, head, f"table-check-summary-{i}")
            + _table(pools, pool_head, f"table-check-pools-{i}")
            + (f"<p>{_e(_w('warnings', lang))}</p><ul>{warnings}</ul>" if warnings else "")
            + (f"<p>{_e(_w('notes', lang))}</p><ul>{notes}</ul>" if notes else "")
        )
    return _section("check", lang, "".join(parts))


def _kpis(output: Output, lang: str) -> str:
    summary = output.summary
    labels = list(dict.fromkeys(summary["variant"].astype(str)))
    shown = labels if len(labels) <= 6 else labels[:6]
    kpis = list(dict.fromkeys(summary["kpi"].astype(str)))
    by = {(str(r["variant"]), str(r["kpi"])): r for r in summary.to_dict("records")}
    rows = []
    for kpi in kpis:
        cells = [label(kpi, lang)]
        for v in shown:
            r = by.get((v, kpi))
            cells.append("" if r is None else _interval(kpi, r["mean"], r["low"], r["high"]))
        rows.append(cells)
    head = (_w("kpi", lang), *(f"{v}: {_w('mean_ci', lang)}" for v in shown))
    more = f"<p>{len(labels)} variants; the first 6 are shown (summary.csv has all).</p>"
    return _section(
        "kpis", lang, _table(rows, head, "table-kpis") + (more if len(shown) < len(labels) else "")
    )


def _csv_table(table: pd.DataFrame, table_id: str, columns: Sequence[str]) -> str:
    kept = [c for c in columns if c in table.columns]
    rows = []
    for r in table[kept].to_dict("records"):
        kpi = str(r.get("kpi", ""))
        rows.append(
            [
                format_kpi(kpi, v)
                if isinstance(v, float) and kpi
                else (f"{v:,.4g}" if isinstance(v, float) else v)
                for v in r.values()
            ]
        )
    return _table(rows, kept, table_id)


def _experiment(output: Output, labels: list[str]) -> Experiment:
    """The variants' kept tables as an experiment (what the fan chart reads)."""
    category = pd.CategoricalDtype(labels, ordered=True)

    def stack(name: str) -> pd.DataFrame:
        frames = []
        for v in labels:
            table = getattr(output.result(v), name).copy()
            table.insert(0, "variant", pd.Series([v] * len(table), dtype=category))
            frames.append(table)
        stacked: pd.DataFrame = pd.concat(frames, ignore_index=True)
        return stacked

    return Experiment(
        scenarios={v: output.scenarios[v] for v in labels},
        seed=output.seed,
        reps=int(output.manifest["plan"]["replications"]),
        kpis=stack("kpis"),
        kpis_by_year=stack("kpis_by_year"),
        timeseries=stack("timeseries"),
        deals=stack("deals"),
    )


def _command(output: Output, lang: str) -> tuple[str, list[str]]:
    """The command's own section and its figures."""
    figures: list[str] = []
    currency = next(iter(output.scenarios.values())).calendar.currency
    command = output.command
    if command == "compare":
        base, others = output.labels[0], output.labels[1:]
        table = output.table("comparison.csv")
        experiment = _experiment(output, output.labels)
        if table is None:
            table = compare_variants(experiment, base)
        body = _csv_table(table, "table-comparison", COLUMNS)
        figures.append(_figure(plots.forest(table, base, lang=lang), "forest", "forest"))
        base_run = output.result(base)
        flipped = {v: deal_flips(base_run, output.result(v)) for v in others}
        figures.append(_figure(plots.flips_bar(flipped, base, lang=lang), "flips", "flips"))
        figures.append(
            _figure(plots.fan(experiment, "bookings", cumulative=True, lang=lang), "fan", "fan")
        )
        return _section("comparison", lang, body), figures
    if command == "sweep":
        table = output.table("sweep.csv")
        if table is None:
            return "", figures
        axes = list(table.columns[1 : table.columns.get_loc("kpi")])
        shown = table[table["kpi"].isin(("bookings", "contribution", "win_rate", "deals_won"))]
        body = _csv_table(shown, "table-sweep", ("point", "kpi", "mean", "low", "high"))
        returns = output.table("returns.csv")
        if returns is not None:
            body += f"<h3>{_e(_w('returns', lang))}</h3>" + _csv_table(
                returns, "table-returns", list(returns.columns)
            )
        if len(axes) == 2:
            for kpi in ("bookings", "contribution"):
                fig = plots.heatmap(table, kpi, currency=currency, lang=lang)
                figures.append(_figure(fig, f"heatmap-{kpi}", kpi))
        return _section("sweep", lang, body), figures
    if command == "sensitivity":
        table = output.table("sensitivity.csv")
        if table is None:
            return "", figures
        kpis = [k for k in ("bookings", "contribution") if k in set(table["kpi"])]
        body = _csv_table(
            table[table["kpi"].isin(kpis)],
            "table-sensitivity",
            ("param", "kpi", "low_effect", "high_effect", "swing", "rank"),
        )
        for kpi in kpis:
            fig = plots.tornado_chart(table, kpi, currency=currency, lang=lang)
            figures.append(_figure(fig, f"tornado-{kpi}", kpi))
        return _section("sensitivity", lang, body), figures
    return "", figures


def _run_figures(output: Output, lang: str) -> list[str]:
    """The pictures of one run: its funnel, money, work in progress, capacity and times."""
    result = output.result(output.labels[0])
    return [
        _figure(plots.funnel(result, lang=lang), "funnel", "funnel"),
        _figure(plots.fan(result, "bookings", lang=lang), "fan-bookings", "bookings"),
        _figure(plots.fan(result, "cash", cumulative=True, lang=lang), "fan-cash", "cash"),
        _figure(plots.wip(result, lang=lang), "wip", "wip"),
        _figure(plots.capacity(result, lang=lang), "capacity", "capacity"),
        _figure(plots.times(result, lang=lang), "times", "times"),
    ]


def _provenance(output: Output, lang: str) -> str:
    plan, manifest = output.manifest["plan"], output.manifest
    failed = [p for p in manifest.get("parts", []) if p.get("status") == "failed"]
    rows: list[tuple[object, object]] = [
        (_w("command", lang), plan["command"]),
        (_w("seed", lang), plan["seed"]),
        (_w("replications", lang), plan["replications"]),
        (_w("status", lang), manifest.get("status", "")),
        (_w("created", lang), manifest.get("created_at", "")),
    ]
    rows += [(f"{_w('hash', lang)}: {k}", v) for k, v in output.hashes.items()]
    rows += [(f"{_w('versions', lang)}: {k}", v) for k, v in sorted(manifest["versions"].items())]
    rows += [
        (f"{_w('failed', lang)}: {p['variant']} r{p['replication']}", p.get("error", ""))
        for p in failed
    ]
    return _section("provenance", lang, _table(rows, ("", ""), "table-provenance"))


def _fit_estimates(fit: FitOutput, lang: str) -> str:
    table = fit.estimates
    counts = table["source"].value_counts()
    split = "".join(
        f'<li class="source-{source}">{_e(_w(key, lang))}: {int(counts.get(source, 0))} '
        f"({_e(', '.join(table.loc[table['source'] == source, 'name'].astype(str)))})</li>"
        for source, key in (("data", "from_data"), ("assumption", "from_assumption"))
    )
    head = tuple(_w(k, lang) for k in ("estimate", "value", "low", "high", "source", "note"))

    def number(x: float) -> str:
        return "" if pd.isna(x) else f"{x:,.4g}"

    rows = "".join(
        f'<tr class="source-{_e(r["source"])}"><td>{_e(r["name"])}</td>'
        + "".join(f"<td>{number(float(r[c]))}</td>" for c in ("value", "low", "high"))
        + f'<td class="source">{_e(_w(str(r["source"]), lang))}</td>'
        + f"<td>{_e('' if pd.isna(r['note']) else r['note'])}</td></tr>"
        for r in table.to_dict("records")
    )
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = (
        f"<p>{_e(_w('estimates_intro', lang))}</p><ul>{split}</ul>"
        f'<table id="table-estimates" class="data"><thead><tr>{cells}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    return _section("estimates", lang, body)


def _fit_figures(fit: FitOutput, lang: str) -> str:
    tables = fit.tables
    drawn = (
        ("arrivals", plots.fit_arrivals),
        ("survival", plots.fit_survival),
        ("win_rate", plots.fit_win_rate),
        ("calendar", plots.fit_calendar),
    )
    figures = "".join(
        _figure(
            draw(tables[name], lang=lang),
            f"fit-{name}".replace("_", "-"),
            label(f"title.fit_{name}", lang),
        )
        for name, draw in drawn
    )
    return _section("fit_plots", lang, figures)


def _fit_provenance(fit: FitOutput, lang: str) -> str:
    plan, manifest = fit.manifest["plan"], fit.manifest
    rows: list[tuple[object, object]] = [
        (_w("command", lang), plan["command"]),
        (_w("input", lang), plan.get("input", "")),
        (_w("input_sha256", lang), plan.get("input_sha256", "")),
        (_w("mapping", lang), plan.get("mapping", "")),
        (_w("as_of", lang), plan.get("as_of", "")),
        (_w("window", lang), " to ".join(manifest.get("window", []))),
        (_w("timed_stage", lang), label(str(manifest.get("timed_stage", "")), lang)),
        (_w("created", lang), manifest.get("created_at", "")),
    ]
    rows += [
        (f"{_w('versions', lang)}: {k}", v) for k, v in sorted(manifest.get("versions", {}).items())
    ]
    return _section("provenance", lang, _table(rows, ("", ""), "table-provenance"))


def _fit_body(fit: FitOutput, lang: str) -> tuple[str, str]:
    """The title and body of a fit folder's report: estimates with their sources, the four
    observed-against-fitted plots, the repair log, the notes and the provenance."""
    plan = fit.manifest["plan"]
    title = f"{_w('report', lang)}: kamsim calibrate {plan.get('input', '')}"
    repairs = "".join(f"<li>{_e(line)}</li>" for line in fit.repairs)
    notes = [
        f"{_w(key, lang)}: {', '.join(label(s, lang) for s in fit.manifest.get(key, [])) or '-'}"
        for key in ("pass_through", "untimed")
    ]
    notes += fit.manifest.get("notes", [])
    body = "".join(
        [
            f"<h1>{_e(title)}</h1>",
            _fit_estimates(fit, lang),
            _fit_figures(fit, lang),
            _section(
                "repairs",
                lang,
                f'<ul id="list-repairs">{repairs}</ul>'
                if repairs
                else f"<p>{_e(_w('no_repairs', lang))}</p>",
            ),
            _section(
                "fit_notes",
                lang,
                '<ul id="list-notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>",
            ),
            _section("scenario_toml", lang, f"<pre>{_e(fit.scenario_toml)}</pre>"),
            _fit_provenance(fit, lang),
        ]
    )
    return title, body


def _run_body(folder: str | Path, lang: str) -> tuple[str, str]:
    output = read_output(folder)
    command, figures = _command(output, lang)
    if output.command == "run":
        figures = _run_figures(output, lang)
    pictures = "".join(figures) or f"<p>{_e(_w('no_report_plots', lang))}</p>"
    names = ", ".join(output.labels[:6]) + (" ..." if len(output.labels) > 6 else "")
    title = f"{_w('report', lang)}: kamsim {output.command} {names}"
    body = "".join(
        [
            f"<h1>{_e(title)}</h1>",
            _scenarios(output, lang),
            _check(output, lang),
            _kpis(output, lang),
            command,
            _section("plots", lang, pictures),
            _provenance(output, lang),
        ]
    )
    return title, body


def render(folder: str | Path, lang: str = "en") -> str:
    """The report of an output folder (an experiment's, or the fit folder of ``kamsim
    calibrate --report``) as one HTML document (see the module docstring)."""
    calibration = read_manifest(folder)["plan"]["command"] == "calibrate"
    with typeset(lang) as used:
        title, body = _fit_body(read_fit(folder), used) if calibration else _run_body(folder, used)
    html_lang = "zh-CN" if used == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def write_report(folder: str | Path, out: str | Path | None = None, lang: str = "en") -> Path:
    """Write :func:`render`'s report (default: ``report.html`` in ``folder``) atomically."""
    path = Path(out) if out is not None else Path(folder) / REPORT_FILE
    write_text(render(folder, lang), path)
    return path

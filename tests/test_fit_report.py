"""The calibration's fit report: ``kamsim calibrate --report FIT_DIR``, then ``kamsim report``.

The bundled synthetic export goes through the command line end to end: the fit folder holds
every file with a manifest naming the input by hash; the observed-against-fitted tables agree
with the calibration they came from; each plot draws its table's numbers; the HTML report has
every section, the estimates by source, the four embedded PNGs and the repair log, in English
and Chinese, with nothing fetched from the network. The public sample (skipped where absent)
reports the data problems it repaired.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from constants import CRM_SAMPLE
from helpers import needs_sample
from test_plots import by_gid, rendered
from test_report import PNG, Parsed
from typer.testing import CliRunner

from kamsim import plots
from kamsim.calibrate import Calibration, calibrate
from kamsim.cli import app
from kamsim.crm import example, read_crm
from kamsim.errors import ScenarioError
from kamsim.fit_folder import FIT_FILES
from kamsim.fit_tables import fit_tables
from kamsim.outputs import FitOutput, read_fit
from kamsim.vocabulary import DAYS_PER_MONTH

SECTIONS = ("estimates", "fit_plots", "repairs", "fit_notes", "scenario_toml", "provenance")
FIGURES = ("fit-arrivals", "fit-survival", "fit-win-rate", "fit-calendar")


def _calibrate(crm: Path, out: Path, *extra: str) -> tuple[Path, str]:
    """Calibrate through the command line with a fit folder; the folder and the output."""
    result = CliRunner().invoke(
        app,
        ["calibrate", str(crm), "--out", str(out / "s.toml"), "--report", str(out / "fit"), *extra],
    )
    assert result.exit_code == 0, result.output
    return out / "fit", result.stdout


def _report(folder: Path, *extra: str) -> tuple[Parsed, str]:
    result = CliRunner().invoke(app, ["report", str(folder), *extra])
    assert result.exit_code == 0, result.output
    text = Path(result.stdout.strip().removeprefix("wrote ")).read_text(encoding="utf-8")
    parsed = Parsed()
    parsed.feed(text)
    return parsed, text


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return _calibrate(example(), tmp_path_factory.mktemp("fit"))


@pytest.fixture(scope="module")
def fit(synthetic: tuple[Path, str]) -> FitOutput:
    return read_fit(synthetic[0])


@pytest.fixture(scope="module")
def cal() -> Calibration:
    return calibrate(read_crm(example()))


def test_the_fit_folder_holds_every_file_and_its_provenance(
    synthetic: tuple[Path, str], cal: Calibration
) -> None:
    folder, stdout = synthetic
    assert sorted(p.name for p in folder.iterdir()) == sorted(FIT_FILES)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    plan = manifest["plan"]
    assert plan["command"] == "calibrate"
    assert plan["input"] == "sales_pipeline.csv"
    assert plan["input_sha256"] == hashlib.sha256(example().read_bytes()).hexdigest()
    assert plan["mapping"] == "maven"
    assert plan["as_of"] == f"{cal.as_of:%Y-%m-%d}"
    assert manifest["versions"]["kamsim"] and manifest["created_at"]
    assert manifest["notes"] == list(cal.notes)
    estimates = pd.read_csv(folder / "estimates.csv")
    assert list(estimates["name"]) == [e.name for e in cal.estimates]
    assert list(estimates["source"]) == [e.source for e in cal.estimates]
    assert (folder / "scenario.toml").read_text() == (folder.parent / "s.toml").read_text()
    repairs = (folder / "repairs.txt").read_text(encoding="utf-8").splitlines()
    assert repairs == list(cal.repairs) and repairs
    assert all(line in stdout for line in repairs)


def test_the_tables_agree_with_the_calibration(fit: FitOutput, cal: Calibration) -> None:
    t = fit.tables
    # Arrivals: the months hold the deals the rate was fitted to, and the fitted counts add
    # up to the rate over the same days.
    rate = cal.estimate("arrivals.rate_per_month")
    months = (cal.window[1] - cal.window[0]).days / DAYS_PER_MONTH
    assert t["arrivals"]["observed"].sum() == pytest.approx(rate.value * months)
    assert t["arrivals"]["fitted"].sum() == pytest.approx(rate.value * months)
    assert (t["arrivals"]["low"] <= t["arrivals"]["fitted"]).all()
    assert (t["arrivals"]["fitted"] <= t["arrivals"]["high"]).all()
    # Survival: the data's curve ends on the calibrated win probability; the fitted one climbs
    # towards it and the share still open falls from 1.
    s = t["survival"]
    assert s["won_observed"].iloc[-1] == pytest.approx(cal.estimate("win_probability").value)
    assert np.all(np.diff(s["won_fitted"]) >= 0) and np.all(np.diff(s["open_observed"]) <= 1e-12)
    assert s["won_fitted"].iloc[-1] <= cal.win_probability
    assert s["open_observed"].iloc[0] == s["open_fitted"].iloc[0] == 1.0
    # Win rate: every dated deal in one segment; each segment's grade is the calibrated one.
    w = t["win_rate"]
    deals = read_crm(example()).opportunities(f"{cal.as_of:%Y-%m-%d}")
    assert w["deals"].sum() == deals["created"].notna().sum()
    assert (w["low"] <= w["observed"]).all() and (w["observed"] <= w["high"]).all()
    assert (w["fitted"] == cal.win_probability).all()
    for r in w.to_dict("records"):
        assert r["segment"] in cal.grades[r["grade"]][3]
    # Calendar: the calibration's closes; the scenario simulates none, so fitted is flat.
    c = t["calendar"]
    assert list(c["observed"]) == list(cal.calendar["closes"])
    assert np.allclose(c["fitted"], c["flat"])


def test_each_plot_draws_its_tables_numbers(fit: FitOutput) -> None:
    t = fit.tables
    a = t["arrivals"]
    fig = rendered(plots.fit_arrivals(a))
    bars = by_gid(fig, "arrivals:observed:")
    assert [bars[f"arrivals:observed:{m}"].get_height() for m in a["month"]] == list(a["observed"])
    fitted = by_gid(fig, "arrivals:fitted")["arrivals:fitted"].get_ydata()
    assert np.allclose(fitted, np.repeat(a["fitted"], 2))

    s = t["survival"]
    fig = rendered(plots.fit_survival(s))
    for curve in ("open", "won"):
        for kind in ("observed", "fitted"):
            line = by_gid(fig, f"survival:{curve}:{kind}")[f"survival:{curve}:{kind}"]
            assert np.allclose(line.get_ydata(), s[f"{curve}_{kind}"])

    w = t["win_rate"]
    fig = rendered(plots.fit_win_rate(w))
    for r in w.to_dict("records"):
        seg = r["segment"]
        assert by_gid(fig, f"win_rate:observed:{seg}")[f"win_rate:observed:{seg}"].get_xdata()[
            0
        ] == pytest.approx(r["observed"])
        assert by_gid(fig, f"win_rate:fitted:{seg}")[f"win_rate:fitted:{seg}"].get_xdata()[
            0
        ] == pytest.approx(r["fitted"])
        ends = by_gid(fig, f"win_rate:interval:{seg}")[f"win_rate:interval:{seg}"].get_xdata()
        assert np.allclose(ends, [r["low"], r["high"]])

    c = t["calendar"]
    fig = rendered(plots.fit_calendar(c, lang="zh"))
    for r in c.to_dict("records"):
        key = f"calendar:{r['outcome']}:%s:{r['month_of_quarter']}"
        assert by_gid(fig, key % "observed")[key % "observed"].get_height() == r["observed"]
        assert by_gid(fig, key % "fitted")[key % "fitted"].get_ydata()[0] == pytest.approx(
            r["fitted"]
        )
        assert np.allclose(
            by_gid(fig, key % "band")[key % "band"].get_ydata(), [r["low"], r["high"]]
        )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_has_every_section_the_estimates_by_source_and_four_plots(
    synthetic: tuple[Path, str], fit: FitOutput, lang: str
) -> None:
    parsed, text = _report(
        synthetic[0], "--lang", lang, "--out", str(synthetic[0] / f"{lang}.html")
    )
    for key in SECTIONS:
        assert f"section-{key}" in parsed.ids, key
    assert {f"figure-{f}" for f in FIGURES} == {k for k, t in parsed.ids.items() if t == "figure"}
    assert len(parsed.images) == len(FIGURES)
    for url in parsed.urls:
        assert url.startswith("data:image/png;base64,"), url
    assert all(base64.b64decode(src.split(",", 1)[1]).startswith(PNG) for src in parsed.images)
    estimates = fit.estimates
    assert parsed.rows["table-estimates"] == 1 + len(estimates)
    assumed = int((estimates["source"] == "assumption").sum())
    assert assumed and text.count('<tr class="source-assumption">') == assumed
    assert text.count('<tr class="source-data">') == len(estimates) - assumed
    assert text.count("<li>repaired: ") == len(fit.repairs)
    assert fit.manifest["plan"]["input_sha256"] in text
    assert all(html.escape(note) in text for note in fit.manifest["notes"])


def test_a_fit_folder_missing_a_file_is_named_in_one_error_line(
    synthetic: tuple[Path, str], tmp_path: Path
) -> None:
    broken = tmp_path / "fit"
    shutil.copytree(synthetic[0], broken)
    (broken / "fit_survival.csv").unlink()
    result = CliRunner().invoke(app, ["report", str(broken)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {broken / 'fit_survival.csv'}: is missing"
    ]


def test_fit_tables_of_a_calibration_as_of_an_earlier_date() -> None:
    crm = read_crm(example())
    cal = calibrate(crm, "2024-06-30")
    t = fit_tables(crm, cal)
    assert t.arrivals["month"].iloc[-1] == "2024-06"
    assert t.survival["day"].max() <= (cal.as_of - pd.Timestamp("2023-01-01")).days


@needs_sample
def test_the_public_samples_report_lists_the_repaired_problems(tmp_path: Path) -> None:
    folder, _ = _calibrate(CRM_SAMPLE, tmp_path)
    parsed, text = _report(folder)
    repairs = read_fit(folder).repairs
    assert repairs, "the public sample needs repairs"
    assert "list-repairs" in parsed.ids
    assert text.count("<li>repaired: ") == len(repairs)
    assert len(parsed.images) == len(FIGURES)


def test_a_report_path_that_is_a_file_is_one_error_line(tmp_path: Path) -> None:
    taken = tmp_path / "fit"
    taken.write_text("not a folder", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["calibrate", str(example()), "--out", str(tmp_path / "s.toml"), "--report", str(taken)],
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --report: {taken} exists and is not a folder"
    ]
    assert not (tmp_path / "s.toml").exists()


def test_read_fit_refuses_another_commands_folder(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"plan": {"command": "run"}}', encoding="utf-8")
    with pytest.raises(ScenarioError, match="output of kamsim run, not calibrate"):
        read_fit(tmp_path)

"""The small synthetic CRM export shipped with kamsim, and the generator that makes it.

README's first CRM example and the tests that must run without the public sample read this
export (:func:`kamsim.crm.example`). It is made here, deterministically: every draw comes from
:meth:`random.Random.random` with a fixed seed, whose sequence Python keeps the same across
versions, so ``python -m kamsim.crm_synthetic`` rewrites byte-identical files (a test checks
that the shipped files are exactly what :func:`generate` makes).

The world, known exactly so that calibrations can be checked against it: leads arrive as a
Poisson process at :data:`RATE_PER_MONTH` through 2024; each walks development, approval,
proposal, tender and negotiation, passing each with :data:`PASS` and spending an exponential
time of mean :data:`MEAN_DAYS` in it; the export is taken on :data:`EXPORT_DATE`, so deals
still in flight are open.

Two shapes of the same deals, with the files the default mapping joins:

- ``sales_pipeline.csv``: one row per opportunity, in the public Maven Analytics sample's
  shape (``Prospecting`` deals have no dates, lost deals a value of 0), with a few of the
  faults real exports have: a product written without its space, a misspelled owner on two
  rows, a misspelled sector in ``accounts.csv``, a row exported twice, open deals without an
  account;
- ``stage_history.csv``: one row per stage entered (the bundled ``stage-history`` mapping),
  with one misspelled stage;
- ``accounts.csv``, ``products.csv``, ``sales_teams.csv``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20240101
"""The seed of the shipped export."""
START = dt.date(2024, 1, 1)
"""The first day leads can arrive."""
EXPORT_DATE = dt.date(2024, 12, 31)
"""The day the export is taken: deals still in flight then are open."""
RATE_PER_MONTH = 25.0
"""New opportunities per month (of 365/12 days)."""
STAGE_NAMES = ("Qualify", "Approve", "Propose", "Bid", "Negotiate")
"""The CRM's stages, one per kamsim stage from development to negotiation."""
PASS = (0.7, 0.85, 0.75, 0.45, 0.9)
"""Chance of passing each stage."""
MEAN_DAYS = (20.0, 10.0, 25.0, 20.0, 12.0)
"""Mean days in each stage (exponential)."""

PRODUCTS = (
    ("Grid Basic", "Grid", 800),
    ("Grid Pro", "Grid", 4200),
    ("Vision Lite", "Vision", 1500),
    ("Vision Max", "Vision", 9800),
    ("Fabric 500", "Fabric", 24000),
)
"""Product, series, list price."""
TEAMS = (
    ("Mara Lindqvist", "Jun Okafor", "East"),
    ("Tomas Reyes", "Jun Okafor", "East"),
    ("Li Wen", "Jun Okafor", "East"),
    ("Ada Brennan", "Jun Okafor", "East"),
    ("Samir Haddad", "Rosa Ilves", "West"),
    ("Noor Vance", "Rosa Ilves", "West"),
    ("Pavel Dusek", "Rosa Ilves", "West"),
    ("Ines Moreau", "Rosa Ilves", "West"),
)
"""Account manager, manager, regional office."""
SECTORS = ("manufacturing", "utilities", "government", "healthcare", "finance", "education")
"""The accounts' sectors."""
ACCOUNTS = 30
"""How many accounts the deals are spread over."""


@dataclass
class _Deal:
    id: str
    owner: str
    account: str
    product: str
    created: dt.date
    entries: list[tuple[str, dt.date]] = field(default_factory=list)
    outcome: str = "open"
    value: float | None = None


def _exponential(rng: random.Random, mean: float) -> float:
    return -mean * math.log(1.0 - rng.random())


def _pick(rng: random.Random, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.random() * len(items))]


def _accounts(rng: random.Random) -> list[tuple[str, str]]:
    syllables = ("Nor", "Vel", "Tar", "Quin", "Sol", "Mer", "Ost", "Lum", "Kay", "Bra")
    endings = ("tek", "gen", "ia", "ex", "ford", "line", "works", "corp", "is", "on")
    names: list[str] = []
    while len(names) < ACCOUNTS:
        name = _pick(rng, syllables) + _pick(rng, endings)
        if name not in names:
            names.append(name)
    return [(name, _pick(rng, SECTORS)) for name in names]


def _deals(rng: random.Random, accounts: list[str]) -> list[_Deal]:
    deals: list[_Deal] = []
    days = 0.0
    horizon = (EXPORT_DATE - START).days
    while True:
        days += _exponential(rng, 365.0 / 12.0 / RATE_PER_MONTH)
        if days > horizon:
            return deals
        product = _pick(rng, [p[0] for p in PRODUCTS])
        deal = _Deal(
            id=f"K{len(deals) + 1:04d}",
            owner=_pick(rng, [t[0] for t in TEAMS]),
            account=_pick(rng, accounts),
            product=product,
            created=START + dt.timedelta(days=int(days)),
        )
        clock = days
        for name, chance, mean in zip(STAGE_NAMES, PASS, MEAN_DAYS, strict=True):
            deal.entries.append((name, START + dt.timedelta(days=int(clock))))
            clock += _exponential(rng, mean)
            if clock > horizon:
                break
            if rng.random() >= chance:
                deal.outcome = "lost"
                break
        else:
            deal.outcome = "won"
        if deal.outcome != "open":
            deal.entries.append(
                (
                    "Closed Won" if deal.outcome == "won" else "Closed Lost",
                    START + dt.timedelta(days=int(clock)),
                )
            )
        price = next(p[2] for p in PRODUCTS if p[0] == product)
        deal.value = round(price * (0.8 + 0.3 * rng.random()))
        deals.append(deal)


def _text(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _pipeline(deals: list[_Deal], rng: random.Random) -> str:
    rows: list[tuple[object, ...]] = []
    for deal in deals:
        stage, engaged, closed, value = "Engaging", deal.created.isoformat(), "", ""
        if deal.outcome == "won":
            stage, closed, value = "Won", deal.entries[-1][1].isoformat(), str(deal.value)
        elif deal.outcome == "lost":
            stage, closed, value = "Lost", deal.entries[-1][1].isoformat(), "0"
        elif len(deal.entries) == 1:
            stage, engaged = "Prospecting", ""
        account = deal.account
        if deal.outcome == "open" and rng.random() < 0.2:
            account = ""
        product = "GridPro" if deal.product == "Grid Pro" else deal.product
        rows.append((deal.id, deal.owner, product, account, stage, engaged, closed, value))
    for i in (17, 18):  # an owner misspelled on two rows
        rows[i] = (rows[i][0], "Mara Lindqvst", *rows[i][2:])
    rows.insert(41, rows[40])  # one row exported twice
    header = (
        "opportunity_id",
        "sales_agent",
        "product",
        "account",
        "deal_stage",
        "engage_date",
        "close_date",
        "close_value",
    )
    return _text(header, rows)


def _history(deals: list[_Deal]) -> str:
    rows: list[tuple[object, ...]] = []
    for deal in deals:
        for name, when in deal.entries:
            amount = deal.value
            rows.append(
                (deal.id, name, when.isoformat(), amount, deal.owner, deal.account, deal.product)
            )
    i = next(i for i, row in enumerate(rows) if row[1] == "Propose")
    rows[i] = (rows[i][0], "Propsoe", *rows[i][2:])  # one stage misspelled
    header = ("opportunity_id", "stage", "entered_at", "amount", "owner", "account", "product")
    return _text(header, rows)


def generate(seed: int = SEED) -> dict[str, str]:
    """The export's files, name -> CSV text."""
    rng = random.Random(seed)
    accounts = _accounts(rng)
    deals = _deals(rng, [a for a, _ in accounts])
    first = next(i for i, (_, sector) in enumerate(accounts) if sector == "manufacturing")
    account_rows: list[tuple[object, ...]] = [
        (name, "manufacturng" if i == first else sector)  # one sector misspelled
        for i, (name, sector) in enumerate(accounts)
    ]
    return {
        "sales_pipeline.csv": _pipeline(deals, rng),
        "stage_history.csv": _history(deals),
        "accounts.csv": _text(("account", "sector"), account_rows),
        "products.csv": _text(("product", "series", "sales_price"), list(PRODUCTS)),
        "sales_teams.csv": _text(("sales_agent", "manager", "regional_office"), list(TEAMS)),
    }


def write(folder: Path) -> list[Path]:
    """Write :func:`generate`'s files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in generate().items():
        path = folder / name
        path.write_text(text, encoding="utf-8", newline="")
        paths.append(path)
    return paths


if __name__ == "__main__":  # python -m kamsim.crm_synthetic [FOLDER]
    from kamsim.crm import example

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else example().parent
    for written in write(target):
        print(f"wrote {written}")

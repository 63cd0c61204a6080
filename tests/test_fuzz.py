"""Fuzz: no input reaches a traceback, a hang or an impossible number.

Over a thousand generated cases run in this process, each bounded by a small horizon and lead
cap (not by wall time) and guarded by a timeout that fails the test; the two largest
generators (drawn from the models, mutations) are marked ``slow``. Cases come from:

- strategies built from the scenario models (their JSON Schema, overlaid on the baseline);
- mutations of every bundled scenario: dropped keys, wrong types, NaN/inf, huge and tiny
  magnitudes, negatives, probabilities above 1, shares that do not sum to 1, unknown and
  non-ASCII keys, deep nesting;
- empty, binary and truncated files; broken and circular ``extends``;
- bad ``--set`` values and command-line options;
- CRM exports (cells, columns, rows and bytes of the shipped synthetic export mutated) and
  their mapping files (the mutations above, applied to the bundled mappings).

Every case either validates and runs to completion with every table invariant holding
(``invariants.check_replication``: finite KPIs, NaN only where undefined, money >= 0), or exits
2 with ``error:`` lines naming the field. Files the exported JSON Schema rejects for type
reasons are rejected by ``kamsim validate`` too. A CRM export either loads, with its tables as
of any date, or raises ``ScenarioError`` whose every problem is one line naming a file; the
same faults through ``kamsim calibrate`` exit 0 with a scenario that validates, or exit 2. The
suite reports its case count.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import signal
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import tomli_w
from constants import SCENARIOS
from helpers import jsonable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invariants import check_replication

import kamsim
from kamsim.cli import main
from kamsim.crm import example, read_crm
from kamsim.crm_mapping import bundled_mappings
from kamsim.errors import ScenarioError
from kamsim.io import scenario_json_schema

BUNDLED = {p.name: p.read_text(encoding="utf-8") for p in sorted(SCENARIOS.glob("*.toml"))}
LEAD_CAP = 40
"""Expected leads of a run case (the arrival rate is scaled down to meet it)."""
MONTHS_CAP = 6
"""Longest horizon of a run case."""
CASE_SECONDS = 60
"""A case still running after this long has hung: the test fails."""

COUNTS: Counter[str] = Counter()
"""Cases by outcome (``ran``, ``refused``), reported at the end of the session."""

SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class CaseTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail a case that runs longer than ``seconds`` (where the platform has SIGALRM)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise CaseTimeout(f"case still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cli(argv: list[str]) -> tuple[int, str, str]:
    """Run the ``kamsim`` entry point in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code: object = None
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        time_limit(CASE_SECONDS),
    ):
        try:
            main(argv)
        except SystemExit as stop:
            code = stop.code
    assert isinstance(code, int), f"exit {code!r}"
    return code, out.getvalue(), err.getvalue()


def assert_refused_or_ok(code: int, out: str, err: str, *fields: str) -> None:
    """Exit 0, or exit 2 with one ``error:`` line per problem, naming ``fields``."""
    assert "Traceback" not in out + err, out + err
    assert code in (0, 2), f"exit {code}\n{out}\n{err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert lines, "exit 2 with nothing on stderr"
        for line in lines:
            assert line.startswith("error: ") and len(line) > len("error: "), line
        for field in fields:
            assert field in err, f"{field!r} not named:\n{err}"


def bounded(scenario: kamsim.Scenario) -> kamsim.Scenario:
    """The same scenario cut to a short horizon and a small expected number of leads."""
    months = min(scenario.calendar.horizon_months, MONTHS_CAP)
    short = scenario.with_overrides(
        {
            "calendar.horizon_months": months,
            "calendar.warmup_months": min(scenario.calendar.warmup_months, months - 1),
        }
    )
    leads = short.expected_leads()
    if leads <= LEAD_CAP:
        return short
    rate = short.arrivals.rate_per_month * LEAD_CAP / leads
    return short.with_overrides({"arrivals.rate_per_month": rate})


def check_case(path: Path, overrides: list[str] = (), *fields: str) -> str:  # type: ignore[assignment]
    """Validate through the CLI; if valid, run it (bounded) and check every invariant."""
    argv = ["validate", str(path)]
    for o in overrides:
        argv += ["--set", o]
    code, out, err = cli(argv)
    assert_refused_or_ok(code, out, err, *fields)
    if code == 2:
        COUNTS["refused"] += 1
        return "refused"
    scenario = bounded(kamsim.load_scenario(path, list(overrides)))
    with time_limit(CASE_SECONDS):
        result = kamsim.simulate(scenario, seed=3, replication=0)
    check_replication(scenario, result, 0)
    COUNTS["ran"] += 1
    return "ran"


SCHEMA = scenario_json_schema()
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)


def _type_reason(error: jsonschema.ValidationError) -> bool:
    if error.validator == "type":
        return True
    if error.validator in ("anyOf", "oneOf") and error.context:
        return all(_type_reason(e) for e in error.context)
    return False


def schema_rejects_a_type(data: dict[str, Any]) -> bool:
    """Whether the exported JSON Schema rejects ``data`` for a value of the wrong type."""
    try:
        doc = json.loads(json.dumps(jsonable(data), allow_nan=True))
    except (TypeError, ValueError):
        return False
    return any(_type_reason(e) for e in VALIDATOR.iter_errors(doc))


def write(directory: Path, data: dict[str, Any] | bytes | str, name: str = "case.toml") -> Path:
    """A scenario file beside copies of the bundled ones (so ``extends`` resolves)."""
    for bundled, text in BUNDLED.items():
        (directory / bundled).write_text(text, encoding="utf-8")
    path = directory / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    elif isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


# -- strategies from the scenario models ---------------------------------------------------


def from_schema(
    node: dict[str, Any], defs: dict[str, Any], depth: int = 0
) -> st.SearchStrategy[Any]:
    """Values a JSON Schema node describes (the subset pydantic emits for the scenario)."""
    if not isinstance(node, dict):  # ``true``: anything
        return st.one_of(st.integers(), st.text(max_size=4), st.booleans())
    if "$ref" in node:
        return st.deferred(lambda: from_schema(defs[node["$ref"].rsplit("/", 1)[-1]], defs, depth))
    for key in ("anyOf", "oneOf"):
        if key in node:
            branches = [b for b in node[key] if b.get("type") != "null"]
            return st.one_of(*(from_schema(b, defs, depth) for b in branches))
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        if "properties" in node:
            props = {k: from_schema(v, defs, depth + 1) for k, v in node["properties"].items()}
            required = set(node.get("required", ()))
            return st.fixed_dictionaries(
                {k: v for k, v in props.items() if k in required},
                optional={k: v for k, v in props.items() if k not in required},
            )
        names = node.get("propertyNames", {}).get("enum", ["A", "B", "C", "D"])
        value = from_schema(node.get("additionalProperties", {}), defs, depth + 1)
        return st.dictionaries(st.sampled_from(names), value, max_size=4)
    if kind == "number":
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        return st.floats(
            min_value=low,
            max_value=high,
            exclude_min="exclusiveMinimum" in node,
            exclude_max="exclusiveMaximum" in node,
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "integer":
        return st.integers(node.get("minimum", -(10**6)), node.get("maximum", 10**6))
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if node.get("format") == "date":
            return st.dates(dt.date(1900, 1, 1), dt.date(9999, 12, 31))
        return st.text(max_size=8)
    if kind == "array":
        items = from_schema(node.get("items", {}), defs, depth + 1)
        return st.lists(items, min_size=node.get("minItems", 0), max_size=node.get("maxItems", 4))
    return st.one_of(st.integers(), st.text(max_size=4), st.booleans())


def _scenario_tables() -> st.SearchStrategy[dict[str, Any]]:
    defs = SCHEMA["$defs"]
    props = {k: v for k, v in SCHEMA["properties"].items() if k != "extends"}
    tables = {k: from_schema(v, defs) for k, v in props.items()}
    return st.dictionaries(st.sampled_from(sorted(tables)), st.none(), max_size=4).flatmap(
        lambda chosen: st.fixed_dictionaries({k: tables[k] for k in chosen})
    )


BASELINE_DATA = tomllib.loads(BUNDLED["baseline.toml"])


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and "dist" not in value and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = value
    return out


@pytest.mark.slow  # 300 generated scenarios, each validated and run
@settings(SETTINGS, max_examples=300)
@given(tables=_scenario_tables(), over_baseline=st.booleans())
def test_scenarios_drawn_from_the_models(
    tmp_path_factory: pytest.TempPathFactory, tables: dict[str, Any], over_baseline: bool
) -> None:
    data = _overlay(BASELINE_DATA, tables) if over_baseline else tables
    if not data:
        data = {"name": "empty-tables"}
    path = write(tmp_path_factory.mktemp("model"), data)
    outcome = check_case(path)
    if schema_rejects_a_type(data):
        assert outcome == "refused"


# -- mutations of every bundled scenario ---------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out.extend(_paths(value, (*prefix, i)))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _dotted(path: tuple[Any, ...]) -> str:
    """The field a problem at ``path`` is reported under (list items name their list)."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            break
        parts.append(str(part))
    return ".".join(parts)


def _wrong_types(value: Any) -> list[Any]:
    """Values of a type the field cannot take, whatever it is."""
    if isinstance(value, bool):
        return ["yes", 1.5, [True]]
    if isinstance(value, int | float):
        return ["12", True, [1.0], {"x": 1.0}]
    if isinstance(value, str):
        return [3, True, [value]]
    if isinstance(value, dt.date):
        return [20270101, True, "not a date"]
    if isinstance(value, list):
        return ["text", True]
    return ["text", True, [1, 2]]


NUMERIC = [
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    1e20,
    10**30,
    1e-300,
    5e-324,
    -1.0,
    -1e9,
    1.5,
    0,
    0.0,
]
MUTATIONS = (
    "drop",
    "wrong_type",
    "number",
    "negate",
    "unknown_key",
    "non_ascii_key",
    "nest",
    "shares",
)


_MISSING = object()


def _still(data: Any, path: tuple[Any, ...], value: Any) -> bool:
    """Whether ``path`` in ``data`` still holds ``value`` (``_MISSING``: whether it is absent)."""
    try:
        return _get(data, path) is value
    except (KeyError, IndexError, TypeError):
        return value is _MISSING


def mutate(
    data: dict[str, Any], original: dict[str, Any], draw: st.DrawFn
) -> tuple[dict[str, Any], tuple[Any, ...] | None]:
    """One mutation of ``data``; returns the mutated copy and, when the mutation put a value of
    a type the field cannot take (judged by its value in the ``original`` scenario) somewhere,
    its path (None when any outcome may be valid)."""
    data = copy.deepcopy(data)
    paths = _paths(data)
    kind = draw(st.sampled_from(MUTATIONS))
    if not paths:
        kind = "unknown_key"
    path = draw(st.sampled_from(paths)) if paths else ()
    parent = _get(data, path[:-1]) if path else data
    key = path[-1] if path else None
    if kind == "drop" and isinstance(parent, dict):
        del parent[key]
        return data, None
    if kind == "wrong_type" and key is not None:
        if not _still(original, path, _MISSING):
            # A field of the original scenario: a wrong type for it must be refused.
            parent[key] = draw(st.sampled_from(_wrong_types(_get(original, path))))
            return data, path
        parent[key] = draw(st.sampled_from(_wrong_types(parent[key])))
        return data, None
    if kind in ("number", "negate") and key is not None:
        old = parent[key]
        if kind == "negate" and isinstance(old, int | float) and not isinstance(old, bool):
            parent[key] = -old if old else -1.0
        else:
            parent[key] = draw(st.sampled_from(NUMERIC))
        return data, None
    if kind == "nest" and key is not None:
        value: Any = parent[key]
        for _ in range(draw(st.integers(1, 40))):
            value = {"x": value}
        parent[key] = value
        return data, None
    if kind == "shares" and "grades" in data and isinstance(data["grades"], dict):
        for grade in data["grades"].values():
            if isinstance(grade, dict) and "share" in grade:
                grade["share"] = draw(st.sampled_from([0.0, 0.5, 0.9, 1.5]))
        return data, None
    target = parent if isinstance(parent, dict) else data
    name = (
        "客户经理"
        if kind == "non_ascii_key"
        else draw(st.sampled_from(["horizon_monts", "x", "pools2"]))
    )
    target[name] = draw(st.sampled_from([1, "a", {"y": 2}]))
    return data, None


@pytest.mark.slow  # 500 mutated scenarios, each validated and, when valid, run
@settings(SETTINGS, max_examples=500)
@given(name=st.sampled_from(sorted(BUNDLED)), data=st.data())
def test_mutations_of_the_bundled_scenarios(
    tmp_path_factory: pytest.TempPathFactory, name: str, data: st.DataObject
) -> None:
    original = tomllib.loads(BUNDLED[name])
    scenario = original
    wrong: list[tuple[tuple[Any, ...], Any]] = []
    for _ in range(data.draw(st.integers(1, 3))):
        scenario, changed = mutate(scenario, original, data.draw)
        if changed is not None:
            wrong.append((changed, _get(scenario, changed)))
    # A wrong type still in place (not dropped or replaced by a later mutation) must be named:
    # the field itself, or a table around it whose own problem stopped validation there.
    intact = [path for path, value in wrong if _still(scenario, path, value)]
    path = write(tmp_path_factory.mktemp("mutant"), scenario)
    outcome = check_case(path)
    if intact:
        assert outcome == "refused", intact
        _, _, err = cli(["validate", str(path)])
        if "extends:" in err or "levels deep" in err:
            return  # a broken parent or too deep nesting stops before fields are validated
        for field in intact:
            names = [_dotted(field[:n]) for n in range(len(field), 0, -1)]
            # Named as the field, or as an item of it (``pools.0:``).
            assert any(
                f"{n}:" in err or f"{n}." in err
                for n in names
                if n.count(".") >= min(1, len(field) - 1)
            ), (field, err)
    if schema_rejects_a_type(scenario):
        assert outcome == "refused"


# -- files, extends, --set and options -----------------------------------------------------


@settings(SETTINGS, max_examples=100)
@given(
    kind=st.sampled_from(["empty", "binary", "truncated", "latin1"]),
    name=st.sampled_from(sorted(BUNDLED)),
    data=st.data(),
)
def test_empty_binary_and_truncated_files(
    tmp_path_factory: pytest.TempPathFactory, kind: str, name: str, data: st.DataObject
) -> None:
    text = BUNDLED[name]
    body: bytes
    if kind == "empty":
        body = data.draw(st.sampled_from([b"", b"\n", b"# nothing\n", b"   \n# x\n"]))
    elif kind == "binary":
        body = data.draw(st.binary(min_size=1, max_size=200))
    elif kind == "truncated":
        body = text.encode("utf-8")[: data.draw(st.integers(0, len(text.encode("utf-8"))))]
    else:
        body = ("# caf\u00e9 \u00fc\n" + text).encode("latin-1", errors="replace")
    path = write(tmp_path_factory.mktemp("file"), body)
    check_case(path)


@settings(SETTINGS, max_examples=50)
@given(
    parent=st.one_of(
        st.sampled_from(["missing.toml", "", ".", "..", "/", "case.toml", "loop_a.toml"]),
        st.integers(),
        st.lists(st.text(max_size=3), max_size=2),
        st.text(max_size=12),
    )
)
def test_broken_and_circular_extends(tmp_path_factory: pytest.TempPathFactory, parent: Any) -> None:
    directory = tmp_path_factory.mktemp("extends")
    (directory / "loop_b.toml").write_text('extends = "loop_a.toml"\n', encoding="utf-8")
    (directory / "loop_a.toml").write_text('extends = "loop_b.toml"\n', encoding="utf-8")
    path = write(directory, {"extends": parent, "name": "child"})
    code, out, err = cli(["validate", str(path)])
    assert_refused_or_ok(code, out, err)
    valid_parent = isinstance(parent, str) and (directory / parent).is_file()
    if not valid_parent or parent in ("case.toml", "loop_a.toml"):
        assert code == 2 and "extends" in err, err
    COUNTS["refused" if code == 2 else "ran"] += 1


SET_KEYS = sorted({_dotted(p) for p in _paths(BASELINE_DATA) if _dotted(p)})


@settings(SETTINGS, max_examples=150)
@given(
    key=st.one_of(st.sampled_from(SET_KEYS), st.text(max_size=12)),
    value=st.one_of(
        st.text(max_size=16),
        st.sampled_from(
            [
                "nan",
                "inf",
                "-1",
                "1e308",
                "true",
                "[1,",
                '{dist="fixed"}',
                "'x'",
                "2027-13-01",
                "{ a = { b = 1 } }",
            ]
        ),
    ),
    equals=st.booleans(),
)
def test_bad_set_values(
    tmp_path_factory: pytest.TempPathFactory, key: str, value: str, equals: bool
) -> None:
    path = write(tmp_path_factory.mktemp("set"), BUNDLED["baseline.toml"], "base.toml")
    check_case(path, [f"{key}={value}" if equals else f"{key}{value}"])


TINY = (
    'extends = "baseline.toml"\n[calendar]\nhorizon_months = 1\nwarmup_months = 0\n'
    "[arrivals]\nrate_per_month = 5.0\n"
)


@settings(SETTINGS, max_examples=100)
@given(
    command=st.sampled_from(["run", "validate", "schema", "bogus"]),
    options=st.lists(
        st.sampled_from(
            [
                ["--reps", "0"],
                ["--reps", "1"],
                ["--reps", "x"],
                ["--reps", "99999999999999999999"],
                ["--seed", "-1"],
                ["--seed", "7"],
                ["--seed", "100000000000000000000"],
                ["--seed", "1.5"],
                ["--out", "OUT"],
                ["--out", "FILE"],
                ["--out", "FILE/sub"],
                ["--set"],
                ["--set", "x"],
                ["--unknown"],
                ["-x"],
                ["--help"],
                [""],
            ]
        ),
        max_size=3,
    ),
)
def test_bad_options(
    tmp_path_factory: pytest.TempPathFactory, command: str, options: list[list[str]]
) -> None:
    directory = tmp_path_factory.mktemp("options")
    path = write(directory, TINY, "tiny.toml")
    (directory / "FILE").write_text("keep\n", encoding="utf-8")
    argv = [command, str(path)]
    for option in options:
        argv += [
            str(directory / part) if part.startswith(("OUT", "FILE")) else part for part in option
        ]
    code, out, err = cli(argv)
    assert_refused_or_ok(code, out, err)
    assert (directory / "FILE").read_text(encoding="utf-8") == "keep\n"
    COUNTS["refused" if code == 2 else "ran"] += 1


# -- CRM exports and mappings ----------------------------------------------------------------

CRM_FILES = {
    name: example(name).read_text(encoding="utf-8")
    for name in (
        "sales_pipeline.csv",
        "stage_history.csv",
        "accounts.csv",
        "products.csv",
        "sales_teams.csv",
    )
}
MAPPINGS = {name: path.read_text(encoding="utf-8") for name, path in bundled_mappings().items()}
EXPORT_OF = {"maven": "sales_pipeline.csv", "stage-history": "stage_history.csv"}
CELLS = [
    "",
    "NA",
    "-1",
    "-0",
    "1e309",
    "nan",
    "1,234",
    "abc",
    "2017-02-30",
    "0001-01-01",
    "9999-12-31",
    "2024-06-30T25:00",
    "2024-06-30T10:00+05:00",
    "Won",
    "Lost",
    "Engaging",
    "Prospecting",
    "Closed Won",
    "won",
    "Wonn",
    "客户开发",
    '"',
    "a,b",
    "x" * 5000,
    "=1+1",
    "K0001",
]


def write_case(
    directory: Path, files: dict[str, str | bytes], mapping: str | bytes | None
) -> Path | None:
    """Write an export's files and its mapping (if any) into ``directory``."""
    for name, body in files.items():
        if isinstance(body, bytes):
            (directory / name).write_bytes(body)
        else:
            (directory / name).write_text(body, encoding="utf-8", newline="")
    if mapping is None:
        return None
    mapping_path = directory / "mapping.toml"
    if isinstance(mapping, bytes):
        mapping_path.write_bytes(mapping)
    else:
        mapping_path.write_text(mapping, encoding="utf-8")
    return mapping_path


def crm_case(
    directory: Path, files: dict[str, str | bytes], mapping: str | bytes | None, export: str
) -> str:
    """Read an export as of no date and of a date: it loads and every table builds, or the
    problems each take one line and name a file; no other exception may escape."""
    mapping_path = write_case(directory, files, mapping)
    with time_limit(CASE_SECONDS):
        try:
            read = read_crm(directory / export, mapping_path)
            for as_of in (None, "2024-06-30"):
                table = read.opportunities(as_of)
                read.history(as_of)
                assert read.report(as_of)
                assert (table["value"].dropna() >= 0).all()
        except ScenarioError as err:
            for problem in err.problems:
                text = str(problem)
                assert text and "\n" not in text and "Traceback" not in text, text
                assert problem.file, text
            COUNTS["refused"] += 1
            return "refused"
    COUNTS["ran"] += 1
    return "ran"


def _rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.splitlines()]


def _mutate_csv(text: str, draw: st.DrawFn) -> str | bytes:
    """One fault a CRM export can have: a cell, a column, a row, or the bytes."""
    kind = draw(
        st.sampled_from(["cell", "cell", "cell", "drop_column", "copy_row", "swap_ids", "bytes"])
    )
    rows = _rows(text)
    if kind == "bytes":
        raw = text.encode("utf-8")
        cut = draw(st.integers(0, len(raw)))
        return draw(st.sampled_from([raw[:cut], raw[:cut] + b"\xff\x00", b"\xef\xbb\xbf" + raw]))
    if kind == "drop_column":
        column = draw(st.integers(0, len(rows[0]) - 1))
        rows = [r[:column] + r[column + 1 :] for r in rows]
    elif kind == "copy_row":
        i = draw(st.integers(0, len(rows) - 1))
        rows.insert(draw(st.integers(0, len(rows))), list(rows[i]))
    elif kind == "swap_ids" and len(rows) > 2:
        i, j = draw(st.integers(1, len(rows) - 1)), draw(st.integers(1, len(rows) - 1))
        rows[j] = [rows[i][0], *rows[j][1:]]
    else:
        i = draw(st.integers(0, len(rows) - 1))
        column = draw(st.integers(0, len(rows[i]) - 1))
        value = draw(st.one_of(st.sampled_from(CELLS), st.text(max_size=12)))
        rows[i][column] = '"' + value.replace('"', '""') + '"'
    return "\n".join(",".join(r) for r in rows) + "\n"


@settings(SETTINGS, max_examples=120)
@given(
    mapping=st.sampled_from(sorted(EXPORT_OF)),
    target=st.sampled_from(["export", "export", "accounts.csv", "products.csv", "sales_teams.csv"]),
    data=st.data(),
)
def test_crm_exports_with_faults(
    tmp_path_factory: pytest.TempPathFactory, mapping: str, target: str, data: st.DataObject
) -> None:
    export = EXPORT_OF[mapping]
    name = export if target == "export" else target
    files: dict[str, str | bytes] = dict(CRM_FILES)
    body: str | bytes = files[name]
    for _ in range(data.draw(st.integers(1, 3))):
        body = _mutate_csv(body, data.draw) if isinstance(body, str) else body
    files[name] = body
    crm_case(tmp_path_factory.mktemp("crm"), files, MAPPINGS[mapping], export)


MAPPING_VALUES = [
    "no_such_column",
    "tendr",
    "won",
    "development",
    "history",
    "%d/%m/%Y",
    "%Q",
    "",
    0.3,
    1.5,
    [],
    {"x": 1},
]


@settings(SETTINGS, max_examples=120)
@given(name=st.sampled_from(sorted(EXPORT_OF)), data=st.data())
def test_crm_mappings_with_faults(
    tmp_path_factory: pytest.TempPathFactory, name: str, data: st.DataObject
) -> None:
    original = tomllib.loads(MAPPINGS[name])
    mapping: dict[str, Any] = original
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(mapping)
        if paths and data.draw(st.booleans()):
            path = data.draw(st.sampled_from(paths))
            parent = _get(mapping, path[:-1]) if len(path) > 1 else mapping
            mapping = copy.deepcopy(mapping)
            parent = _get(mapping, path[:-1]) if len(path) > 1 else mapping
            parent[path[-1]] = data.draw(st.sampled_from(MAPPING_VALUES))
        else:
            mapping, _ = mutate(mapping, original, data.draw)
    try:
        text: str | bytes = tomli_w.dumps(mapping)
    except (TypeError, ValueError):
        text = b"\x00\x01 not toml"
    crm_case(tmp_path_factory.mktemp("map"), dict(CRM_FILES), text, EXPORT_OF[name])


@settings(SETTINGS, max_examples=40)
@given(
    mapping=st.sampled_from(sorted(EXPORT_OF)),
    target=st.sampled_from(["export", "export", "export", "accounts.csv", "mapping"]),
    data=st.data(),
)
def test_calibrate_with_faults(
    tmp_path_factory: pytest.TempPathFactory, mapping: str, target: str, data: st.DataObject
) -> None:
    """``kamsim calibrate`` on a faulty export or mapping: exit 0 and a scenario file that
    validates, or exit 2 with ``error:`` lines; never a traceback, and no file on refusal."""
    directory = tmp_path_factory.mktemp("calibrate")
    export = EXPORT_OF[mapping]
    files: dict[str, str | bytes] = dict(CRM_FILES)
    text: str | bytes = MAPPINGS[mapping]
    if target == "mapping":
        assert isinstance(text, str)
        key = data.draw(st.sampled_from(_paths(tomllib.loads(text))))
        value = data.draw(st.sampled_from(MAPPING_VALUES))
        changed = tomllib.loads(text)
        parent = _get(changed, key[:-1]) if len(key) > 1 else changed
        parent[key[-1]] = value
        try:
            text = tomli_w.dumps(changed)
        except (TypeError, ValueError):
            text = b"\x00\x01 not toml"
    else:
        name = export if target == "export" else target
        body: str | bytes = files[name]
        for _ in range(data.draw(st.integers(1, 3))):
            body = _mutate_csv(body, data.draw) if isinstance(body, str) else body
        files[name] = body
    mapping_path = write_case(directory, files, text)
    out = directory / "fitted.toml"
    as_of = data.draw(st.sampled_from([[], ["--as-of", "2024-06-30"], ["--as-of", "2023-01-15"]]))
    argv = ["calibrate", str(directory / export), "--map", str(mapping_path), "--out", str(out)]
    code, stdout, stderr = cli([*argv, *as_of])
    assert_refused_or_ok(code, stdout, stderr)
    if code == 0:
        kamsim.load_scenario(out)
        COUNTS["ran"] += 1
    else:
        assert not out.exists()
        COUNTS["refused"] += 1

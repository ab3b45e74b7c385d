"""Every writer of figures, fed small counts: none may reach what it writes.

A small world is built straight into a workspace: two organisations, 87 people, one or
two contacts each, where some groups are large (40 people) and some small (3 or 4), so
every aggregate has cells under the threshold. Each writer that publishes aggregates is
run on it and its output is checked: no count under 10 (other than a withheld marker),
and, for the report, no change at all when people move between withheld cells in a way
that keeps every total (what an intruder could learn from such a change is exactly what
disclosure control must hide).

``WRITERS`` lists every module of the package that writes a file, with the test that
covers it or the reason it publishes no aggregate; a test scans the source so that a new
writer cannot be added without a line here. Writers owned by other stages that leak today
are strict-xfail with the reason, so fixing one shows.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from joinedup.governance import MARKER, AuditLog
from joinedup.model import DEMAND, EVENTS, LINKS
from joinedup.workspace import Workspace

THRESHOLD = 10
SRC = Path(__file__).resolve().parents[2] / "src" / "joinedup"

#: (group, people, service, [(org, activity, category, caused_by_org, cause)]): each
#: person of a group makes the same contacts, three days apart, all by phone.
GROUPS: list[tuple[str, int, str, list[tuple[str, str, str, str | None, str | None]]]] = [
    (
        "g1",
        40,
        "main",
        [
            ("benefits", "apply", "service", None, None),
            ("benefits", "payment query", "chase", "benefits", "late_payment"),
        ],
    ),
    (
        "g2",
        30,
        "main",
        [("tax", "register", "service", None, None), ("tax", "tax query", "info", None, None)],
    ),
    (
        "g3",
        3,
        "main",
        [
            ("benefits", "apply", "service", None, None),
            ("tax", "tax query", "misrouted", "benefits", "wrong_advice"),
        ],
    ),
    (
        "g4",
        4,
        "main",
        [
            ("benefits", "apply", "service", None, None),
            ("benefits", "correction", "error", "benefits", "wrong_advice"),
        ],
    ),
    (
        "g5",
        4,
        "main",
        [("tax", "register", "service", None, None), ("tax", "tax query", "chase", "tax", None)],
    ),
    (
        "g6",
        3,
        "main",
        [("tax", "register", "service", None, None), ("tax", "correction", "error", "tax", None)],
    ),
    ("g7", 3, "rare", [("tax", "appeal", "service", None, None)]),
]
#: The group sizes under the threshold: none of them may be written.
SMALL = {n for _, n, _, _ in GROUPS if n < THRESHOLD}


def _conform(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema
    )


def build_world(path: Path, *, swap: bool = False) -> Path:
    """The small world as a workspace, with need episodes and the value ledger built.

    ``swap`` moves one benefits contact from ``error`` to ``chase`` and one tax contact
    from ``chase`` to ``error``: every total by organisation, by category, by type, by
    channel and by month stays the same; only four cells under the threshold change.
    """
    from joinedup import journeys
    from joinedup.value._ledger import ledger

    events: list[dict[str, Any]] = []
    demand: list[dict[str, Any]] = []
    links: dict[tuple[str, str], str] = {}
    start = datetime(2025, 3, 3, 9, tzinfo=UTC)
    k = 0
    for group, n, service, steps in GROUPS:
        for i in range(n):
            person = f"{group}-{i}"
            for j, (org, activity, category, caused_by, cause) in enumerate(steps):
                k += 1
                eid = f"{org}:e{k:04d}"
                ref = f"{org}-{person}"
                links[(org, ref)] = person
                events.append(
                    {
                        "event_id": eid,
                        "org": org,
                        "service": service,
                        "channel": "phone",
                        "occurred_at": start + timedelta(days=3 * j, minutes=k),
                        "activity": activity,
                        "direction": "in",
                        "local_person_ref": ref,
                        "case_ref": f"{org}-{person}",
                        "source": f"{org}-src",
                    }
                )
                if swap and i == 0 and j == 1 and group in ("g4", "g5"):
                    category = {"error": "chase", "chase": "error"}[category]
                kind = "value" if category in ("service", "info") else "failure"
                demand.append(
                    {
                        "event_id": eid,
                        "demand_type": kind,
                        "category": category,
                        "confidence": 1.0,
                        "decided_by": "rule",
                        "caused_by_org": caused_by,
                        "received_by_org": org,
                        "cause": cause,
                    }
                )
    link_rows = [
        {"org": o, "local_person_ref": r, "person_id": p, "match_probability": 1.0}
        for (o, r), p in links.items()
    ]
    demand_table = _conform(demand, DEMAND).append_column(
        "cause", pa.array([d["cause"] for d in demand], pa.string())
    )
    with Workspace(path) as ws:
        ws.engine.write("events", _conform(events, EVENTS))
        ws.engine.write("links", _conform(link_rows, LINKS), mode="replace")
        ws.engine.drop("demand")  # the optional cause column is not in the standard schema
        ws.engine.write("demand", demand_table)
        journeys.episodes(ws)
        ledger(ws)
    return path


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_world(tmp_path_factory.mktemp("world") / "ws")


@pytest.fixture
def world(world_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the small world."""
    dest = tmp_path / "ws"
    shutil.copytree(world_dir, dest)
    return dest


def small_counts(values: list[Any]) -> list[Any]:
    """The values that are counts under the threshold (zeros and markers are fine here:
    the rule for zeros is checked by the disclosure tests)."""
    out = []
    for v in values:
        if v in (None, "", MARKER):
            continue
        n = float(v)
        if 0 < n < THRESHOLD:
            out.append(v)
    return out


def csv_column(path: Path, column: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row[column] for row in csv.DictReader(fh)]


# -- the inventory ---------------------------------------------------------------------

#: Every module that writes a file: the test of its output, or why it publishes no
#: aggregate. A test name without a path is in this module.
WRITERS: dict[str, str] = {
    "report/__init__.py": "test_report_does_not_depend_on_withheld_cells",
    "report/_charts.py": "test_report_does_not_depend_on_withheld_cells",
    "governance/_export.py": "tests/governance/test_export.py::"
    "test_csv_has_no_small_count_and_its_notes_beside_it",
    "journeys/_cli.py": "test_process_map_files_hold_no_small_count",
    "journeys/_export.py": "test_a_row_level_export_of_the_joined_log_is_audited",
    "journeys/_xes.py": "test_a_row_level_export_of_the_joined_log_is_audited",
    "value/_ledger.py": "test_cost_shunting_heat_map_holds_no_small_count",
    "value/_chart.py": "test_cost_shunting_heat_map_holds_no_small_count",
    "value/_gainshare.py": "test_deal_sheet_holds_no_figure_from_few_contacts",
    "ingest/_export.py": "tests/ingest/test_quality.py::test_quality_command",
    "demand/_cli.py": "reason: prints the evaluation of the text model against labelled "
    "data (a confusion table) to the terminal, inside the secure setting",
    "demand/_review.py": "reason: row-level: the contacts an analyst is asked to label, for "
    "use inside the organisation; not an aggregate",
    "demand/_files.py": "reason: row-level: classifies the rows of the caller's own file",
    "link/_run.py": "reason: the links (row-level, the hub's own table) and the model's "
    "match weights (m and u probabilities, no counts of people)",
    "privacy/_pseudonymise.py": "reason: row-level encodings, the organisation's transfer "
    "to the hub; holds no plain identifier and no aggregate",
    "ingest/_read.py": "reason: a working copy of an export (re-encoded) inside the workspace",
    "ingest/_formats.py": "reason: reads exports; writes only temporary working files",
    "governance/_audit.py": "reason: the audit log itself",
    "web/_audit.py": "reason: the audit log itself (the web service's entries, written in batches)",
    "governance/_access.py": "reason: the users and sessions store",
    "engine/_journal.py": "reason: the Spark engine's transaction journal",
    "report/_fairness.py": "reason: temporary inputs (groups, labels) for demand.audit, "
    "deleted before the report is written; the section's counts pass disclosure control",
    "synth/__init__.py": "reason: synthetic data, made up, for tests and the demo",
    "synth/_exports.py": "reason: synthetic data, made up, for tests and the demo",
    "synth/_xlsx.py": "reason: synthetic data, made up, for tests and the demo",
}
_WRITES = re.compile(
    r"write_csv|pq\.write_table|csv\.writer|csv\.DictWriter|\.write_text\(|"
    r"open\([^)]*[\"']w|xlsxwriter\.Workbook|to_parquet|write_parquet|COPY .* TO |"
    r"vegalite_to_svg|\.to_csv\(|print_json|sqlite3\.connect"
)


def test_every_writer_is_listed_with_its_test_or_reason() -> None:
    found = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if _WRITES.search(p.read_text(encoding="utf-8"))
    )
    unlisted = [f for f in found if f not in WRITERS]
    assert not unlisted, f"new writers: add them to WRITERS with a test: {unlisted}"
    gone = [f for f in WRITERS if not (SRC / f).exists()]
    assert not gone, f"listed writers that no longer exist: {gone}"
    root = SRC.parents[1]
    for module, cover in WRITERS.items():
        if cover.startswith("reason: "):
            continue
        path, _, name = cover.rpartition("::")
        text = (root / path).read_text(encoding="utf-8") if path else Path(__file__).read_text()
        assert f"def {name}(" in text, f"{module}: no test {cover}"


# -- the report ------------------------------------------------------------------------

#: What differs between two builds of the same report: times, run ids, and the element
#: ids the chart renderer numbers in the order charts are drawn in one process.
_VOLATILE = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?|\d{1,2} \w+ \d{4} \d{2}:\d{2} UTC|"
    r"[0-9a-f]{12,}|\b(gradient|clip|pattern|mask)_?\d+\b"
)


def _report(path: Path) -> tuple[str, Any]:
    from joinedup import report

    with Workspace(path, create=False) as ws:
        res = report.build(ws, path / "report.html")
        exact = ws.engine.to_arrow(
            ws.engine.sql(
                "SELECT received_by_org, category, count(*) AS n FROM demand "
                "GROUP BY ALL ORDER BY ALL"
            )
        ).to_pylist()
    html = res.path.read_text(encoding="utf-8")
    return _VOLATILE.sub("#", html), exact


def test_report_does_not_depend_on_withheld_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from joinedup.governance import OutputRules, disclose
    from joinedup.report import _publish

    worlds = build_world(tmp_path / "one"), build_world(tmp_path / "two", swap=True)
    (one, exact_one), (two, exact_two) = _report(worlds[0]), _report(worlds[1])
    assert exact_one != exact_two  # the worlds differ, in cells under the threshold only
    assert MARKER in one
    assert one == two
    # The comparison can tell the worlds apart: with rules that withhold nothing, the
    # report shows the cells that differ.
    nothing = OutputRules(threshold=1, suppress_zeros=False, rounding_base=1)
    monkeypatch.setattr(
        _publish, "disclose", lambda *a, **k: disclose(*a, **{**k, "rules": nothing})
    )
    assert _report(worlds[0])[0] != _report(worlds[1])[0]


def test_report_figures_hold_no_small_count(world: Path) -> None:
    from joinedup import report

    with Workspace(world, create=False) as ws:
        res = report.build(ws, world / "report.html")
    html = res.path.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="joinedup-figures">(.*?)</script>', html)
    assert found
    figures = json.loads(found.group(1).replace("<\\/", "</"))

    def counts(node: Any, key: str = "") -> list[Any]:
        if isinstance(node, dict):
            return [v for k, child in node.items() for v in counts(child, k)]
        if isinstance(node, list):
            return [v for child in node for v in counts(child, key)]
        # Integers are counts; rules and shares are not.
        return [node] if isinstance(node, int) and not isinstance(node, bool) else []

    published = counts({k: v for k, v in figures.items() if k not in ("rules", "extra")})
    assert published and not small_counts(published)


# -- journeys ----------------------------------------------------------------------------


def test_process_map_files_hold_no_small_count(world: Path) -> None:
    from joinedup.journeys._cli import app

    out = world.parent
    got = CliRunner().invoke(
        app,
        [
            "map",
            "-w",
            str(world),
            "--out",
            str(out / "dfg.csv"),
            "--variants",
            str(out / "variants.csv"),
            "--ends",
            str(out / "ends.csv"),
        ],
    )
    assert got.exit_code == 0, got.output
    assert csv_column(out / "dfg.csv", "frequency")  # the graph was written
    for name, column in [
        ("dfg.csv", "frequency"),
        ("variants.csv", "cases"),
        ("ends.csv", "start_cases"),
        ("ends.csv", "end_cases"),
    ]:
        assert not small_counts(csv_column(out / name, column)), (name, column)


def test_directly_follows_graph_of_a_log_file_holds_no_small_count(tmp_path: Path) -> None:
    from joinedup.journeys._cli import app

    rows = ["case,activity,time"]
    for case in range(43):
        second = "pay" if case < 40 else "complain"  # 40 cases one way, 3 the other
        rows += [f"c{case},apply,2025-01-01T09:00:00", f"c{case},{second},2025-01-02T09:00:00"]
    log = tmp_path / "log.csv"
    log.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "dfg.csv"
    args = ["dfg", str(log), "--case-col", "case", "--activity-col", "activity"]
    got = CliRunner().invoke(app, [*args, "--time-col", "time", "--out", str(out)])
    assert got.exit_code == 0, got.output
    assert not small_counts(csv_column(out, "frequency"))


def test_service_shapes_file_holds_no_small_count(world: Path) -> None:
    from joinedup.journeys._cli import app

    out = world.parent / "shape.csv"
    got = CliRunner().invoke(app, ["shape", "-w", str(world), "--out", str(out)])
    assert got.exit_code == 0, got.output
    assert "rare" in out.read_text(encoding="utf-8")  # the 3-episode service is there
    assert not small_counts(csv_column(out, "episodes"))


def test_process_map_printout_holds_no_small_count(world: Path) -> None:
    from joinedup.journeys._cli import app

    got = CliRunner().invoke(app, ["map", "-w", str(world)])
    assert got.exit_code == 0, got.output
    line = next(x for x in got.output.splitlines() if "apply" in x and "correction" in x)
    assert not small_counts(re.findall(r"\b\d+\b", line.split("correction", 1)[1])[:1])


@pytest.mark.parametrize("name", ["log.jsonocel", "log.sqlite", "log.xes"])
def test_a_row_level_export_of_the_joined_log_is_audited(world: Path, name: str) -> None:
    from joinedup.journeys._cli import app

    out = world.parent / name
    got = CliRunner().invoke(app, ["export", str(out), "-w", str(world)])
    assert got.exit_code == 1 and not out.exists()
    assert "row-level" in got.output and "--no-disclosure-control" in got.output
    [refused] = AuditLog(world).entries(what="export.refused")
    assert refused.details["output"] == str(out)

    got = CliRunner().invoke(
        app, ["export", str(out), "-w", str(world), "--no-disclosure-control", "--as", "ana"]
    )
    assert got.exit_code == 0, got.output
    assert out.exists() and "not cleared for release" in " ".join(got.output.split())
    [off] = AuditLog(world).entries(what="disclosure.off")
    mine = [e for e in AuditLog(world).entries(what="export") if e.details["output"] == str(out)]
    assert [e.what for e in mine] == ["export.refused", "export"]
    export = mine[-1]
    assert off.details["output"] == str(out)
    assert export.who == off.who == "ana" and export.details["row_level"] is True
    assert AuditLog(world).verify().ok


def _users(world: Path) -> None:
    from argon2 import PasswordHasher

    from joinedup.governance import AccessStore

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    store = AccessStore(world, hasher=cheap)
    store.add_user("ana", "correct horse battery", "benefits", "analyst")
    store.add_user("root", "correct horse battery", "benefits", "administrator")


def test_only_an_administrator_may_export_the_row_level_log(world: Path) -> None:
    from joinedup.journeys._cli import app

    _users(world)
    out = world.parent / "log.xes"
    base = ["export", str(out), "-w", str(world), "--no-disclosure-control"]
    for who, message in [("ana", "only an administrator"), ("nobody", "not a user")]:
        got = CliRunner().invoke(app, [*base, "--as", who])
        assert got.exit_code == 1 and message in got.output, got.output
        assert not out.exists()
    got = CliRunner().invoke(app, [*base, "--as", "root"])
    assert got.exit_code == 0, got.output
    mine = [e for e in AuditLog(world).entries(what="export") if e.details["output"] == str(out)]
    assert [(e.what, e.who) for e in mine] == [
        ("export.refused", "ana"),
        ("export.refused", "nobody"),
        ("export", "root"),
    ]


def test_process_map_files_are_audited_and_control_off_is_recorded(world: Path) -> None:
    from joinedup.journeys._cli import app

    _users(world)
    out = world.parent / "dfg.csv"
    base = ["map", "-w", str(world), "--out", str(out)]
    got = CliRunner().invoke(app, base)  # with control on, anyone who can run it
    assert got.exit_code == 0, got.output
    assert MARKER in out.read_text(encoding="utf-8")
    assert "[c] confidential" in out.with_suffix(".notes.txt").read_text(encoding="utf-8")
    [export] = [
        e for e in AuditLog(world).entries(what="export") if e.details["output"] == str(out)
    ]
    assert export.details["disclosure_control"] is True and export.details["withheld"] > 0
    # durations rest on the frequency: withheld with it
    with out.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["frequency"] == MARKER:
                assert {row[k] for k in ("mean_seconds", "median_seconds", "p95_seconds")} == {
                    MARKER
                }

    got = CliRunner().invoke(app, [*base, "--as", "ana", "--no-disclosure-control"])
    assert got.exit_code == 1 and "only an administrator" in got.output
    got = CliRunner().invoke(app, [*base, "--as", "root", "--no-disclosure-control"])
    assert got.exit_code == 0, got.output
    assert small_counts(csv_column(out, "frequency"))  # exact, as asked
    [off] = AuditLog(world).entries(what="disclosure.off")
    assert off.who == "root" and off.details["output"] == str(out)


def test_only_an_administrator_may_turn_control_off_for_the_report_or_quality(
    world: Path,
) -> None:
    """`joinedup report` and `joinedup quality` check the role before anything is read or
    written, as the other writers do; an administrator's exact output is recorded."""
    from joinedup.cli import app

    _users(world)
    out = world.parent / "exact.html"
    report = ["report", "-w", str(world), "--out", str(out), "--no-disclosure-control"]
    quality = ["quality", "-w", str(world), "--json", "--no-disclosure-control"]
    for args in (report, quality):
        got = CliRunner().invoke(app, [*args, "--as", "ana"])
        assert got.exit_code == 1 and "only an administrator" in got.output, got.output
    assert not out.exists()
    assert not list(AuditLog(world).entries(what="disclosure.off"))
    for args in (report, quality):
        got = CliRunner().invoke(app, [*args, "--as", "root"])
        assert got.exit_code == 0, got.output
    offs = list(AuditLog(world).entries(what="disclosure.off"))
    assert len(offs) == 2 and {e.who for e in offs} == {"root"}


def test_rare_variants_are_not_listed(world: Path) -> None:
    from joinedup.journeys._cli import OTHER_VARIANTS, app

    out = world.parent / "variants.csv"
    got = CliRunner().invoke(app, ["map", "-w", str(world), "--variants", str(out)])
    assert got.exit_code == 0, got.output
    listed = csv_column(out, "variant")
    # 40 and 34 episodes followed the two common paths; 3 and 4 the others
    assert OTHER_VARIANTS in listed and len(listed) == 3
    assert not any("correction" in v or "appeal" in v for v in listed)


def test_a_log_file_needs_a_workspace_to_turn_control_off(world: Path) -> None:
    from joinedup.journeys._cli import app

    log = world.parent / "log.csv"
    log.write_text("case,activity,time\nc1,apply,2025-01-01T09:00:00\n", encoding="utf-8")
    out = world.parent / "dfg.json"
    args = ["dfg", str(log), "--case-col", "case", "--activity-col", "activity"]
    args += ["--time-col", "time", "--out", str(out)]
    got = CliRunner().invoke(app, [*args, "--no-disclosure-control"])
    assert got.exit_code == 1 and "needs --workspace" in got.output and not out.exists()
    got = CliRunner().invoke(app, [*args, "-w", str(world), "--no-disclosure-control"])
    assert got.exit_code == 0, got.output
    [off] = AuditLog(world).entries(what="disclosure.off")
    [export] = [
        e for e in AuditLog(world).entries(what="export") if e.details["output"] == str(out)
    ]
    assert off.details["output"] == str(out) and export.details["disclosure_control"] is False


# -- value -------------------------------------------------------------------------------


def test_cost_shunting_heat_map_holds_no_small_count(world: Path) -> None:
    svg = (world / "value" / "cost-shunting.svg").read_text(encoding="utf-8")
    labels = re.findall(r"· ([\d,]+)", svg)
    assert labels  # each cell is labelled with its contacts
    assert not small_counts([x.replace(",", "") for x in labels])


def test_cost_shunting_printout_holds_no_small_count(world: Path) -> None:
    from joinedup.value._cli import app

    got = CliRunner().invoke(app, ["matrix", "-w", str(world)])
    assert got.exit_code == 0, got.output
    # benefits caused 3 contacts that tax absorbed (group g3)
    line = next(x for x in got.output.splitlines() if re.search(r"benefits\s*│\s*tax", x))
    assert not small_counts(re.findall(r"│\s*(\d+)\s*│", line))


def test_deal_sheet_holds_no_figure_from_few_contacts(world: Path) -> None:
    from joinedup.value._gainshare import gainshare

    # Fixing benefits' wrong advice saves 7 contacts: 4 at benefits, 3 at tax.
    with Workspace(world, create=False) as ws:
        deal = gainshare(ws, "org=benefits,cause=wrong_advice,reduce=1", replicates=50)
    sheet = deal.markdown.read_text(encoding="utf-8")
    assert "tax" in sheet
    assert MARKER in sheet, "savings from 3 and 4 contacts are shown as figures"
    # Only the declared investment is a figure: every saving, share and transfer, and
    # the net gain they add up to, rest on the 7 contacts.
    for org in ("benefits", "tax"):
        row = next(x for x in sheet.splitlines() if x.startswith(f"| {org} |"))
        assert re.findall(r"£[\d,]+", row) == ["£0"], row
    assert "**Net gain:** [c]" in sheet
    assert deal.html is not None and MARKER in deal.html.read_text(encoding="utf-8")


def test_what_if_printout_holds_no_small_count(world: Path) -> None:
    from joinedup.value._cli import app

    fix = "org=benefits,cause=wrong_advice,reduce=1"
    got = CliRunner().invoke(app, ["what-if", "--fix", fix, "-w", str(world)])
    assert got.exit_code == 0, got.output
    for org in ("benefits", "tax", "all"):
        line = next(x for x in got.output.splitlines() if re.match(rf"│ {org}\s", x))
        cells = [c.strip() for c in line.split("│")]
        assert cells[4] == MARKER, line  # contacts removed: 4, 3 and 7
        assert "£" not in cells[5] and "£" not in cells[6], line  # nor the saving
    assert "[c] affected contacts at benefits" in got.output

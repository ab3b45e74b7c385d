"""Nothing lost: rows in = loaded + quarantined; the same content twice changes nothing;
a new version replaces its own source only; a killed ingest leaves no trace."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from joinedup import ingest
from joinedup.ingest._load import content_hash
from joinedup.synth import SynthResult
from joinedup.workspace import Workspace

from .conftest import assert_nothing_lost, snapshot


def _copy_source(small_synth: SynthResult, org: str, dest: Path) -> Path:
    """A private copy of one organisation's export and contract; returns the contract."""
    src = small_synth.root / "exports" / org
    shutil.copytree(src, dest / "exports" / org)
    (dest / "contracts").mkdir(parents=True, exist_ok=True)
    shutil.copy(small_synth.root / "contracts" / f"{org}.yaml", dest / "contracts")
    return dest / "contracts" / f"{org}.yaml"


def _drop_rows(path: Path, keep: int) -> None:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows[: keep + 1])


def test_every_synthetic_source_keeps_the_invariant(
    small_synth: SynthResult, loaded_workspace_dir: Path
) -> None:
    with Workspace(loaded_workspace_dir, create=False) as ws:
        sources = ws.read("sources").to_pylist()
        assert {s["org"] for s in sources} == set(small_synth.events)
        for s in sources:
            assert s["rows_in"] == s["loaded"] + s["quarantined"]
            assert len(s["content_hash"]) == 64


def test_same_content_twice_changes_nothing(small_synth: SynthResult, tmp_path: Path) -> None:
    contract = _copy_source(small_synth, "benefits", tmp_path)
    with Workspace(tmp_path / "ws") as ws:
        first = ingest.load(contract, ws)
        assert_nothing_lost(first, ws)
        before = snapshot(ws, ("events", "people", "quarantine", "quality", "sources"))
        # A new modification time but the same bytes is the same content.
        for f in (tmp_path / "exports" / "benefits").iterdir():
            os.utime(f, (time.time() + 60, time.time() + 60))
        again = ingest.load(contract, ws)
        assert again.unchanged and not first.unchanged
        assert again.content_hash == first.content_hash
        assert (again.loaded, again.quarantined) == (first.loaded, first.quarantined)
        assert snapshot(ws, tuple(before)) == before
        assert ws.runs()[-1]["outputs"] == {"unchanged": True}


def test_a_changed_contract_loads_again(small_synth: SynthResult, tmp_path: Path) -> None:
    contract = _copy_source(small_synth, "benefits", tmp_path)
    with Workspace(tmp_path / "ws") as ws:
        ingest.load(contract, ws)
        text = contract.read_text(encoding="utf-8").replace("Europe/London", "UTC")
        contract.write_text(text, encoding="utf-8")
        again = ingest.load(contract, ws)
        assert not again.unchanged


def test_every_run_records_the_content_hash_whether_or_not_it_loads(
    small_synth: SynthResult, tmp_path: Path
) -> None:
    # A first load hashes the files while they are checked; a second one with the same
    # contract hashes them first. A run that fails records the hash too.
    contract = _copy_source(small_synth, "benefits", tmp_path)
    with Workspace(tmp_path / "ws") as ws:
        first = ingest.load(contract, ws)
        again = ingest.load(contract, ws)
        for f in (tmp_path / "exports" / "benefits").iterdir():
            if f.suffix == ".csv":
                f.write_text("a,b\n1,2\n", encoding="utf-8")  # no mapped column
        with pytest.raises(ingest.ContractError):
            ingest.load(contract, ws)
        runs = ws.runs()
        digest = ws.read("sources").column("content_hash")[0].as_py()
        assert first.content_hash == again.content_hash == digest
        assert [r["inputs"]["content_hash"] for r in runs[:2]] == [digest, digest]
        assert runs[2]["status"] == "failed"
        assert (
            runs[2]["inputs"]["content_hash"]
            == content_hash(sorted((tmp_path / "exports" / "benefits").iterdir()))
            != digest
        )


def test_a_new_version_replaces_its_own_source_only(
    small_synth: SynthResult, tmp_path: Path
) -> None:
    benefits = _copy_source(small_synth, "benefits", tmp_path)
    tax = _copy_source(small_synth, "tax", tmp_path)
    with Workspace(tmp_path / "ws") as ws:
        ingest.load(benefits, ws)
        ingest.load(tax, ws)
        tax_before = ws.engine.to_arrow(
            ws.engine.sql("SELECT * FROM events WHERE org = 'tax' ORDER BY event_id")
        )
        _drop_rows(tmp_path / "exports" / "benefits" / "contacts.csv", keep=25)
        res = ingest.load(benefits, ws)
        assert_nothing_lost(res, ws)
        assert res.tables[0].rows_in == res.tables[0].loaded == 25
        rows = ws.engine.to_arrow(
            ws.engine.sql("SELECT org, count(*) AS n FROM events GROUP BY org")
        ).to_pylist()
        counts = {r["org"]: r["n"] for r in rows}
        assert counts == {"benefits": 25, "tax": small_synth.events["tax"]}
        tax_after = ws.engine.to_arrow(
            ws.engine.sql("SELECT * FROM events WHERE org = 'tax' ORDER BY event_id")
        )
        assert tax_after.equals(tax_before)
        assert {s["org"] for s in ws.read("sources").to_pylist()} == {"benefits", "tax"}


def test_a_source_name_belongs_to_one_organisation(
    small_synth: SynthResult, tmp_path: Path
) -> None:
    benefits = _copy_source(small_synth, "benefits", tmp_path)
    with Workspace(tmp_path / "ws") as ws:
        ingest.load(benefits, ws)
        text = benefits.read_text(encoding="utf-8").replace("org: benefits", "org: other")
        benefits.write_text(text, encoding="utf-8")
        with pytest.raises(ingest.ContractError, match="already used by 'benefits'"):
            ingest.load(benefits, ws)


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from joinedup import ingest
    from joinedup.ingest import _load
    from joinedup.workspace import Workspace

    workspace, contract, stop_after, marker = sys.argv[1:5]
    real = _load.insert

    def insert_then_wait(engine, table, query, **options):
        n = real(engine, table, query, **options)
        if table == stop_after:
            Path(marker).write_text("inside the transaction")
            time.sleep(120)
        return n

    _load.insert = insert_then_wait
    with Workspace(workspace) as ws:
        ingest.load(contract, ws)
    """
)


@pytest.mark.parametrize("stop_after", ["people"])
def test_a_killed_ingest_leaves_the_workspace_as_it_was(
    small_synth: SynthResult, tmp_path: Path, stop_after: str
) -> None:
    contract = _copy_source(small_synth, "benefits", tmp_path)
    with Workspace(tmp_path / "ws") as ws:
        ingest.load(contract, ws)
        before = snapshot(ws)
    # A new version of the source, so that a half-done ingest would show.
    _drop_rows(tmp_path / "exports" / "benefits" / "contacts.csv", keep=10)
    _drop_rows(tmp_path / "exports" / "benefits" / "claimants.csv", keep=10)
    marker, log = tmp_path / "marker", tmp_path / "child.log"
    with log.open("wb") as err:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(tmp_path / "ws"),
                str(contract),
                stop_after,
                str(marker),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the child never reached the kill point"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    with Workspace(tmp_path / "ws", create=False) as ws:
        after = snapshot(ws)
        assert after.keys() == before.keys()
        for name in before:
            assert after[name].equals(before[name]), name
        # And the workspace still works: the same ingest now completes.
        res = ingest.load(contract, ws)
        assert res.tables[0].loaded == 10
        assert_nothing_lost(res, ws)

"""Linkage at the hub: accuracy against the truth, consistency, privacy, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from joinedup import link, privacy
from joinedup.link import LinkResult, LinkSettings
from joinedup.synth import SynthResult
from joinedup.workspace import Workspace
from tests.privacy.conftest import SECRET, assert_no_plain_values, cells, plain_values

ORGS = ["benefits", "tax", "council", "health"]
FAST = LinkSettings(u_pairs=2e5)
#: The rate at which a person_id may join two true people (the configured error rate).
MIXED_CLUSTER_RATE = 0.01


@pytest.fixture(scope="module")
def people(loaded_workspace_dir: Path) -> pa.Table:
    with Workspace(loaded_workspace_dir, create=False) as ws:
        return ws.read("people")


@pytest.fixture(scope="module")
def encoded(loaded_workspace_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("enc")
    with Workspace(loaded_workspace_dir, create=False) as ws:
        for org in ORGS:
            privacy.pseudonymise(ws, org=org, secret=SECRET, out=out / f"{org}.parquet")
    return [out / f"{org}.parquet" for org in ORGS]


@pytest.fixture(scope="module")
def plain_files(people: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("plain")
    for org in ORGS:
        pq.write_table(people.filter(pc.equal(people.column("org"), org)), out / f"{org}.parquet")
    return [out / f"{org}.parquet" for org in ORGS]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub")


@pytest.fixture(scope="module")
def private(encoded: list[Path], hub: Path) -> LinkResult:
    return link.link(encoded, out=hub / "links.parquet", workspace=hub / "ws", config=FAST)


@pytest.fixture(scope="module")
def plain(plain_files: list[Path]) -> LinkResult:
    return link.link(plain_files, plaintext=True, config=FAST)


def truth(small_synth: SynthResult) -> Path:
    return small_synth.root / "truth" / "records.parquet"


def test_privacy_mode_f1_is_high_and_close_to_plaintext(
    private: LinkResult, plain: LinkResult, small_synth: SynthResult
) -> None:
    e_priv = link.evaluate(truth(small_synth), private.links)
    e_plain = link.evaluate(truth(small_synth), plain.links)
    assert e_priv.true_pairs > 1000
    assert e_priv.f1 >= 0.97, e_priv
    assert abs(e_priv.f1 - e_plain.f1) <= 0.01, (e_priv, e_plain)


def test_em_on_a_sample_of_its_pairs_links_as_well(
    encoded: list[Path],
    private: LinkResult,
    small_synth: SynthResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EM sessions train on at most EM_PAIRS blocked pairs (a million people block 8
    million on date of birth and surname initial); a sample far below the test
    population's pairs still gives the same people."""
    from joinedup.link import _run

    monkeypatch.setattr(_run, "EM_PAIRS", 500)
    sampled = link.link(encoded, config=FAST)
    full = link.evaluate(truth(small_synth), private.links)
    e = link.evaluate(truth(small_synth), sampled.links)
    assert e.true_pairs > 1000
    assert e.f1 >= full.f1 - 0.005, (e, full)
    assert sampled.threshold != private.threshold  # the sample trained other m values


def test_pairs_a_key_blocks_are_counted_across_organisations_only() -> None:
    from joinedup.engine import DuckDBEngine
    from joinedup.link._run import _blocked_pairs

    with DuckDBEngine(None) as engine:
        for name, org, keys in (
            ("ta", "a", ["x", "x", "y", None]),
            ("tb", "b", ["x", "y", "y", None]),
            ("tc", "c", ["x", "z", None, None]),
        ):
            engine.register(name, pa.table({"org": [org] * len(keys), "k1": keys}))
        # x: a a b c, 5 pairs across organisations; y: a b b, 2; z and missing: none.
        assert _blocked_pairs(engine, ["ta", "tb", "tc"], "k1") == 7
        assert _blocked_pairs(engine, ["ta"], "k1") == 0


def test_every_record_gets_one_person_id(private: LinkResult, people: pa.Table) -> None:
    links = private.links
    assert links.schema.equals(link._run.LINKS)
    orgs, refs = links.column("org").to_pylist(), links.column("local_person_ref").to_pylist()
    keys = set(zip(orgs, refs, strict=True))
    assert len(keys) == links.num_rows == people.num_rows


def test_three_or_more_organisations_cluster_consistently(
    private: LinkResult, small_synth: SynthResult
) -> None:
    e = link.evaluate(truth(small_synth), private.links)
    assert e.mixed_clusters <= MIXED_CLUSTER_RATE * e.clusters, e
    # No person holds two records at one organisation, and people span 3+ organisations.
    per_person = private.links.group_by("person_id").aggregate(
        [("org", "count"), ("org", "count_distinct")]
    )
    assert (
        per_person.column("org_count").to_pylist()
        == per_person.column("org_count_distinct").to_pylist()
    )
    assert max(per_person.column("org_count_distinct").to_pylist()) == 4


def test_estimates_are_reported_and_plausible(private: LinkResult) -> None:
    assert 0.5 <= private.threshold < 1.0
    assert private.estimated_precision > 0.9 and private.estimated_recall > 0.9
    assert private.chart is not None and private.chart.read_text().startswith("<svg")


def test_links_are_written_to_the_file_and_workspace(private: LinkResult, hub: Path) -> None:
    assert pq.read_table(hub / "links.parquet").equals(private.links)
    with Workspace(hub / "ws", create=False) as ws:
        assert (
            ws.read("links")
            .sort_by("local_person_ref")
            .equals(private.links.sort_by("local_person_ref"))
        )
        (run,) = ws.runs()
        assert run["command"] == "link" and run["status"] == "ok"
    assert (hub / "ws" / "match_weights.svg").exists()
    assert (hub / "ws" / "linkage_model.json").exists()


def test_nothing_at_the_hub_holds_a_plain_value(
    private: LinkResult, hub: Path, people: pa.Table
) -> None:
    values = plain_values(people)
    files = [p for p in hub.rglob("*") if p.is_file()]
    assert len(files) >= 4
    assert_no_plain_values(files, values)
    with Workspace(hub / "ws", create=False) as ws:
        for table in ("links", "runs", "people", "events"):
            assert not values & cells(ws.read(table)), table


def test_evaluate_counts_pairs() -> None:
    truth_t = pa.table(
        {
            "org": ["a", "b", "c", "a", "b"],
            "local_person_ref": ["1", "1", "1", "2", "2"],
            "person_id": ["x", "x", "x", "y", "y"],
        }
    )
    # x's three records are split 2 + 1; y's two are joined to x's third by mistake.
    links = truth_t.set_column(2, "person_id", pa.array(["p", "p", "q", "r", "q"]))
    e = link.evaluate(truth_t, links)
    assert (e.true_pairs, e.predicted_pairs, e.correct_pairs) == (4, 2, 1)
    assert e.precision == 0.5 and e.recall == 0.25
    assert e.mixed_clusters == 1 and e.clusters == 3
    with pytest.raises(link.LinkageError, match="not in the truth"):
        link.evaluate(truth_t.slice(0, 3), links)


def test_different_secrets_are_detected(encoded: list[Path], loaded_workspace_dir: Path) -> None:
    with Workspace(loaded_workspace_dir, create=False) as ws:
        other = privacy.pseudonymise(ws, org="tax", secret=b"another-secret-entirely-0123456789")
    with pytest.raises(link.DifferentSecretsError, match="different secrets"):
        link.link([encoded[0], other], config=FAST)


def test_mismatched_schemas_are_reported(encoded: list[Path], tmp_path: Path) -> None:
    table = pq.read_table(encoded[1])
    header = privacy.header_of(table)
    assert header is not None
    header["fields"] = [
        {**f, "kind": "text"} if f["name"] == "surname" else f for f in header["fields"]
    ]
    bad = tmp_path / "tax.parquet"
    pq.write_table(privacy._pseudonymise.with_header(table, header), bad)
    with pytest.raises(link.SchemaMismatchError, match=r"'surname' is a surname in .* but a text"):
        link.link([encoded[0], bad], config=FAST)
    header["bloom"] = {"bits": 1024, "hashes": 10}
    pq.write_table(privacy._pseudonymise.with_header(table, header), bad)
    with pytest.raises(link.SchemaMismatchError, match="Bloom filter settings"):
        link.link([encoded[0], bad], config=FAST)


def test_a_missing_field_column_is_reported(encoded: list[Path], tmp_path: Path) -> None:
    table = pq.read_table(encoded[1])
    bad = tmp_path / "tax.parquet"
    pq.write_table(table.drop_columns(["dob__swap"]), bad)
    with pytest.raises(privacy.MissingFieldError, match=r"'dob'.*dob__swap"):
        link.link([encoded[0], bad], config=FAST)


def test_an_empty_file_is_reported(encoded: list[Path], tmp_path: Path) -> None:
    table = pq.read_table(encoded[1])
    empty = tmp_path / "tax.parquet"
    pq.write_table(table.slice(0, 0), empty)
    with pytest.raises(privacy.EmptyInputError, match="no records"):
        link.link([encoded[0], empty], config=FAST)


def test_other_bad_inputs(encoded: list[Path], plain_files: list[Path], tmp_path: Path) -> None:
    with pytest.raises(link.LinkageError, match="two or more"):
        link.link(encoded[:1])
    with pytest.raises(link.LinkageError, match="both organisation 'benefits'"):
        link.link([encoded[0], encoded[0]])
    with pytest.raises(link.LinkageError, match=r"no joinedup encoding header.*--plaintext"):
        link.link([encoded[0], plain_files[1]])
    with pytest.raises(link.LinkageError, match="without --plaintext"):
        link.link(encoded[:2], plaintext=True)
    with pytest.raises(link.LinkageError, match="no such file"):
        link.link([encoded[0], tmp_path / "nope.parquet"])


def test_workspace_copy_is_linked_in_place(
    loaded_workspace_dir: Path, tmp_path: Path, small_synth: SynthResult
) -> None:
    """The demo's path: pseudonymise each organisation of a workspace, link, write links."""
    ws_dir = tmp_path / "ws"
    shutil.copytree(loaded_workspace_dir, ws_dir)
    with Workspace(ws_dir) as ws:
        encs = [privacy.pseudonymise(ws, org=o, secret=SECRET) for o in ORGS[:3]]
        res = link.link(encs, workspace=ws, config=FAST)
        assert ws.count("links") == res.links.num_rows
        assert set(ws.read("links").column("org").to_pylist()) == set(ORGS[:3])
    assert link.evaluate(truth(small_synth), res.links).precision >= 0.97


def test_random_pairs_for_u_scale_with_the_records_within_bounds() -> None:
    from joinedup.link._run import LinkSettings, u_pairs

    auto = LinkSettings()
    assert u_pairs(auto, 1_000) == 250_000
    assert u_pairs(auto, 50_000) == 1_000_000
    assert u_pairs(auto, 5_000_000) == 2_000_000
    assert u_pairs(LinkSettings(u_pairs=123.0), 5_000_000) == 123.0


def test_blocking_keeps_the_true_pairs_without_the_address_and_stays_fine(
    encoded: list[Path], small_synth: SynthResult
) -> None:
    """The combined blocking keys between them let through nearly every true pair even
    with the address rule taken away (real addresses disagree far more than synthetic
    ones), and no rule blocks on one common value alone (a date of birth, a postcode),
    whose blocks grow with the population (bench/linkage.py counts them at a million)."""
    import duckdb

    from joinedup.link import _inputs
    from joinedup.link._model import Field, blocking_rules

    parties = _inputs.load(encoded, plaintext=False)
    tables = _inputs.harmonise(parties)
    fields = [Field(n, k) for n, k in _inputs.shared_fields(parties).items()]
    rules = [r for r in blocking_rules(fields, set(tables[0].column_names)) if "addr" not in r]
    single = ("l.dob__tok = r.dob__tok", "l.postcode__tok = r.postcode__tok")
    assert not any(r in rules for r in single)
    con = duckdb.connect()
    for p, t in zip(parties, tables, strict=True):
        con.register(f"t_{p.org}", t)  # each table has its org column
    con.execute(
        "CREATE TABLE e AS " + " UNION ALL ".join(f"SELECT * FROM t_{p.org}" for p in parties)
    )
    con.register("truth", pq.read_table(truth(small_synth)))
    con.execute(
        "CREATE TABLE tp AS SELECT a.org AS o1, a.local_person_ref AS r1, b.org AS o2, "
        "b.local_person_ref AS r2 FROM truth a JOIN truth b "
        "ON a.person_id = b.person_id AND a.org < b.org"
    )
    caught = " OR ".join(f"({r})" for r in rules)
    found, everything = con.execute(f"""
        SELECT count(*) FILTER (WHERE {caught}), count(*) FROM tp
        JOIN e l ON l.org = tp.o1 AND l.local_person_ref = tp.r1
        JOIN e r ON r.org = tp.o2 AND r.local_person_ref = tp.r2
    """).fetchone()
    assert everything > 1000
    assert found / everything >= 0.99, (found, everything)


def _blocked(rules: list[str], left: dict[str, object], right: dict[str, object]) -> bool:
    """Whether any of ``rules`` lets the pair of two records (column: value) through."""
    import duckdb

    def record(values: dict[str, object]) -> str:
        cells = (f"{'NULL::VARCHAR' if v is None else repr(v)} AS {c}" for c, v in values.items())
        return ", ".join(cells)

    row = (
        duckdb.connect()
        .execute(
            f"SELECT {' OR '.join(f'coalesce({r}, false)' for r in rules)} "
            f"FROM (SELECT {record(left)}) l, (SELECT {record(right)}) r"
        )
        .fetchone()
    )
    assert row is not None
    return bool(row[0])


def test_forename_and_surname_block_a_pair_only_where_a_date_of_birth_is_missing() -> None:
    """Full names are shared by ever more different people as the population grows; a
    pair holding both dates of birth is left to the keys that combine names and date."""
    from joinedup.link._model import Field, blocking_rules
    from joinedup.privacy._encode import Kind

    names = [Field("forename", Kind.FORENAME), Field("surname", Kind.SURNAME)]
    rules = blocking_rules([*names, Field("dob", Kind.DOB)], {"bk__fnsn", "dob__tok", "dob__swap"})

    def pair(dob_l: str | None, dob_r: str | None) -> bool:
        same = {"bk__fnsn": "ann smith", "dob__swap": None}
        return _blocked(rules, {**same, "dob__tok": dob_l}, {**same, "dob__tok": dob_r})

    assert not pair("1970-01-02", "1981-03-04")
    assert pair(None, "1981-03-04")
    assert pair("1970-01-02", None)
    assert pair(None, None)
    # Files without dates of birth: the names block every pair.
    assert _blocked(blocking_rules(names, {"bk__fnsn"}), {"bk__fnsn": "a"}, {"bk__fnsn": "a"})


@pytest.mark.parametrize("keyed", [True, False])
def test_a_date_with_a_surname_initial_blocks_only_with_the_whole_surname(keyed: bool) -> None:
    """A date of birth (or postcode) with an initial has values that do not grow with the
    population; the whole name agreeing keeps its blocks to about one person."""
    from joinedup.link._model import Field, blocking_rules
    from joinedup.privacy._encode import Kind

    name = ["surname__bf0", "surname__bf1"] if keyed else ["surname__txt"]
    fields = [Field("surname", Kind.SURNAME), Field("dob", Kind.DOB)]
    rules = blocking_rules(fields, {"bk__dob_sn1", "bk__dsw_sn1", *name})
    key = {"bk__dob_sn1": "1970-01-02|s", "bk__dsw_sn1": None}
    smith, smyth = dict.fromkeys(name, "smith"), {**dict.fromkeys(name, "smith"), name[-1]: "smyth"}
    assert _blocked(rules, {**key, **smith}, {**key, **smith})
    assert not _blocked(rules, {**key, **smith}, {**key, **smyth})
    # Against the date with day and month exchanged, likewise.
    swapped = {"bk__dob_sn1": "1970-02-01|s", "bk__dsw_sn1": "1970-01-02|s"}
    assert _blocked(rules, {**key, **smith}, {**swapped, **smith})
    assert not _blocked(rules, {**key, **smith}, {**swapped, **smyth})


@pytest.mark.parametrize("keyed", [True, False])
@pytest.mark.parametrize("key", ["bk__dob_fn1", "bk__pc_fn1"])
def test_a_date_or_postcode_with_a_forename_initial_blocks_only_alike_forenames(
    keyed: bool, key: str
) -> None:
    """An initial with a date of birth or postcode blocks a pair whose forenames are
    alike (a typo) or nicknames of one another, not any two forenames of that initial."""
    from joinedup.link._model import Field, blocking_rules
    from joinedup.privacy._encode import Kind

    fields = [Field("forename", Kind.FORENAME), Field("dob", Kind.DOB)]
    if keyed:
        # Bloom filters of two words: 4 bits set, 3 of them in common, none in common.
        name = {"forename__bf0", "forename__bf1", "forename__pop"}
        john = {"forename__bf0": 0b1111, "forename__bf1": 0, "forename__pop": 4}
        jon = {"forename__bf0": 0b0111, "forename__bf1": 0, "forename__pop": 3}
        james = {"forename__bf0": 0, "forename__bf1": 0b110000, "forename__pop": 2}
    else:
        name = {"forename__txt"}
        john, jon, james = ({"forename__txt": t} for t in ("john", "jon", "james"))
    rules = blocking_rules(fields, {key, "forename__alias", "dob__tok", *name})
    same: dict[str, object] = {key: "1970-01-02|j", "dob__tok": None, "dob__swap": None}

    def alias(*names: str) -> dict[str, object]:
        return {**same, "forename__alias": list(names)}

    assert _blocked(rules, {**alias("john"), **john}, {**alias("john"), **john})
    assert _blocked(rules, {**alias("john"), **john}, {**alias("jon"), **jon})
    assert not _blocked(rules, {**alias("john"), **john}, {**alias("james"), **james})
    # A nickname: Jack for John, whatever the letters.
    assert _blocked(rules, {**alias("john"), **john}, {**alias("jack", "john"), **james})


def test_encoded_files_stay_on_disk_until_the_engine_reads_them(encoded: list[Path]) -> None:
    from joinedup.link import _inputs

    parties = _inputs.load(encoded, plaintext=False)
    assert all(p.table is None and p.path is not None and p.rows > 0 for p in parties)
    # A field the council does not hold is still one of the columns it is linked with.
    assert "nino__tok" in _inputs.column_types(parties)
    assert "nino__tok" not in next(p for p in parties if p.org == "council").schema.names


def test_tables_in_memory_link_as_their_files_do(encoded: list[Path], private: LinkResult) -> None:
    tables = [pq.read_table(p) for p in encoded]
    again = link.link(tables, config=FAST)
    # The same people exactly; probabilities to the last few bits, since DuckDB's parallel
    # sums over the pairs need not add in the same order twice.
    keys = ["org", "local_person_ref", "person_id"]
    assert again.links.select(keys).equals(private.links.select(keys))
    got, want = again.links["match_probability"], private.links["match_probability"]
    assert got.is_null().equals(want.is_null())
    np.testing.assert_allclose(
        got.to_numpy(zero_copy_only=False), want.to_numpy(zero_copy_only=False), rtol=1e-9
    )
    assert again.pairs_scored == private.pairs_scored


def test_duckdb_is_bounded_while_linking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from joinedup.link import _run

    monkeypatch.delenv("JOINEDUP_DUCKDB_MEMORY_LIMIT", raising=False)
    quarter = _run._machine_memory() * _run.MEMORY_SHARE
    assert _run.memory_limit(LinkSettings()) == f"{int(quarter) // 2**20}MB"
    assert _run.memory_limit(LinkSettings(memory_limit="3GB")) == "3GB"
    monkeypatch.setenv("JOINEDUP_DUCKDB_MEMORY_LIMIT", "5GB")
    assert _run.memory_limit(LinkSettings()) == "5GB"
    with _run._engine("duckdb", LinkSettings(memory_limit="1GB"), tmp_path) as engine:
        got = engine.to_arrow(
            engine.sql(
                "SELECT current_setting('memory_limit') AS m, "
                "current_setting('temp_directory') AS t"
            )
        ).to_pylist()[0]
    assert got["m"] == "953.6 MiB"  # 1 GB (10**9 bytes) as DuckDB shows it
    assert got["t"] == str(tmp_path)

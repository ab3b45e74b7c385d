"""Linking organisations' encodings: train without labels, score, cluster, write links."""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from splink import Linker
from splink.internals.blocking_rule_creator import BlockingRuleCreator

from joinedup.engine import DuckDBEngine, Engine, connect
from joinedup.link import _cluster, _inputs
from joinedup.link._errors import LinkageError
from joinedup.link._model import Field, mentions, settings
from joinedup.model import LINKS
from joinedup.privacy import Schema
from joinedup.privacy._encode import Kind
from joinedup.workspace import Workspace

CHART_FILE = "match_weights.svg"
MODEL_FILE = "linkage_model.json"


@dataclass(frozen=True)
class LinkSettings:
    """How the model is trained and its output decided.

    ``threshold`` is the match probability at which a pair links; None chooses the one
    that maximises the F1 the model expects from its own probabilities.
    ``one_record_per_person``: each organisation holds each person once, so a person
    has at most one record per organisation (Splink's single-best-links clustering);
    otherwise clusters are the connected components of links above the threshold.
    """

    threshold: float | None = None
    one_record_per_person: bool = True
    #: Random pairs drawn to estimate how often non-matches agree; None scales it with
    #: the records: 20 per record, from 250,000 up to 2,000,000 (sampling costs about
    #: 10 s per million pairs here, and 250,000 already recovers every true link in the
    #: 5,000-person demo; see docs/methods/linkage.md).
    u_pairs: float | None = None
    seed: int = 42
    threads: int | None = None
    floor: float = 0.01  # pairs below this are not kept after scoring
    #: DuckDB's memory while linking (e.g. "6GB"); None: JOINEDUP_DUCKDB_MEMORY_LIMIT if
    #: set, else a quarter of the machine's memory (see MEMORY_SHARE).
    memory_limit: str | None = None


@dataclass
class LinkResult:
    """What a linkage run produced."""

    links: pa.Table
    threshold: float
    estimated_precision: float
    estimated_recall: float
    pairs_scored: int
    fields: list[str]
    seconds: float
    chart: Path | None = None
    model: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


def link(
    inputs: Sequence[_inputs.Input],
    *,
    out: Path | str | None = None,
    workspace: Workspace | Path | str | None = None,
    plaintext: bool = False,
    schema: Schema | None = None,
    config: LinkSettings | None = None,
    on_step: Callable[[str], None] | None = None,
) -> LinkResult:
    """Link two or more organisations' encodings into one ``person_id`` per person.

    ``inputs`` are encoded files (from ``pseudonymise``) or their results; with
    ``plaintext=True``, plain people files linked on the same code path (normalised the
    same way, compared as text). Writes ``links`` to ``out`` (Parquet) and/or the
    workspace, with the match-weight chart and the trained model beside it.
    """
    cfg = config or LinkSettings()
    step = on_step or (lambda _: None)
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = time.perf_counter() - started - sum(timings.values())

    step("reading inputs")
    parties = _inputs.load(inputs, plaintext=plaintext, schema=schema)
    fields = [Field(n, k) for n, k in _inputs.shared_fields(parties).items()]
    types = _inputs.column_types(parties)
    keyed = not plaintext
    columns = set(types)
    model = settings(fields, columns, keyed, _inputs.words(parties[0].header))

    # Splink runs on an engine of the workspace's kind (DuckDB without one), with storage
    # of its own: in memory for DuckDB, a temporary folder for Spark, so Splink's tables
    # stay out of the workspace.
    kind = workspace.engine.name if isinstance(workspace, Workspace) else "duckdb"
    spill = tempfile.TemporaryDirectory(prefix="joinedup-link-")
    engine = _engine(kind, cfg, Path(spill.name))
    try:
        db_api = engine.splink_api()
        staged = [_stage(engine, p, types, i) for i, p in enumerate(parties)]
        dfs = [
            db_api.register(t, dataset_display_name=p.org)
            for t, p in zip(staged, parties, strict=True)
        ]
        lap("read")
        # The model's SQL is written in DuckDB's dialect; Splink runs it as it is.
        bind = engine.condition
        linker = Linker(dfs, _bound(model, bind), log_level=logging.ERROR)
        step("training")
        records = sum(p.rows for p in parties)
        pairs = functools.partial(_blocked_pairs, engine, staged)
        _train(linker, fields, columns, keyed, cfg, records, bind, pairs)
        lap("train")
        step("scoring pairs")
        # The blocked pairs and the scores are sets (what follows sorts or groups them):
        # writing them in any order spares DuckDB holding rows back to keep one.
        with engine.unordered():
            pred = linker.inference.predict(threshold_match_probability=cfg.floor)
        probs = (
            engine.to_arrow(engine.sql(f"SELECT match_probability FROM {pred.physical_name}"))
            .column(0)
            .to_numpy(zero_copy_only=False)
        )
        threshold, precision, recall = _choose_threshold(probs, cfg.threshold)
        lap("score")
        step("clustering")
        if cfg.one_record_per_person:
            orgs = [p.org for p in parties]
            links = _cluster.cluster(engine, staged, pred.physical_name, threshold, orgs)
        else:
            clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
                pred, threshold_match_probability=threshold
            )
            links = engine.to_arrow(
                engine.sql(_links_sql(clusters.physical_name, pred.physical_name, threshold))
            )
        links = links.cast(LINKS)
        lap("cluster")
        chart_spec = linker.visualisations.match_weights_chart().chart_dict
        model_json = linker.misc.save_model_to_json()
    finally:
        engine.close()
        spill.cleanup()

    result = LinkResult(
        links=links,
        threshold=threshold,
        estimated_precision=precision,
        estimated_recall=recall,
        pairs_scored=len(probs),
        fields=[f.name for f in fields],
        seconds=0.0,
        timings=timings,
    )
    step("writing links")
    if out is not None:
        out_path = Path(out)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(links, out_path)
        result.chart = _write_chart(
            chart_spec, out_path.with_name(out_path.stem + "." + CHART_FILE)
        )
    if workspace is not None:
        _to_workspace(workspace, parties, result, chart_spec, model_json, plaintext)
    result.seconds = time.perf_counter() - started
    return result


#: The share of the machine's memory DuckDB may hold while linking, unless
#: ``LinkSettings.memory_limit`` or ``JOINEDUP_DUCKDB_MEMORY_LIMIT`` says otherwise; past
#: it, tables and joins spill to a temporary folder. Without a limit DuckDB takes up to
#: 80%: 15 GB for a million people, which a shared machine does not have.
MEMORY_SHARE = 0.25


def memory_limit(cfg: LinkSettings) -> str:
    """The DuckDB memory limit for a linkage run."""
    if cfg.memory_limit:
        return cfg.memory_limit
    return os.environ.get("JOINEDUP_DUCKDB_MEMORY_LIMIT") or (
        f"{int(_machine_memory() * MEMORY_SHARE) // 2**20}MB"
    )


def _machine_memory() -> int:
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _engine(kind: str, cfg: LinkSettings, spill: Path) -> Engine:
    if kind == "duckdb":
        # Bounded, spilling to a folder of this run's own (removed afterwards): in memory
        # DuckDB would otherwise spill into the working directory.
        return DuckDBEngine(
            None, threads=cfg.threads, memory_limit=memory_limit(cfg), temp_directory=spill
        )
    return connect(kind, threads=cfg.threads)


#: SQL types of the encoding columns, for a column one organisation does not have.
_SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.list_(pa.string()): "VARCHAR[]",
}


def _stage(engine: Engine, party: _inputs.Party, types: dict[str, pa.DataType], i: int) -> str:
    """One party's encodings as a table of the engine, with every party's columns in the
    same order; an encoded file goes straight from disk to the engine. Returns its name."""
    have = set(party.schema.names)
    missing = {c: t for c, t in types.items() if c not in have and t not in _SQL_TYPES}
    if missing:
        raise LinkageError(
            f"{party.name}: cannot fill in column(s) {', '.join(missing)} of another "
            "organisation's file (unexpected types)"
        )
    select = ", ".join(
        f'"{c}"' if c in have else f'CAST(NULL AS {_SQL_TYPES[t]}) AS "{c}"'
        for c, t in types.items()
    )
    name = f"joinedup_link_input_{i}"
    if party.path is not None:
        path = str(party.path).replace("'", "''")
        engine.stage(name, f"SELECT {select} FROM read_parquet('{path}')")
    else:
        assert party.table is not None
        raw = f"joinedup_link_arrow_{i}"
        engine.register(raw, party.table.replace_schema_metadata(None))
        try:
            engine.stage(name, f'SELECT {select} FROM "{raw}"')
        finally:
            engine.drop_temp(raw)
    return name


def _train(
    linker: Linker,
    fields: list[Field],
    columns: set[str],
    keyed: bool,
    cfg: LinkSettings,
    records: int,
    bind: Callable[[str], str],
    pairs: Callable[[str], int],
) -> None:
    """Train the model; ``pairs(key)`` counts the pairs a key column blocks."""
    names = {f.name: f for f in fields}
    exact_ids = [f for f in fields if f.kind == Kind.EXACT_ID]
    deterministic: list[str | BlockingRuleCreator] = [
        f"l.{f.name}__tok = r.{f.name}__tok" for f in exact_ids
    ]
    if "dob" in names and "bk__fnsn" in columns:
        deterministic.append("l.dob__tok = r.dob__tok AND l.bk__fnsn = r.bk__fnsn")
    if deterministic:
        # Exact agreement on an identifier, or on date of birth and names, finds most
        # true pairs and almost no false ones; 0.7 is a cautious guess at its recall.
        linker.training.estimate_probability_two_random_records_match(
            [bind(r) if isinstance(r, str) else r for r in deterministic], recall=0.7
        )
    # One pass over the sample: early stopping probes in many small chunks, which costs
    # more than it saves when rare levels never reach their minimum count.
    linker.training.estimate_u_using_random_sampling(
        max_pairs=u_pairs(cfg, records), seed=cfg.seed, num_chunks=1
    )
    sessions = _sessions(names, columns, keyed)
    if not sessions:
        raise LinkageError(
            "cannot train the model: the files share neither date of birth, names nor "
            "postcode to block training pairs on"
        )
    for key, rule in sessions:
        # Only past EM_PAIRS: Splink's own estimate of the pairs probes a sample of the
        # records, which changes the last bits of the m values even when it then keeps
        # every pair (the same files linked twice gave links unequal in those bits).
        big = pairs(key) > EM_PAIRS
        linker.training.estimate_parameters_using_expectation_maximisation(
            bind(rule), max_pairs=EM_PAIRS if big else None
        )


#: The most blocked pairs an EM session trains on; past it Splink keeps the pairs of a
#: hash-chosen share of the records on each side, so matches keep their share of the
#: pairs. The date-of-birth session's pairs grow with the square of the population (8.1
#: million at a million people, 297,000 at 100,000); sampled to 2 million, training at a
#: million people took 27 s instead of 46 (linking, 34 CPU s fewer), the same person_id for
#: every record (match probabilities within 0.004) and the same F1 against the truth.
EM_PAIRS = 2_000_000

#: EM sessions, each blocked on a combined key and naming the fields that key is made of
#: (their parameters stay fixed in that session): between them every field is estimated
#: at least once, from pairs that stay few as the population grows.
_SESSIONS = (
    ("bk__dob_sn1", ("dob", "surname")),
    ("bk__fn_sn_out", ("forename", "surname", "postcode")),
    ("bk__pc_yob", ("postcode", "dob")),
)


def _sessions(names: dict[str, Field], columns: set[str], keyed: bool) -> list[tuple[str, str]]:
    """The EM sessions for the fields and keys at hand: key column, blocking rule."""
    sessions = [
        (key, " AND ".join([f"l.{key} = r.{key}", *(mentions(names[f], keyed) for f in fs)]))
        for key, fs in _SESSIONS
        if key in columns and all(f in names for f in fs)
    ]
    if len(sessions) < 2:
        # Files without the combined keys: block on date of birth and postcode alone.
        sessions += [
            (f"{f}__tok", f"l.{f}__tok = r.{f}__tok") for f in ("dob", "postcode") if f in names
        ]
    return sessions


def _blocked_pairs(engine: Engine, tables: list[str], key: str) -> int:
    """How many pairs of records of different organisations agree on ``key`` (a column
    of the staged ``tables``), counted per value without joining."""
    rows = " UNION ALL ".join(f'SELECT org, "{key}" AS k FROM {t}' for t in tables)
    per_org = f"SELECT k, org, count(*) AS c FROM ({rows}) AS r WHERE k IS NOT NULL GROUP BY k, org"
    per_key = f"SELECT k, sum(c) AS n, sum(c * c) AS sq FROM ({per_org}) AS o GROUP BY k"
    pairs = "CAST(coalesce(sum((n * n - sq) / 2), 0) AS BIGINT)"
    query = f"SELECT {pairs} AS pairs FROM ({per_key}) AS v"
    return int(engine.to_arrow(engine.sql(query)).column(0)[0].as_py())


def _bound(model: dict[str, Any], bind: Callable[[str], str]) -> dict[str, Any]:
    """The Splink settings with every SQL condition in the engine's own dialect."""
    out = dict(model)
    out["comparisons"] = [
        {
            **c,
            "comparison_levels": [
                {**lv, "sql_condition": bind(lv["sql_condition"])}
                if lv["sql_condition"] != "ELSE"
                else lv
                for lv in c["comparison_levels"]
            ],
        }
        for c in model["comparisons"]
    ]
    out["blocking_rules_to_generate_predictions"] = [
        {**b, "blocking_rule": bind(b["blocking_rule"])}
        for b in model["blocking_rules_to_generate_predictions"]
    ]
    return out


def u_pairs(cfg: LinkSettings, records: int) -> float:
    """How many random pairs train the u probabilities for ``records`` records."""
    if cfg.u_pairs is not None:
        return cfg.u_pairs
    return float(min(2_000_000, max(250_000, 20 * records)))


def _choose_threshold(p: np.ndarray, fixed: float | None) -> tuple[float, float, float]:
    """The threshold, and the precision and recall the model expects at it.

    Each scored pair is a match with its predicted probability, so the expected true
    positives above a threshold are the sum of those probabilities, the expected false
    positives the sum of their complements, and the expected misses the probabilities
    left below it. Pairs that blocking never scored are not counted.
    """
    if len(p) == 0:
        return (fixed if fixed is not None else 0.5), 0.0, 0.0
    order = np.sort(p)[::-1]
    tp = np.cumsum(order)
    fp = np.cumsum(1.0 - order)
    fn = tp[-1] - tp
    if fixed is None:
        f1 = 2 * tp / (2 * tp + fp + fn)
        i = int(np.argmax(f1))
        threshold = float(order[i])
    else:
        threshold = fixed
        i = int(np.searchsorted(-order, -threshold, side="right")) - 1
        if i < 0:
            return threshold, 1.0, 0.0
    precision = float(tp[i] / (tp[i] + fp[i]))
    recall = float(tp[i] / tp[-1])
    return threshold, precision, recall


def _links_sql(clusters: str, pred: str, threshold: float) -> str:
    # A record's probability is that of its strongest link inside its cluster; a
    # record linked to nobody has none. person_id is a digest of Splink's cluster id,
    # which is built from local references and means nothing outside this run.
    return f"""
    WITH c AS (SELECT cluster_id, org, local_person_ref FROM {clusters}),
    edges AS (
        SELECT p.org_l, p.local_person_ref_l, p.org_r, p.local_person_ref_r,
               p.match_probability
        FROM {pred} p
        JOIN c cl ON cl.org = p.org_l AND cl.local_person_ref = p.local_person_ref_l
        JOIN c cr ON cr.org = p.org_r AND cr.local_person_ref = p.local_person_ref_r
        WHERE cl.cluster_id = cr.cluster_id AND p.match_probability >= {threshold!r}
    ),
    ends AS (
        SELECT org_l AS org, local_person_ref_l AS ref, match_probability FROM edges
        UNION ALL
        SELECT org_r, local_person_ref_r, match_probability FROM edges
    )
    SELECT c.org, c.local_person_ref,
           {_cluster.person_id_sql("CAST(c.cluster_id AS VARCHAR)")} AS person_id,
           max(e.match_probability) AS match_probability
    FROM c LEFT JOIN ends e ON e.org = c.org AND e.ref = c.local_person_ref
    GROUP BY c.org, c.local_person_ref, c.cluster_id
    ORDER BY c.org, c.local_person_ref
    """


def _write_chart(spec: dict[str, Any], path: Path) -> Path:
    import vl_convert

    path.write_text(vl_convert.vegalite_to_svg(spec), encoding="utf-8")
    return path


def _to_workspace(
    workspace: Workspace | Path | str,
    parties: list[_inputs.Party],
    result: LinkResult,
    chart_spec: dict[str, Any],
    model_json: dict[str, Any],
    plaintext: bool,
) -> None:
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    try:
        inputs = {"files": [p.name for p in parties], "orgs": [p.org for p in parties]}
        with ws.run("link", inputs=inputs, settings={"plaintext": plaintext}) as run:
            ws.engine.write("links", result.links, mode="replace")
            result.chart = _write_chart(chart_spec, ws.path / CHART_FILE)
            result.model = ws.path / MODEL_FILE
            result.model.write_text(json.dumps(model_json, indent=1), encoding="utf-8")
            run.outputs.update(
                links=result.links.num_rows,
                threshold=result.threshold,
                estimated_precision=result.estimated_precision,
                estimated_recall=result.estimated_recall,
                pairs_scored=result.pairs_scored,
            )
    finally:
        if ws is not workspace:
            ws.close()

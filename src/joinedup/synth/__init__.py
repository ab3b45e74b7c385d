"""A seeded synthetic population, its journeys across four organisations, and the truth.

``generate`` writes, under one folder:

- ``exports/``: each organisation's export in its own shape (CSV, Parquet, Excel, JSON
  Lines), with the identity disagreements real exports have;
- ``contracts/``: a data contract per export, mapping it onto the standard tables;
- ``truth/``: the ground truth, kept apart from the exports — the true person behind
  every local record, the true demand type and category of every contact, and the true
  causing organisation of every failure.

People are made in batches (``chunk_size``) and streamed to disk, so memory does not grow
with the population. The same settings and seed give byte-identical files.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import random
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from joinedup.ingest._contract import Contract, FieldSpec, TableSpec
from joinedup.synth._config import ORGS, IdentityErrorRates, SynthConfig
from joinedup.synth._exports import CHANNEL_CODES, DIRECTION_CODES, FILES, open_exports
from joinedup.synth._identity import Identity, make_identities
from joinedup.synth._journeys import (
    Groups,
    JourneySimulator,
    draw_groups,
    multiplier,
)
from joinedup.synth._records import People, org_records
from joinedup.synth._text import numbered

__all__ = ["IdentityErrorRates", "SynthConfig", "SynthResult", "generate"]

#: Which identifier each organisation holds.
_HOLDS = {"benefits": "nino", "tax": "nino", "council": "none", "health": "nhs"}

_TRUTH_PEOPLE = pa.schema(
    [
        ("person_id", pa.string()),
        ("forename", pa.string()),
        ("surname", pa.string()),
        ("maiden_name", pa.string()),
        ("sex", pa.string()),
        ("date_of_birth", pa.date32()),
        ("address", pa.string()),
        ("postcode", pa.string()),
        ("old_postcode", pa.string()),
        ("nino", pa.string()),
        ("nhs_number", pa.string()),
        ("origin", pa.string()),
        ("age_band", pa.string()),
        ("disability", pa.bool_()),
        ("low_digital", pa.bool_()),
    ]
)
_TRUTH_RECORDS = pa.schema(
    [
        ("org", pa.string()),
        ("local_person_ref", pa.string()),
        ("person_id", pa.string()),
        ("forename_flag", pa.string()),
        ("surname_flag", pa.string()),
        ("dob_flag", pa.string()),
        ("postcode_flag", pa.string()),
        ("id_flag", pa.string()),
    ]
)
_TRUTH_EVENTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("org", pa.string()),
        ("local_event_id", pa.string()),
        ("person_id", pa.string()),
        ("need_id", pa.string()),
        ("life_event", pa.string()),
        ("service", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("direction", pa.string()),
        ("channel", pa.string()),
        ("demand_type", pa.string()),
        ("category", pa.string()),
        ("caused_by_org", pa.string()),
        ("received_by_org", pa.string()),
        ("failure", pa.string()),
    ]
)


#: The truth's columns of (nearly) one value a row.
_UNIQUE = frozenset({"event_id", "local_event_id", "person_id", "need_id", "occurred_at"})


@dataclass
class SynthResult:
    """What ``generate`` wrote, and what it counted while writing it."""

    root: Path
    people: int
    events: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    contacts: int = 0
    failure_contacts: int = 0

    @property
    def contracts(self) -> list[Path]:
        """The data contract of each export."""
        return [self.root / "contracts" / f"{org}.yaml" for org in ORGS]

    @property
    def failure_share(self) -> float:
        """Share of citizens' contacts that are failure demand."""
        return self.failure_contacts / self.contacts if self.contacts else 0.0


class _LocalIds:
    """Each organisation's own reference formats, from counters, the same every run."""

    def __init__(self) -> None:
        self.person = dict.fromkeys(ORGS, 0)
        self.event = dict.fromkeys(ORGS, 0)
        self.case = dict.fromkeys(ORGS, 0)

    @staticmethod
    def _next(counters: dict[str, int], org: str, n: int) -> np.ndarray:
        start = counters[org]
        counters[org] = start + n
        return np.arange(start + 1, start + n + 1, dtype=np.int64)

    def person_refs(self, org: str, n: int) -> pa.Array:
        """The next ``n`` person references."""
        k = self._next(self.person, org, n)
        # Multiplying by a number coprime with 10^k permutes the counter, so references
        # look scattered, as real ones do, yet stay unique.
        if org == "benefits":
            return numbered("CLM", (k * 7919 + 104729) % 10**7, 7)
        if org == "tax":
            return numbered("", (k * 7919 + 1_000_003) % 10**10, 10)
        if org == "council":
            return numbered("R", (k * 7919 + 3571) % 10**7, 7)
        return numbered("PAT", (k * 7919 + 15485863) % 10**8, 8)

    def event_refs(self, org: str, n: int) -> pa.Array:
        """The next ``n`` event references."""
        k = self._next(self.event, org, n)
        prefix, width = {"benefits": ("CT", 9), "tax": ("INT-", 10), "health": ("ENC-", 9)}.get(
            org, ("", 0)
        )
        return numbered(prefix, k + 500_000 if org == "council" else k, width)

    def case_refs(self, org: str, slots: pa.ChunkedArray | pa.Array, n: int) -> pa.Array:
        """Case references for a batch's ``n`` new cases; ``slots`` numbers each event's
        case from 0 in order of first appearance."""
        k = self._next(self.case, org, n)
        prefix, width = {
            "benefits": ("BEN/", 8),
            "tax": ("TX", 9),
            "council": ("CSE-", 8),
            "health": ("EP", 8),
        }[org]
        return numbered(prefix, k, width).take(slots)


@cache
def _calibrate(cfg_json: str) -> tuple[float, float]:
    """The base failure probability that yields the target failure share, and the mean
    group multiplier, measured on a small fixed calibration population."""
    cfg = SynthConfig.model_validate_json(cfg_json)
    g = np.random.default_rng(7_000_001)
    # Probe with every need failing half the time, whatever the group.
    probe = JourneySimulator(
        cfg.model_copy(update={"failure_multipliers": {}}), fail_p=0.5, mean_multiplier=1.0
    )
    who = make_identities(g, [f"CAL{i}" for i in range(3000)], cfg.start)
    people = list(zip(who, draw_groups(g, who, cfg), strict=True))
    mults = [multiplier(g, cfg) for _, g in people]
    events = probe.simulate(7_000_001, people)
    failure = int(events.failure_demand.sum())
    value = int(events.inbound.sum()) - failure
    v = value / max(probe.needs, 1)
    f = failure / max(probe.failure_incidents, 1)
    s = cfg.failure_share
    base = s * v / (f * (1 - s))
    return min(base, 1.0), sum(mults) / len(mults)


def generate(
    out: Path | str,
    config: SynthConfig | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> SynthResult:
    """Write a synthetic population's exports, contracts and ground truth under ``out``.

    ``progress`` is called with the number of people done after each batch. Batches are
    simulated by ``workers`` processes (default: one per CPU) while this process writes
    them in order; the files do not depend on the number of workers.
    """
    cfg = config or SynthConfig()
    root = Path(out)
    exports_dir, truth_dir = root / "exports", root / "truth"
    for d in (exports_dir, truth_dir, root / "contracts"):
        d.mkdir(parents=True, exist_ok=True)
    fail_p, mean_mult = _calibrate(cfg.model_dump_json())
    ids = _LocalIds()
    writers = open_exports(exports_dir)
    t_people = pq.ParquetWriter(truth_dir / "people.parquet", _TRUTH_PEOPLE)
    t_records = pq.ParquetWriter(truth_dir / "records.parquet", _TRUTH_RECORDS)
    # Dictionaries only for the columns of a few values: the writer would otherwise try
    # one on every column, references and identifiers included (0.6 of 1.4 s at 100k).
    t_events = pq.ParquetWriter(
        truth_dir / "events.parquet",
        _TRUTH_EVENTS,
        use_dictionary=[c for c in _TRUTH_EVENTS.names if c not in _UNIQUE],
        write_statistics=False,
    )
    result = SynthResult(root=root, people=cfg.people)
    result.events = dict.fromkeys(ORGS, 0)
    result.records = dict.fromkeys(ORGS, 0)
    batches = [
        (chunk_no, first, min(first + cfg.chunk_size, cfg.people))
        for chunk_no, first in enumerate(range(0, cfg.people, cfg.chunk_size))
    ]
    try:
        for done, batch in _simulated(cfg, fail_p, mean_mult, batches, workers):
            _write_batch(cfg, ids, batch, writers, (t_people, t_records, t_events), result)
            if progress:
                progress(done)
    finally:
        for w in writers.values():
            w.close()
        for t in (t_people, t_records, t_events):
            t.close()
    for org in ORGS:
        (root / "contracts" / f"{org}.yaml").write_text(
            contract_for(org, "../exports").to_yaml(), encoding="utf-8"
        )
    return result


@dataclass
class _Batch:
    """One batch of people, simulated, as Arrow tables (cheap to pass between processes):
    the true people, and per organisation its person records in order of first contact
    and its events in time order, which point at their record and case by number."""

    last: int
    people: pa.Table
    records: dict[str, pa.Table]
    events: dict[str, pa.Table]
    cases: dict[str, int]
    contacts: int
    failure_contacts: int


_WORKER: dict[str, object] = {}


def _init_worker(cfg: SynthConfig, fail_p: float, mean_mult: float, pool: bool = False) -> None:
    if pool:
        # A batch makes some hundred thousand tuples and strings and no reference
        # cycles; the cyclic collector would scan them all again and again (about 5%
        # of a worker's time). Only in the pool's own processes, never the caller's.
        gc.freeze()
        gc.disable()
        # The writer (the caller) is the critical path: at a million people it needs
        # about half of all the CPU time, and the workers only ever run two batches
        # ahead. Sharing two cores three ways slowed it by a third; behind it in the
        # queue, the workers use what it leaves.
        os.nice(5)
    _WORKER["cfg"] = cfg
    _WORKER["sim"] = JourneySimulator(cfg, fail_p=fail_p, mean_multiplier=mean_mult)


def _simulate(chunk_no: int, first: int, last: int) -> _Batch:
    """Simulate one batch from its own seed, so the result is the same in any process."""
    cfg = _WORKER["cfg"]
    sim = _WORKER["sim"]
    assert isinstance(cfg, SynthConfig) and isinstance(sim, JourneySimulator)
    # A generator per batch, seeded from (seed, batch), keeps runs reproducible.
    rng = random.Random(f"{cfg.seed}:{chunk_no}")
    g = np.random.default_rng(rng.getrandbits(64))
    who = make_identities(g, [f"P{i + 1:08d}" for i in range(first, last)], cfg.start)
    identities = list(zip(who, draw_groups(g, who, cfg), strict=True))
    people = _truth_people(identities)
    batch_people = People(who)
    # The journeys, their notes and their clock times each from a generator of their
    # own, seeded from the batch's.
    events = sim.simulate(rng.getrandbits(32), identities)
    notes = events.notes(
        np.random.default_rng(rng.getrandbits(64)), random.Random(rng.getrandbits(64))
    )
    clock = np.random.default_rng(rng.getrandbits(64))
    utc, local = sim.times(events.days, events.staffed, clock)
    person_ids = people["person_id"].combine_chunks()
    # Each organisation's events in time order; the sort is stable, so events at the
    # same minute keep the order they were simulated in.
    org = events.orgs
    order = np.lexsort((utc, org))
    records: dict[str, pa.Table] = {}
    tables: dict[str, pa.Table] = {}
    cases: dict[str, int] = {}
    start = 0
    for o, n in zip(ORGS, np.bincount(org, minlength=len(ORGS)).tolist(), strict=True):
        # Each organisation's own columns, not slices of one table: a slice would carry
        # (and pickle) the whole table's buffers back to the main process. Taken as
        # codes, before they become text: only the notes are text already.
        at = order[start : start + n]
        start += n
        part = events.take(at)
        t = part.table(person_ids, notes.take(at), utc[at], local[at])
        # Dictionary encoding numbers values in order of first appearance: a person's
        # record in order of first contact, a case in order of its need's first event.
        person = t["person"].combine_chunks().dictionary_encode()
        need = pa.array(part.need_keys()).dictionary_encode()
        rates, holds = cfg.identity_errors[o], _HOLDS[o]
        cols = org_records(g, rng, batch_people, person.dictionary.to_numpy(), rates, holds)
        records[o] = pa.table(
            {
                name: pa.array(cols[name], _SIM_RECORDS.field(name).type)
                for name in _SIM_RECORDS.names
            },
            schema=_SIM_RECORDS,
        )
        cases[o] = len(need.dictionary)
        slots = [pc.cast(person.indices, pa.int32()), pc.cast(need.indices, pa.int32())]
        tables[o] = pa.Table.from_arrays(
            slots + [t[c] for c in _SIM_EVENTS.names[2:]], schema=_SIM_EVENTS
        )
    contacts, failures = int(events.inbound.sum()), int(events.failure_demand.sum())
    return _Batch(last, people, records, tables, cases, contacts, failures)


#: A batch's person records for one organisation, before they get their references.
_SIM_RECORDS = pa.schema(
    [
        ("person_id", pa.string()),
        ("forename", pa.string()),
        ("surname", pa.string()),
        ("date_of_birth", pa.date32()),
        ("nino", pa.string()),
        ("nhs_number", pa.string()),
        ("address", pa.string()),
        ("postcode", pa.string()),
        ("sex", pa.string()),
        ("forename_flag", pa.string()),
        ("surname_flag", pa.string()),
        ("dob_flag", pa.string()),
        ("postcode_flag", pa.string()),
        ("id_flag", pa.string()),
    ]
)
#: A batch's events for one organisation, in time order, before they get references.
_SIM_EVENTS = pa.schema(
    [
        ("person_slot", pa.int32()),
        ("case_slot", pa.int32()),
        ("person_id", pa.string()),
        ("need_id", pa.string()),
        ("service", pa.string()),
        ("utc", pa.timestamp("us", tz="UTC")),
        ("local", pa.timestamp("us")),
        ("channel", pa.string()),
        ("activity", pa.string()),
        ("direction", pa.string()),
        ("outcome", pa.string()),
        ("note", pa.string()),
        ("category", pa.string()),
        ("caused_by", pa.string()),
        ("failure", pa.string()),
        ("life_event", pa.string()),
        ("demand_type", pa.string()),
    ]
)


def _simulated(
    cfg: SynthConfig,
    fail_p: float,
    mean_mult: float,
    batches: list[tuple[int, int, int]],
    workers: int | None,
) -> Iterator[tuple[int, _Batch]]:
    """Simulated batches in order, from worker processes when there is more than one
    batch; at most two batches per worker are in flight, so memory stays bounded."""
    n = min(workers or os.cpu_count() or 1, len(batches))
    if n <= 1:
        _init_worker(cfg, fail_p, mean_mult)
        for b in batches:
            batch = _simulate(*b)
            yield batch.last, batch
        return
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    setup = (cfg, fail_p, mean_mult, True)
    with ProcessPoolExecutor(n, ctx, initializer=_init_worker, initargs=setup) as pool:
        pending: deque[Future[_Batch]] = deque()
        todo = iter(batches)
        for b in itertools.islice(todo, 2 * n):
            pending.append(pool.submit(_simulate, *b))
        while pending:
            batch = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(_simulate, *nxt))
            yield batch.last, batch


def _write_batch(
    cfg: SynthConfig,
    ids: _LocalIds,
    batch: _Batch,
    writers: dict,
    truth: tuple[pq.ParquetWriter, ...],
    result: SynthResult,
) -> None:
    """Give a simulated batch its local references and write it out."""
    t_people, t_records, t_events = truth
    t_people.write_table(batch.people)
    rec_parts: list[pa.Table] = []
    ev_parts: list[pa.Table] = []
    for org in ORGS:
        records, events = batch.records[org], batch.events[org]
        person_refs = ids.person_refs(org, records.num_rows)
        records = records.append_column("local_ref", person_refs)
        records = records.take(pc.sort_indices(records["local_ref"]))
        event_refs = ids.event_refs(org, events.num_rows)
        events = (
            events.append_column("event_ref", event_refs)
            .append_column("person_ref", person_refs.take(events["person_slot"]))
            .append_column("case_ref", ids.case_refs(org, events["case_slot"], batch.cases[org]))
        )
        writers[org].people(records)
        writers[org].events(events)
        result.events[org] += events.num_rows
        result.records[org] += records.num_rows
        org_col = pa.array([org] * records.num_rows, pa.string())
        rec_parts.append(
            pa.Table.from_arrays(
                [org_col, records["local_ref"], *(records[c] for c in _TRUTH_RECORDS.names[2:])],
                schema=_TRUTH_RECORDS,
            )
        )
        n = events.num_rows
        caused = events["caused_by"]
        ev_parts.append(
            pa.Table.from_arrays(
                [
                    pc.binary_join_element_wise(f"{org}:", event_refs, ""),
                    pa.array([org] * n, pa.string()),
                    event_refs,
                    events["person_id"],
                    events["need_id"],
                    events["life_event"],
                    events["service"],
                    events["utc"],
                    events["direction"],
                    events["channel"],
                    events["demand_type"],
                    events["category"],
                    caused,
                    pc.if_else(pc.is_valid(caused), pa.scalar(org), pa.scalar(None, pa.string())),
                    events["failure"],
                ],
                schema=_TRUTH_EVENTS,
            )
        )
    result.contacts += batch.contacts
    result.failure_contacts += batch.failure_contacts
    t_records.write_table(pa.concat_tables(rec_parts))
    t_events.write_table(pa.concat_tables(ev_parts))


def _truth_people(rows: list[tuple[Identity, Groups]]) -> pa.Table:
    return pa.table(
        {
            "person_id": [w.person_id for w, _ in rows],
            "forename": [w.forename for w, _ in rows],
            "surname": [w.surname for w, _ in rows],
            "maiden_name": [w.maiden_name for w, _ in rows],
            "sex": [w.sex for w, _ in rows],
            "date_of_birth": [w.date_of_birth for w, _ in rows],
            "address": [w.address for w, _ in rows],
            "postcode": [w.postcode for w, _ in rows],
            "old_postcode": [w.old_postcode for w, _ in rows],
            "nino": [w.nino for w, _ in rows],
            "nhs_number": [w.nhs_number for w, _ in rows],
            "origin": [w.origin for w, _ in rows],
            "age_band": [g.age_band for _, g in rows],
            "disability": [g.disability for _, g in rows],
            "low_digital": [g.low_digital for _, g in rows],
        },
        schema=_TRUTH_PEOPLE,
    )


def _codes(org: str, table: dict[str, dict[str, str]]) -> dict[str, str]:
    return {v: k for k, v in table[org].items()}


def contract_for(org: str, exports: str) -> Contract:
    """The data contract of one synthetic export (paths relative to the contracts folder)."""
    files = FILES[org]

    def f(column: str, **kw: object) -> FieldSpec:
        return FieldSpec(column=column, **kw)

    channel = _codes(org, CHANNEL_CODES)
    direction = _codes(org, DIRECTION_CODES)
    if org == "benefits":
        events = {
            "event_id": f("Contact ID"),
            "local_person_ref": f("Claimant ID"),
            "case_ref": f("Claim Ref"),
            "occurred_at": f("Contact Date", type="timestamp", format="%d/%m/%Y %H:%M"),
            "channel": f("Channel", codes=channel),
            "direction": f("Direction", codes=direction),
            "activity": f("Contact Type"),
            "service": f("Benefit"),
            "note": f("Adviser Notes"),
            "outcome": f("Outcome"),
        }
        people = {
            "local_person_ref": f("Claimant ID"),
            "forename": f("Forename"),
            "surname": f("Surname"),
            "date_of_birth": f("DOB", type="date", format="%d/%m/%Y"),
            "nino": f("NINO"),
            "address": f("Address"),
            "postcode": f("Postcode"),
            "sex": f("Sex"),
        }
        fmt, zone, ident = (
            "csv",
            "Europe/London",
            ["forename", "surname", "date_of_birth", "nino", "address", "postcode", "sex"],
        )
        sheets: tuple[str | None, str | None] = (None, None)
    elif org == "tax":
        events = {
            "event_id": f("interaction_id"),
            "local_person_ref": f("taxpayer_ref"),
            "case_ref": f("case_id"),
            "occurred_at": f("ts", type="timestamp"),
            "channel": f("channel_code", codes=channel),
            "direction": f("flow", codes=direction),
            "activity": f("interaction_type"),
            "service": f("regime"),
            "note": f("memo"),
            "outcome": f("result"),
        }
        people = {
            "local_person_ref": f("taxpayer_ref"),
            "forename": f("first_name"),
            "surname": f("last_name"),
            "date_of_birth": f("birth_date", type="date"),
            "nino": f("ni_number"),
            "address": f("address_line"),
            "postcode": f("postcode"),
            "sex": f("gender"),
        }
        fmt, zone, ident = (
            "parquet",
            "UTC",
            ["forename", "surname", "date_of_birth", "nino", "address", "postcode", "sex"],
        )
        sheets = (None, None)
    elif org == "council":
        events = {
            "event_id": f("Ref"),
            "local_person_ref": f("Resident No"),
            "case_ref": f("Case No"),
            "occurred_at": f("Logged", type="timestamp", format="%Y-%m-%d %H:%M:%S"),
            "channel": f("Method", codes=channel),
            "direction": f("Type", codes=direction),
            "activity": f("Reason"),
            "service": f("Service Area"),
            "note": f("Notes"),
            "outcome": f("Status"),
        }
        people = {
            "local_person_ref": f("Resident No"),
            "forename": FieldSpec(expression="trim(split_part(\"Full Name\", ',', 2))"),
            "surname": FieldSpec(expression="trim(split_part(\"Full Name\", ',', 1))"),
            "date_of_birth": f("Date of Birth", type="date", format="%Y-%m-%d %H:%M:%S"),
            "address": f("Address"),
            "postcode": f("Post Code"),
        }
        fmt, zone, ident = (
            "excel",
            "Europe/London",
            ["forename", "surname", "date_of_birth", "address", "postcode"],
        )
        sheets = ("Contacts", "Residents")
    else:
        events = {
            "event_id": f("encounter_id"),
            "local_person_ref": f("patient_id"),
            "case_ref": f("episode_ref"),
            "occurred_at": f("start", type="timestamp", format="%Y-%m-%dT%H:%M:%SZ"),
            "channel": f("mode", codes=channel),
            "direction": f("initiated_by", codes=direction),
            "activity": f("type"),
            "service": f("service"),
            "note": f("free_text"),
            "outcome": f("disposition"),
        }
        people = {
            "local_person_ref": f("patient_id"),
            "nhs_number": f("nhs_number"),
            "forename": f("given_name"),
            "surname": f("family_name"),
            "date_of_birth": f("birth_date", type="date", format="%Y-%m-%d"),
            "sex": f("sex", codes={"female": "F", "male": "M"}),
            "address": f("address"),
            "postcode": f("postcode"),
        }
        fmt, zone, ident = (
            "jsonl",
            "UTC",
            ["nhs_number", "forename", "surname", "date_of_birth", "sex", "address", "postcode"],
        )
        sheets = (None, None)
    return Contract(
        org=org,
        source=f"{org}-synthetic",
        format=fmt,
        timezone=zone,
        identity_fields=ident,
        events=TableSpec(file=f"{exports}/{files['events']}", sheet=sheets[0], fields=events),
        people=TableSpec(file=f"{exports}/{files['people']}", sheet=sheets[1], fields=people),
    )

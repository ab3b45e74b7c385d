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

import pyarrow as pa
import pyarrow.parquet as pq

from joinedup.ingest._contract import Contract, FieldSpec, TableSpec
from joinedup.synth._config import ORGS, IdentityErrorRates, SynthConfig
from joinedup.synth._exports import CHANNEL_CODES, DIRECTION_CODES, FILES, open_exports
from joinedup.synth._identity import Identity, make_identity
from joinedup.synth._journeys import Groups, JourneySimulator, SimEvent, draw_groups, multiplier
from joinedup.synth._records import OrgRecord, org_record

__all__ = ["IdentityErrorRates", "SynthConfig", "SynthResult", "generate"]

#: Which identifier each organisation holds.
_HOLDS = {"benefits": "nino", "tax": "nino", "council": "none", "health": "nhs"}
_FAILURE_CATEGORIES = {"chase", "error", "clarify", "repeat", "misrouted", "duplicate", "complaint"}

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

    def person_ref(self, org: str) -> str:
        n = self.person[org] = self.person[org] + 1
        # Multiplying by a number coprime with 10^k permutes the counter, so references
        # look scattered, as real ones do, yet stay unique.
        if org == "benefits":
            return f"CLM{(n * 7919 + 104729) % 10**7:07d}"
        if org == "tax":
            return f"{(n * 7919 + 1_000_003) % 10**10:010d}"
        if org == "council":
            return f"R{(n * 7919 + 3571) % 10**7:07d}"
        return f"PAT{(n * 7919 + 15485863) % 10**8:08d}"

    def event_ref(self, org: str) -> str:
        n = self.event[org] = self.event[org] + 1
        return {
            "benefits": f"CT{n:09d}",
            "tax": f"INT-{n:010d}",
            "council": str(500_000 + n),
            "health": f"ENC-{n:09d}",
        }[org]

    def case_ref(self, org: str) -> str:
        n = self.case[org] = self.case[org] + 1
        return {
            "benefits": f"BEN/{n:08d}",
            "tax": f"TX{n:09d}",
            "council": f"CSE-{n:08d}",
            "health": f"EP{n:08d}",
        }[org]


@cache
def _calibrate(cfg_json: str) -> tuple[float, float]:
    """The base failure probability that yields the target failure share, and the mean
    group multiplier, measured on a small fixed calibration population."""
    cfg = SynthConfig.model_validate_json(cfg_json)
    rng = random.Random(7_000_001)
    probe = JourneySimulator(cfg, fail_p=0.5, mean_multiplier=1.0)
    # Probe with every need failing half the time, whatever the group.
    probe_cfg = cfg.model_copy(update={"failure_multipliers": {}})
    probe.cfg = probe_cfg
    mults: list[float] = []
    value = failure = 0
    for i in range(3000):
        who = make_identity(rng, f"CAL{i}", cfg.start)
        groups = draw_groups(rng, who, cfg)
        mults.append(multiplier(groups, cfg))
        for e in probe.person(rng, who, groups):
            if e.direction == "in":
                if e.caused_by is None:
                    value += 1
                else:
                    failure += 1
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
    t_events = pq.ParquetWriter(truth_dir / "events.parquet", _TRUTH_EVENTS)
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
    """One batch of people, simulated: identities, and per organisation its events in
    time order and its person records in order of first contact (references unset)."""

    last: int
    identities: list[tuple[Identity, Groups]]
    events: dict[str, list[SimEvent]]
    records: dict[str, list[OrgRecord]]


_WORKER: dict[str, object] = {}


def _init_worker(cfg: SynthConfig, fail_p: float, mean_mult: float) -> None:
    _WORKER["cfg"] = cfg
    _WORKER["sim"] = JourneySimulator(cfg, fail_p=fail_p, mean_multiplier=mean_mult)


def _simulate(chunk_no: int, first: int, last: int) -> _Batch:
    """Simulate one batch from its own seed, so the result is the same in any process."""
    cfg = _WORKER["cfg"]
    sim = _WORKER["sim"]
    assert isinstance(cfg, SynthConfig) and isinstance(sim, JourneySimulator)
    # A generator per batch, seeded from (seed, batch), keeps runs reproducible.
    rng = random.Random(f"{cfg.seed}:{chunk_no}")
    identities: list[tuple[Identity, Groups]] = []
    by_org: dict[str, list[SimEvent]] = {o: [] for o in ORGS}
    for i in range(first, last):
        who = make_identity(rng, f"P{i + 1:08d}", cfg.start)
        groups = draw_groups(rng, who, cfg)
        identities.append((who, groups))
        for e in sim.person(rng, who, groups):
            by_org[e.org].append(e)
    index = {who.person_id: who for who, _ in identities}
    records: dict[str, list[OrgRecord]] = {}
    for org in ORGS:
        by_org[org].sort(key=lambda e: e.occurred_at)
        seen: set[str] = set()
        recs = records[org] = []
        for e in by_org[org]:
            if e.person_id not in seen:
                seen.add(e.person_id)
                recs.append(
                    org_record(
                        rng, org, "", index[e.person_id], cfg.identity_errors[org], _HOLDS[org]
                    )
                )
    return _Batch(last, identities, by_org, records)


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
    setup = (cfg, fail_p, mean_mult)
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
    t_people.write_table(_truth_people(batch.identities))
    rec_rows: list[OrgRecord] = []
    ev_rows: list[tuple[str, ...]] = []
    for org in ORGS:
        events = batch.events[org]
        records = batch.records[org]
        local_person: dict[str, str] = {}
        for rec in records:
            rec.local_ref = local_person[rec.person_id] = ids.person_ref(org)
        records.sort(key=lambda r: r.local_ref)
        cases: dict[str, str] = {}
        rows = []
        for e in events:
            case = cases.get(e.need_id)
            if case is None:
                case = cases[e.need_id] = ids.case_ref(org)
            eid = ids.event_ref(org)
            rows.append((eid, local_person[e.person_id], case, e))
            ev_rows.append(_truth_event(org, eid, e))
            if e.direction == "in":
                result.contacts += 1
                result.failure_contacts += e.caused_by is not None
        writers[org].people(records)
        writers[org].events(rows)
        result.events[org] += len(rows)
        result.records[org] += len(records)
        rec_rows.extend(records)
    t_records.write_table(
        pa.table(
            {
                "org": [r.org for r in rec_rows],
                "local_person_ref": [r.local_ref for r in rec_rows],
                "person_id": [r.person_id for r in rec_rows],
                "forename_flag": [r.forename_flag for r in rec_rows],
                "surname_flag": [r.surname_flag for r in rec_rows],
                "dob_flag": [r.dob_flag for r in rec_rows],
                "postcode_flag": [r.postcode_flag for r in rec_rows],
                "id_flag": [r.id_flag for r in rec_rows],
            },
            schema=_TRUTH_RECORDS,
        )
    )
    cols: list[tuple[object, ...]] = (
        list(zip(*ev_rows, strict=True)) if ev_rows else [() for _ in _TRUTH_EVENTS]
    )
    t_events.write_table(
        pa.table(
            {name: list(col) for name, col in zip(_TRUTH_EVENTS.names, cols, strict=True)},
            schema=_TRUTH_EVENTS,
        )
    )


def _truth_event(org: str, local_id: str, e: SimEvent) -> tuple:
    demand_type = None
    if e.category is not None:
        demand_type = "failure" if e.category in _FAILURE_CATEGORIES else "value"
    return (
        f"{org}:{local_id}",
        org,
        local_id,
        e.person_id,
        e.need_id,
        e.life_event,
        e.service,
        e.occurred_at,
        e.direction,
        e.channel,
        demand_type,
        e.category,
        e.caused_by,
        org if e.caused_by else None,
        e.failure,
    )


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

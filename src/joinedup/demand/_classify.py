"""Label every contact in a workspace: journey rules first, the text model for the rest.

A rule that fires decides that the contact is failure demand and outranks the text.
The text may still name the kind of failure when it is confident of a different failure
category (``text_refines_rule``): the journey shows *that* something failed, the words
show *what*. Every disagreement between a rule and the text is counted and reported.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joinedup.demand._journey import stage_causes, stage_contacts, stage_rules
from joinedup.demand._rootcause import journey_hits, root_causes
from joinedup.demand._settings import DemandSettings
from joinedup.demand._text import TextModel, load_model
from joinedup.model import DEMAND, DEMAND_CAUSE
from joinedup.workspace import Workspace

_BATCH = 50_000
#: The demand table as this stage writes it: the standard columns and the root cause.
DEMAND_SCHEMA = DEMAND.append(DEMAND_CAUSE)


@dataclass
class ClassifySummary:
    """What a classification run did, for the command line and the run record."""

    contacts: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    by_decider: dict[str, int] = field(default_factory=dict)
    rule_fired: dict[str, int] = field(default_factory=dict)
    #: A rule said failure, the text said value (with its own confidence).
    type_disagreements: int = 0
    #: A rule and the text named different failure categories.
    category_disagreements: int = 0
    #: Of the category disagreements, how many the text's category won.
    refined_by_text: int = 0
    caused_elsewhere: int = 0
    #: Failure contacts by inferred root cause (the demand table's ``cause``).
    by_cause: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _alias_patterns(settings: DemandSettings) -> list[tuple[str, str]]:
    return [
        (org, r"\b(?:" + "|".join(re.escape(a) for a in names) + r")\b")
        for org, names in settings.org_aliases.items()
        if names
    ]


def named_orgs(notes: pa.Array, settings: DemandSettings) -> tuple[np.ndarray, list[str]]:
    """Which organisations each note names (by the aliases in the settings): the indices
    of the notes and the organisation each names, a pair per mention. Matched on the
    lower-cased first 3,000 characters of the whole batch at once (Arrow's RE2: a word
    boundary is between an ASCII letter, digit or underscore and anything else)."""
    text = pc.utf8_slice_codeunits(pc.utf8_lower(notes.cast(pa.string())), 0, 3000)
    rows: list[np.ndarray] = []
    orgs: list[str] = []
    for org, pattern in _alias_patterns(settings):
        hit = pc.fill_null(pc.match_substring_regex(text, pattern), False)
        found = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
        rows.append(found)
        orgs += [org] * len(found)
    if not rows:
        return np.zeros(0, dtype=np.int64), []
    # In note order, and within a note in the settings' order, as a loop over notes gives.
    idx = np.concatenate(rows)
    order = np.argsort(idx, kind="stable")
    return idx[order], [orgs[i] for i in order]


def classify(
    ws: Workspace,
    *,
    model: TextModel | None = None,
    settings: DemandSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ClassifySummary:
    """Classify every inbound contact in ``ws`` and replace its ``demand`` table."""
    s = settings or DemandSettings()
    m = model or load_model()
    eng = ws.engine
    stage_contacts(eng, s)
    rules = stage_rules(eng, s)

    contacts = eng.sql(
        "SELECT e.event_id, e.org, e.note FROM events e WHERE e.direction = 'in' "
        "ORDER BY e.event_id"
    )
    total = eng.count(contacts)
    ids: list[str] = []
    orgs: list[str] = []
    text_cat: list[str] = []
    text_type: list[str] = []
    text_best: list[str] = []
    conf_parts: list[np.ndarray] = []
    best_p_parts: list[np.ndarray] = []
    named_ids: list[str] = []
    named_org: list[str] = []
    done = 0
    for batch in eng.to_batches(contacts, batch_size=_BATCH):
        b_ids = batch.column("event_id").to_pylist()
        notes = batch.column("note").to_pylist()
        pred = m.predict(
            notes, threshold=s.threshold, type_threshold=s.type_threshold, min_known=s.min_known
        )
        ids.extend(b_ids)
        orgs.extend(batch.column("org").to_pylist())
        text_cat.extend(pred.category)
        text_type.extend(pred.demand_type)
        text_best.extend(pred.best)
        conf_parts.append(pred.confidence)
        best_p_parts.append(pred.proba.max(axis=1) if len(notes) else np.zeros(0))
        at, found = named_orgs(batch.column("note"), s)
        named_ids += [b_ids[i] for i in at]
        named_org += found
        done += len(b_ids)
        if progress:
            progress(done, total)

    eng.register(
        "_demand_named",
        pa.table(
            {"event_id": pa.array(named_ids, pa.string()), "org": pa.array(named_org, pa.string())}
        ),
    )
    stage_causes(eng, s, s.rules.chase.request_activities)
    fired: dict[str, str] = {}
    summary = ClassifySummary(contacts=len(ids))
    for name in rules:  # in priority order: the first rule to fire decides
        got = eng.to_arrow(eng.table(f"_demand_rule_{name}")).column("event_id").to_pylist()
        summary.rule_fired[name] = len(set(got))
        for eid in got:
            fired.setdefault(eid, name)
    causes_t = eng.to_arrow(eng.table("_demand_cause"))
    causes = dict(
        zip(
            causes_t.column("event_id").to_pylist(),
            causes_t.column("cause").to_pylist(),
            strict=True,
        )
    )
    basis = dict(
        zip(
            causes_t.column("event_id").to_pylist(),
            causes_t.column("cause_basis").to_pylist(),
            strict=True,
        )
    )
    case_of = dict(
        zip(
            causes_t.column("event_id").to_pylist(),
            zip(
                causes_t.column("cause").to_pylist(),
                causes_t.column("cause_need").to_pylist(),
                strict=True,
            ),
            strict=True,
        )
    )
    hits = journey_hits(eng, s)

    conf = np.concatenate(conf_parts) if conf_parts else np.zeros(0)
    best_p = np.concatenate(best_p_parts) if best_p_parts else np.zeros(0)
    rule_cfg = {name: getattr(s.rules, name) for name in rules}
    failure_codes = set(m.taxonomy.failure_codes())
    out_type: list[str] = []
    out_cat: list[str] = []
    out_conf: list[float] = []
    out_by: list[str] = []
    out_cause: list[str | None] = []
    out_recv: list[str] = []
    by_cat: Counter[str] = Counter()
    by_dec: Counter[str] = Counter()
    for i, eid in enumerate(ids):
        rule = fired.get(eid)
        if rule is not None:
            cat = rule_cfg[rule].category
            decided = f"rule:{rule}"
            # A rule's own confidence is 0.9; the text's, when it agrees and is surer.
            c = max(float(conf[i]) if text_type[i] == "failure" else 0.0, 0.9)
            if text_type[i] == "value":
                summary.type_disagreements += 1
            tb = text_best[i]
            if tb in failure_codes and tb != cat:
                summary.category_disagreements += 1
                if best_p[i] >= s.text_refines_rule:
                    cat = tb
                    decided = f"rule:{rule}+model"
                    summary.refined_by_text += 1
            dtype = "failure"
        else:
            cat, dtype, c, decided = text_cat[i], text_type[i], float(conf[i]), "model"
        out_type.append(dtype)
        out_cat.append(cat)
        out_conf.append(round(c, 4))
        out_by.append(decided)
        out_recv.append(orgs[i])
        if dtype == "failure":
            cause = causes.get(eid, orgs[i])
            out_cause.append(cause)
            if basis.get(eid) == "elsewhere":
                summary.caused_elsewhere += 1
        else:
            out_cause.append(None)
        by_cat[cat] += 1
        by_dec[decided.split("+")[0] if decided.startswith("rule:") else decided] += 1
    summary.by_category = dict(by_cat.most_common())
    summary.by_decider = dict(by_dec.most_common())

    roots = root_causes(
        ids,
        out_cat,
        out_type,
        out_cause,
        out_recv,
        [case_of.get(eid) for eid in ids],
        hits,
        s,
    )
    summary.by_cause = dict(Counter(r for r in roots if r is not None).most_common())
    table = pa.table(
        {
            "event_id": pa.array(ids, pa.string()),
            "demand_type": pa.array(out_type, pa.string()),
            "category": pa.array(out_cat, pa.string()),
            "confidence": pa.array(out_conf, pa.float64()),
            "decided_by": pa.array(out_by, pa.string()),
            "caused_by_org": pa.array(out_cause, pa.string()),
            "received_by_org": pa.array(out_recv, pa.string()),
            "cause": pa.array(roots, pa.string()),
        },
        schema=DEMAND_SCHEMA,
    )
    if DEMAND_CAUSE.name not in eng.table("demand").columns:
        # A workspace made before the root-cause column: the table is replaced whole
        # anyway, so it is made again with the column.
        eng.drop("demand")
        eng.create_table("demand", DEMAND_SCHEMA)
    eng.write("demand", table, mode="replace")
    for name in ("_demand_named", "_demand_cause", "_demand_cases", "_demand_events"):
        eng.drop_temp(name)
    for name in rules:
        eng.drop_temp(f"_demand_rule_{name}")
    return summary

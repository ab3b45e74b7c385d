"""The standard tables every stage reads and writes, and the demand taxonomy.

Each table is defined once, here, as an Arrow schema. Stages, the workspace, exports and
tests all take their column names and types from these definitions, so a change to the
data model is a change in one place. ``docs/data-model.md`` documents every column.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

__all__ = [
    "CHANNELS",
    "COST_SHUNTING",
    "DEMAND",
    "DEMAND_CAUSE",
    "EPISODES",
    "EPISODE_EVENTS",
    "EVENTS",
    "LABEL_CORRECTIONS",
    "LINKS",
    "PEOPLE",
    "QUALITY",
    "QUARANTINE",
    "RUNS",
    "SOURCES",
    "STANDARD_TABLES",
    "TAXONOMY",
    "UNIT_COSTS",
    "VALUE_LEDGER",
    "Category",
    "DemandType",
    "empty_table",
]

_TS = pa.timestamp("us", tz="UTC")


class DemandType(StrEnum):
    """Whether a contact is what the service exists for, or caused by a failure."""

    VALUE = "value"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Category:
    """One category of the demand taxonomy."""

    code: str
    demand_type: DemandType
    meaning: str


#: The default demand taxonomy (DESIGN.md); organisations may extend it.
TAXONOMY: tuple[Category, ...] = (
    Category("service", DemandType.VALUE, "apply, claim, pay, book: what the service is for"),
    Category("info", DemandType.VALUE, "a first-time question or request for advice"),
    Category("change", DemandType.VALUE, "reporting a change of circumstances or a new problem"),
    Category("help", DemandType.VALUE, "complex ongoing need (housing, homelessness, care)"),
    Category("chase", DemandType.FAILURE, "progress chasing: where is my payment or decision"),
    Category("error", DemandType.FAILURE, "putting right something the organisation got wrong"),
    Category("clarify", DemandType.FAILURE, "did not understand a letter, form, page or decision"),
    Category("repeat", DemandType.FAILURE, "the same unresolved need presented again"),
    Category("misrouted", DemandType.FAILURE, "wrong organisation or channel; passed on"),
    Category("duplicate", DemandType.FAILURE, "asked again for information already held"),
    Category("complaint", DemandType.FAILURE, "a complaint about a failure"),
)

#: The standard contact channels; each export's own codes are mapped onto these.
CHANNELS: tuple[str, ...] = ("phone", "web", "letter", "face_to_face", "webchat", "email")

#: Every event an organisation recorded: citizens' contacts (direction "in") and the
#: organisation's own actions (direction "out": decisions, payments, letters).
EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("org", pa.string(), nullable=False),
        pa.field("service", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("occurred_at", _TS, nullable=False),
        pa.field("activity", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("local_person_ref", pa.string()),
        pa.field("case_ref", pa.string()),
        pa.field("note", pa.string()),
        pa.field("outcome", pa.string()),
        pa.field("source", pa.string()),
    ]
)

#: One row per person record held by an organisation, with its identity fields.
#: Plain identity fields never leave the organisation that holds them.
PEOPLE = pa.schema(
    [
        pa.field("org", pa.string(), nullable=False),
        pa.field("local_person_ref", pa.string(), nullable=False),
        pa.field("forename", pa.string()),
        pa.field("surname", pa.string()),
        pa.field("date_of_birth", pa.date32()),
        pa.field("sex", pa.string()),
        pa.field("postcode", pa.string()),
        pa.field("address", pa.string()),
        pa.field("nino", pa.string()),
        pa.field("nhs_number", pa.string()),
        pa.field("source", pa.string()),
    ]
)

#: Which person each local record belongs to, as decided by linkage.
LINKS = pa.schema(
    [
        pa.field("org", pa.string(), nullable=False),
        pa.field("local_person_ref", pa.string(), nullable=False),
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("match_probability", pa.float64()),
    ]
)

#: A need, from the citizen's first contact until it is met or goes quiet.
EPISODES = pa.schema(
    [
        pa.field("episode_id", pa.string(), nullable=False),
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("need_type", pa.string()),
        pa.field("started_at", _TS),
        pa.field("ended_at", _TS),
        pa.field("end_reason", pa.string()),
        pa.field("orgs", pa.list_(pa.string())),
        pa.field("channels", pa.list_(pa.string())),
        pa.field("contacts", pa.int32()),
        pa.field("handoffs", pa.int32()),
        pa.field("elapsed_seconds", pa.float64()),
        # The organisation whose case the need is (the episode's anchor case).
        pa.field("need_org", pa.string()),
    ]
)

#: Which episode each event belongs to, in the order the citizen lived it: every event of
#: a linked person belongs to exactly one episode.
EPISODE_EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("episode_id", pa.string(), nullable=False),
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("position", pa.int32(), nullable=False),
    ]
)

#: The classification of each contact as value or failure demand.
DEMAND = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("demand_type", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("confidence", pa.float64()),
        pa.field("decided_by", pa.string()),
        pa.field("caused_by_org", pa.string()),
        pa.field("received_by_org", pa.string()),
    ]
)

#: The root cause of a failure contact (``late_payment``, ``wrong_tax_code`` ...), written
#: by the demand stage after the standard columns. Optional: a workspace classified
#: before it existed, or a demand table from elsewhere, may not have it; readers check.
DEMAND_CAUSE = pa.field("cause", pa.string())

#: Cost of one contact, by organisation and channel, with the source of the figure.
UNIT_COSTS = pa.schema(
    [
        pa.field("org", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("cost_gbp", pa.float64(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("year", pa.int32()),
    ]
)

#: The value ledger: per receiving organisation, service and month, what citizens'
#: contacts cost, and how much of it was failure demand. Every row names the unit-cost
#: file its money came from.
VALUE_LEDGER = pa.schema(
    [
        pa.field("org", pa.string(), nullable=False),
        pa.field("service", pa.string(), nullable=False),
        pa.field("month", pa.date32(), nullable=False),
        pa.field("contacts", pa.int64(), nullable=False),
        pa.field("failure_contacts", pa.int64(), nullable=False),
        pa.field("unclassified_contacts", pa.int64(), nullable=False),
        pa.field("cost_gbp", pa.float64(), nullable=False),
        pa.field("failure_cost_gbp", pa.float64(), nullable=False),
        pa.field("cost_per_transaction_gbp", pa.float64()),
        pa.field("needs_met", pa.int64()),
        pa.field("cost_per_need_met_gbp", pa.float64()),
        pa.field("failure_caused_elsewhere", pa.int64(), nullable=False),
        pa.field("share_failure_caused_elsewhere", pa.float64()),
        pa.field("unit_costs", pa.string(), nullable=False),
    ]
)

#: The cost-shunting matrix: failure demand by causing and absorbing organisation.
COST_SHUNTING = pa.schema(
    [
        pa.field("caused_by_org", pa.string(), nullable=False),
        pa.field("absorbed_by_org", pa.string(), nullable=False),
        pa.field("contacts", pa.int64(), nullable=False),
        pa.field("cost_gbp", pa.float64(), nullable=False),
        pa.field("top_causes", pa.string()),
        pa.field("unit_costs", pa.string(), nullable=False),
    ]
)

#: Rows an ingest could not load, kept whole with the reason, so nothing is lost.
QUARANTINE = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("column_name", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string()),
    ]
)

#: One row per source loaded into the workspace: the content it was loaded from (a hash
#: of its files and of its contract, so loading the same content again changes nothing)
#: and what became of its rows.
SOURCES = pa.schema(
    [
        pa.field("org", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("contract_hash", pa.string(), nullable=False),
        pa.field("files", pa.list_(pa.string())),
        pa.field("rows_in", pa.int64()),
        pa.field("loaded", pa.int64()),
        pa.field("quarantined", pa.int64()),
        pa.field("ingested_at", _TS),
        pa.field("run_id", pa.string()),
    ]
)

#: The data-quality report: one measure of one dimension of the UK Government Data
#: Quality Framework (completeness, uniqueness, validity, consistency, timeliness,
#: accuracy) for one source, table and column (column_name is null for the whole table).
#: ``score`` is the share of ``checked`` that passed (1 - failed / checked).
QUALITY = pa.schema(
    [
        pa.field("org", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("column_name", pa.string()),
        pa.field("dimension", pa.string(), nullable=False),
        pa.field("check_name", pa.string(), nullable=False),
        pa.field("failed", pa.int64(), nullable=False),
        pa.field("checked", pa.int64(), nullable=False),
        pa.field("score", pa.float64()),
        pa.field("detail", pa.string()),
        pa.field("measured_at", _TS),
    ]
)

#: The record of every run: what ran, when, on which inputs, with which settings.
RUNS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("command", pa.string(), nullable=False),
        pa.field("started_at", _TS, nullable=False),
        pa.field("finished_at", _TS),
        pa.field("status", pa.string(), nullable=False),
        pa.field("inputs", pa.string()),
        pa.field("settings", pa.string()),
        pa.field("outputs", pa.string()),
        pa.field("package_version", pa.string(), nullable=False),
        pa.field("engine", pa.string()),
        pa.field("message", pa.string()),
    ]
)

#: Demand labels corrected by analysts (in the web service's review page), to retrain the
#: text model with the organisation's own labels (``joinedup demand train --workspace``).
LABEL_CORRECTIONS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("org", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("demand_type", pa.string(), nullable=False),
        pa.field("corrected_by", pa.string(), nullable=False),
        pa.field("corrected_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

#: The standard tables a workspace holds, by name.
STANDARD_TABLES: dict[str, pa.Schema] = {
    "events": EVENTS,
    "people": PEOPLE,
    "links": LINKS,
    "episodes": EPISODES,
    "episode_events": EPISODE_EVENTS,
    "demand": DEMAND,
    "unit_costs": UNIT_COSTS,
    "quarantine": QUARANTINE,
    "runs": RUNS,
    "sources": SOURCES,
    "quality": QUALITY,
    "label_corrections": LABEL_CORRECTIONS,
}


def empty_table(schema: pa.Schema) -> pa.Table:
    """An empty Arrow table with the given schema."""
    return schema.empty_table()

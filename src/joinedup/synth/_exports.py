"""Each organisation's export in its own shape, as real ones are, streamed to disk.

benefits: CSV with dd/mm/yyyy dates and local times; tax: Parquet with UTC timestamps;
council: an Excel workbook with a single "SURNAME, Forename" name column; health: JSON
Lines with ISO 8601 times. Writers take rows in batches so memory does not grow with
the population, and write the same bytes for the same rows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from joinedup.synth._journeys import SimEvent
from joinedup.synth._records import OrgRecord
from joinedup.synth._xlsx import StreamingWorkbook

_LONDON = ZoneInfo("Europe/London")
#: Rows per worksheet before a workbook rolls over to a new sheet (Excel's limit is 1,048,576).
EXCEL_SHEET_ROWS = 1_000_000

#: Each export's own channel codes; the data contracts map them back to the standard ones.
CHANNEL_CODES: dict[str, dict[str, str]] = {
    "benefits": {
        "phone": "TEL",
        "web": "WEB",
        "letter": "LTR",
        "face_to_face": "F2F",
        "webchat": "CHAT",
        "email": "EML",
    },
    "tax": {
        "phone": "P",
        "web": "O",
        "letter": "L",
        "face_to_face": "V",
        "webchat": "C",
        "email": "E",
    },
    "council": {
        "phone": "Telephone",
        "web": "Online form",
        "letter": "Letter",
        "face_to_face": "In person",
        "webchat": "Webchat",
        "email": "Email",
    },
    "health": {
        "phone": "telephone",
        "web": "online",
        "letter": "post",
        "face_to_face": "in-person",
        "webchat": "chat",
        "email": "email",
    },
}
DIRECTION_CODES: dict[str, dict[str, str]] = {
    "benefits": {"in": "Inbound", "out": "Outbound"},
    "tax": {"in": "I", "out": "O"},
    "council": {"in": "Contact", "out": "Action"},
    "health": {"in": "patient", "out": "practice"},
}

#: Where each organisation's files go, relative to the output folder.
FILES: dict[str, dict[str, str]] = {
    "benefits": {"people": "benefits/claimants.csv", "events": "benefits/contacts.csv"},
    "tax": {"people": "tax/taxpayers.parquet", "events": "tax/interactions.parquet"},
    "council": {"people": "council/council_export.xlsx", "events": "council/council_export.xlsx"},
    "health": {"people": "health/patients.jsonl", "events": "health/encounters.jsonl"},
}


class Export(Protocol):
    """Writes one organisation's people and events."""

    def people(self, rows: Sequence[OrgRecord]) -> None: ...
    def events(self, rows: Sequence[tuple[str, str, str, SimEvent]]) -> None: ...
    def close(self) -> None: ...


def _local(ts: datetime) -> datetime:
    return ts.astimezone(_LONDON).replace(tzinfo=None)


class _BenefitsCsv:
    PEOPLE = ["Claimant ID", "Forename", "Surname", "DOB", "NINO", "Address", "Postcode", "Sex"]
    EVENTS = [
        "Contact ID",
        "Claimant ID",
        "Claim Ref",
        "Contact Date",
        "Channel",
        "Direction",
        "Contact Type",
        "Benefit",
        "Adviser Notes",
        "Outcome",
    ]

    def __init__(self, root: Path) -> None:
        self._pf = (root / FILES["benefits"]["people"]).open("w", newline="", encoding="utf-8")
        self._ef = (root / FILES["benefits"]["events"]).open("w", newline="", encoding="utf-8")
        self._p = csv.writer(self._pf)
        self._e = csv.writer(self._ef)
        self._p.writerow(self.PEOPLE)
        self._e.writerow(self.EVENTS)

    def people(self, rows: Sequence[OrgRecord]) -> None:
        self._p.writerows(
            [
                r.local_ref,
                r.forename,
                r.surname,
                r.date_of_birth.strftime("%d/%m/%Y") if r.date_of_birth else "",
                r.nino or "",
                r.address,
                r.postcode or "",
                r.sex,
            ]
            for r in rows
        )

    def events(self, rows: Sequence[tuple[str, str, str, SimEvent]]) -> None:
        codes, dirs = CHANNEL_CODES["benefits"], DIRECTION_CODES["benefits"]
        self._e.writerows(
            [
                eid,
                pref,
                case,
                _local(e.occurred_at).strftime("%d/%m/%Y %H:%M"),
                codes[e.channel],
                dirs[e.direction],
                e.activity,
                e.service,
                e.note or "",
                e.outcome,
            ]
            for eid, pref, case, e in rows
        )

    def close(self) -> None:
        self._pf.close()
        self._ef.close()


class _TaxParquet:
    PEOPLE = pa.schema(
        [
            ("taxpayer_ref", pa.string()),
            ("first_name", pa.string()),
            ("last_name", pa.string()),
            ("birth_date", pa.date32()),
            ("ni_number", pa.string()),
            ("address_line", pa.string()),
            ("postcode", pa.string()),
            ("gender", pa.string()),
        ]
    )
    EVENTS = pa.schema(
        [
            ("interaction_id", pa.string()),
            ("taxpayer_ref", pa.string()),
            ("case_id", pa.string()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("channel_code", pa.string()),
            ("flow", pa.string()),
            ("interaction_type", pa.string()),
            ("regime", pa.string()),
            ("memo", pa.string()),
            ("result", pa.string()),
        ]
    )

    def __init__(self, root: Path) -> None:
        self._p = pq.ParquetWriter(root / FILES["tax"]["people"], self.PEOPLE)
        self._e = pq.ParquetWriter(root / FILES["tax"]["events"], self.EVENTS)

    def people(self, rows: Sequence[OrgRecord]) -> None:
        if rows:
            self._p.write_table(
                pa.table(
                    {
                        "taxpayer_ref": [r.local_ref for r in rows],
                        "first_name": [r.forename for r in rows],
                        "last_name": [r.surname for r in rows],
                        "birth_date": [r.date_of_birth for r in rows],
                        "ni_number": [r.nino for r in rows],
                        "address_line": [r.address for r in rows],
                        "postcode": [r.postcode for r in rows],
                        "gender": [r.sex for r in rows],
                    },
                    schema=self.PEOPLE,
                )
            )

    def events(self, rows: Sequence[tuple[str, str, str, SimEvent]]) -> None:
        if not rows:
            return
        codes, dirs = CHANNEL_CODES["tax"], DIRECTION_CODES["tax"]
        self._e.write_table(
            pa.table(
                {
                    "interaction_id": [r[0] for r in rows],
                    "taxpayer_ref": [r[1] for r in rows],
                    "case_id": [r[2] for r in rows],
                    "ts": [r[3].occurred_at for r in rows],
                    "channel_code": [codes[r[3].channel] for r in rows],
                    "flow": [dirs[r[3].direction] for r in rows],
                    "interaction_type": [r[3].activity for r in rows],
                    "regime": [r[3].service for r in rows],
                    "memo": [r[3].note for r in rows],
                    "result": [r[3].outcome for r in rows],
                },
                schema=self.EVENTS,
            )
        )

    def close(self) -> None:
        self._p.close()
        self._e.close()


class _CouncilExcel:
    PEOPLE = ["Resident No", "Full Name", "Date of Birth", "Address", "Post Code"]
    EVENTS = [
        "Ref",
        "Resident No",
        "Case No",
        "Logged",
        "Method",
        "Type",
        "Reason",
        "Service Area",
        "Notes",
        "Status",
    ]

    def __init__(self, root: Path) -> None:
        self._wb = StreamingWorkbook(root / FILES["council"]["people"])
        self._sheets: dict[str, list[int]] = {"Residents": [], "Contacts": []}
        self._new_sheet("Residents", self.PEOPLE)
        self._new_sheet("Contacts", self.EVENTS)

    def _new_sheet(self, base: str, header: list[str]) -> None:
        n = len(self._sheets[base]) + 1
        self._sheets[base].append(self._wb.add_sheet(base if n == 1 else f"{base} {n}", header))

    def _sheet(self, base: str, header: list[str]) -> int:
        if self._wb.rows(self._sheets[base][-1]) >= EXCEL_SHEET_ROWS:
            self._new_sheet(base, header)
        return self._sheets[base][-1]

    def people(self, rows: Sequence[OrgRecord]) -> None:
        for r in rows:
            self._wb.write_row(
                self._sheet("Residents", self.PEOPLE),
                [
                    r.local_ref,
                    f"{r.surname.upper()}, {r.forename}",
                    r.date_of_birth,
                    r.address,
                    r.postcode,
                ],
            )

    def events(self, rows: Sequence[tuple[str, str, str, SimEvent]]) -> None:
        codes, dirs = CHANNEL_CODES["council"], DIRECTION_CODES["council"]
        for eid, pref, case, e in rows:
            self._wb.write_row(
                self._sheet("Contacts", self.EVENTS),
                [
                    int(eid),
                    pref,
                    case,
                    _local(e.occurred_at),
                    codes[e.channel],
                    dirs[e.direction],
                    e.activity,
                    e.service,
                    e.note,
                    e.outcome,
                ],
            )

    def close(self) -> None:
        self._wb.close()


class _HealthJsonl:
    def __init__(self, root: Path) -> None:
        self._pf = (root / FILES["health"]["people"]).open("w", encoding="utf-8", newline="\n")
        self._ef = (root / FILES["health"]["events"]).open("w", encoding="utf-8", newline="\n")

    def people(self, rows: Sequence[OrgRecord]) -> None:
        self._pf.writelines(
            json.dumps(
                {
                    "patient_id": r.local_ref,
                    "nhs_number": r.nhs_number,
                    "given_name": r.forename,
                    "family_name": r.surname,
                    "birth_date": r.date_of_birth.isoformat() if r.date_of_birth else None,
                    "sex": {"F": "female", "M": "male"}[r.sex],
                    "address": r.address,
                    "postcode": r.postcode,
                },
                ensure_ascii=False,
            )
            + "\n"
            for r in rows
        )

    def events(self, rows: Sequence[tuple[str, str, str, SimEvent]]) -> None:
        codes, dirs = CHANNEL_CODES["health"], DIRECTION_CODES["health"]
        self._ef.writelines(
            json.dumps(
                {
                    "encounter_id": eid,
                    "patient_id": pref,
                    "episode_ref": case,
                    "start": e.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "mode": codes[e.channel],
                    "initiated_by": dirs[e.direction],
                    "type": e.activity,
                    "service": e.service,
                    "free_text": e.note,
                    "disposition": e.outcome,
                },
                ensure_ascii=False,
            )
            + "\n"
            for eid, pref, case, e in rows
        )

    def close(self) -> None:
        self._pf.close()
        self._ef.close()


def open_exports(root: Path) -> dict[str, Export]:
    """One writer per organisation under ``root``."""
    for org in FILES:
        (root / org).mkdir(parents=True, exist_ok=True)
    return {
        "benefits": _BenefitsCsv(root),
        "tax": _TaxParquet(root),
        "council": _CouncilExcel(root),
        "health": _HealthJsonl(root),
    }

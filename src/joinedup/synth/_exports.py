"""Each organisation's export in its own shape, as real ones are, streamed to disk.

benefits: CSV with dd/mm/yyyy dates and local times; tax: Parquet with UTC timestamps;
council: an Excel workbook with a single "SURNAME, Forename" name column; health: JSON
Lines with ISO 8601 times. Writers take a batch of rows at a time as Arrow tables, so
memory does not grow with the population, and write the same bytes for the same rows.
The text formats are built column by column with Arrow's compute functions rather than
row by row in Python: a million people make some twenty million rows.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from joinedup.synth import _xlsx
from joinedup.synth._text import (
    Column,
    Part,
    csv_field,
    day_first,
    iso,
    json_value,
    lines,
    mapped,
)

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


#: The columns ``Export.people`` takes (a batch of one organisation's person records).
PEOPLE_COLUMNS = (
    "local_ref",
    "forename",
    "surname",
    "date_of_birth",
    "nino",
    "nhs_number",
    "address",
    "postcode",
    "sex",
)
#: The columns ``Export.events`` takes (a batch of one organisation's events, in time order).
EVENT_COLUMNS = (
    "event_ref",
    "person_ref",
    "case_ref",
    "utc",
    "local",
    "channel",
    "direction",
    "activity",
    "service",
    "note",
    "outcome",
)


class Export(Protocol):
    """Writes one organisation's people and events."""

    def people(self, rows: pa.Table) -> None: ...
    def events(self, rows: pa.Table) -> None: ...
    def close(self) -> None: ...


def _header(names: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(names)
    return out.getvalue().encode("utf-8")


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
        self._pf = (root / FILES["benefits"]["people"]).open("wb")
        self._ef = (root / FILES["benefits"]["events"]).open("wb")
        self._pf.write(_header(self.PEOPLE))
        self._ef.write(_header(self.EVENTS))

    def people(self, rows: pa.Table) -> None:
        # As Python's csv module writes them: quoted only where needed, CRLF line ends.
        dob = day_first(rows["date_of_birth"])
        cols = ["local_ref", "forename", "surname", dob, "nino", "address", "postcode", "sex"]
        self._pf.write(lines(_csv_row(rows, cols, free={1, 2, 5}), end="\r\n"))

    def events(self, rows: pa.Table) -> None:
        cols = _event_columns(rows, "benefits", rows["event_ref"], day_first(rows["local"]))
        self._ef.write(lines(_csv_row(rows, cols, free={8}), end="\r\n"))

    def close(self) -> None:
        self._pf.close()
        self._ef.close()


def _event_columns(rows: pa.Table, org: str, ref: Column, when: Column) -> list[Column]:
    """An events batch's columns in the order every export has them: reference, person,
    case, time, channel and direction (in the organisation's codes), activity, service,
    note, outcome."""
    return [
        ref,
        rows["person_ref"],
        rows["case_ref"],
        when,
        mapped(rows["channel"], CHANNEL_CODES[org]),
        mapped(rows["direction"], DIRECTION_CODES[org]),
        rows["activity"],
        rows["service"],
        rows["note"],
        rows["outcome"],
    ]


def _csv_row(rows: pa.Table, cols: list[str | Column], free: set[int]) -> list[Part]:
    """The parts of CSV lines; only the columns numbered in ``free`` (free text: names,
    addresses, notes) can need quoting."""
    parts: list[Part] = []
    for i, c in enumerate(cols):
        if i:
            parts.append(",")
        parts.append(csv_field(rows[c] if isinstance(c, str) else c, plain=i not in free))
    return parts


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

    def people(self, rows: pa.Table) -> None:
        if rows.num_rows:
            cols = ["local_ref", "forename", "surname", "date_of_birth", "nino", "address"]
            self._p.write_table(
                pa.Table.from_arrays(
                    [rows[c] for c in [*cols, "postcode", "sex"]], schema=self.PEOPLE
                )
            )

    def events(self, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        cols = _event_columns(rows, "tax", rows["event_ref"], rows["utc"])
        self._e.write_table(pa.Table.from_arrays(cols, schema=self.EVENTS))

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
        self._wb = _xlsx.StreamingWorkbook(root / FILES["council"]["people"])
        self._sheets: dict[str, list[int]] = {"Residents": [], "Contacts": []}
        self._new_sheet("Residents", self.PEOPLE)
        self._new_sheet("Contacts", self.EVENTS)

    def _new_sheet(self, base: str, header: list[str]) -> None:
        n = len(self._sheets[base]) + 1
        # The contacts, most of the workbook, go straight into the archive as they come.
        sheet = self._wb.add_sheet(base if n == 1 else f"{base} {n}", header, base == "Contacts")
        self._sheets[base].append(sheet)

    def _write(
        self,
        base: str,
        header: list[str],
        columns: list[pa.Array],
        shared: tuple[int, ...] = (),
        plain: tuple[int, ...] = (),
    ) -> None:
        """Write rows, starting a new sheet whenever one is full."""
        done, total = 0, len(columns[0])
        while done < total:
            sheet = self._sheets[base][-1]
            room = EXCEL_SHEET_ROWS - self._wb.rows(sheet)
            if room <= 0:
                self._new_sheet(base, header)
                continue
            take = min(room, total - done)
            self._wb.write_columns(sheet, [c.slice(done, take) for c in columns], shared, plain)
            done += take

    def people(self, rows: pa.Table) -> None:
        name = pc.binary_join_element_wise(
            pc.utf8_upper(rows["surname"]), ", ", rows["forename"], ""
        )
        cols = [rows["local_ref"], name, rows["date_of_birth"], rows["address"], rows["postcode"]]
        self._write("Residents", self.PEOPLE, [_array(c) for c in cols], plain=(0, 4))

    def events(self, rows: pa.Table) -> None:
        ref = pc.cast(rows["event_ref"], pa.int64())
        cols = _event_columns(rows, "council", ref, rows["local"])
        # Method, Type, Reason, Service Area and Status: a few values, shared.
        self._write(
            "Contacts", self.EVENTS, [_array(c) for c in cols], shared=(4, 5, 6, 7, 9), plain=(1, 2)
        )

    def close(self) -> None:
        self._wb.close()


def _array(c: Column) -> pa.Array:
    return c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c


class _HealthJsonl:
    def __init__(self, root: Path) -> None:
        self._pf = (root / FILES["health"]["people"]).open("wb")
        self._ef = (root / FILES["health"]["events"]).open("wb")

    def people(self, rows: pa.Table) -> None:
        # As json.dumps(..., ensure_ascii=False) writes them, one object a line.
        sex = mapped(rows["sex"], {"F": "female", "M": "male"})
        fields = {
            "patient_id": rows["local_ref"],
            "nhs_number": rows["nhs_number"],
            "given_name": rows["forename"],
            "family_name": rows["surname"],
            "birth_date": iso(rows["date_of_birth"]),
            "sex": sex,
            "address": rows["address"],
            "postcode": rows["postcode"],
        }
        free = {"given_name", "family_name", "address"}
        self._pf.write(lines(_json_row(fields, free), end="\n"))

    def events(self, rows: pa.Table) -> None:
        when = iso(rows["utc"])  # whole minutes: nothing is lost at the second
        keys = "encounter_id patient_id episode_ref start mode initiated_by type service"
        keys += " free_text disposition"
        cols = _event_columns(rows, "health", rows["event_ref"], when)
        fields = dict(zip(keys.split(), cols, strict=True))
        self._ef.write(lines(_json_row(fields, {"free_text"}), end="\n"))

    def close(self) -> None:
        self._pf.close()
        self._ef.close()


def _json_row(fields: dict[str, Column], free: set[str]) -> list[Part]:
    """The parts of JSON lines; only the fields named in ``free`` (free text) can need
    escaping."""
    parts: list[Part] = []
    for i, (key, col) in enumerate(fields.items()):
        lead = ("{" if i == 0 else ", ") + f'"{key}": '
        if key not in free and col.null_count == 0:
            parts += [lead + '"', col, '"']  # the quotes join the line's literal text
        else:
            parts += [lead, json_value(col, plain=key not in free)]
    parts.append("}")
    return parts


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

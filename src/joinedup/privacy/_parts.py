"""Encoding a large table in parts, side by side, one process per core.

Each record's encoding depends on that record alone (and the secret), so consecutive
parts of a table can be encoded at once and put back in order: the result is the same
as one process's. This process encodes the first part; each other part goes to a new
Python process (``python -m joinedup.privacy._helper``) through pipes: the records and
the secret on its standard input, the encodings back on its standard output, as Arrow
streams. Nothing is written to disk, the secret never appears on a command line or in
the environment, and a user's script is not imported again in the helper (as
``multiprocessing``'s spawn would do).
"""

from __future__ import annotations

import contextlib
import json
import struct
import subprocess
import sys
import threading
from typing import IO

import pyarrow as pa
import pyarrow.ipc as ipc

from joinedup.privacy import _columns as cols
from joinedup.privacy._encode import Encoder, encode_table
from joinedup.privacy._errors import PrivacyError
from joinedup.privacy._schema import Kind, Schema

#: Records a part must have for its process to be worth starting: a new process spends
#: a second or two importing before it encodes anything, the work of some 30,000 records.
PART_ROWS = 100_000


def encode(
    table: pa.Table, schema: Schema, secret: bytes | None, processes: int
) -> tuple[pa.Table, list[str]]:
    """``table``'s encodings and notes, in up to ``processes`` parts of at least
    :data:`PART_ROWS` records each."""
    encoder = Encoder(secret, schema.bloom)
    parts = max(1, min(processes, table.num_rows // PART_ROWS))
    if parts == 1:
        return encode_table(table, schema, encoder)
    table, notes = _dates_read(table, schema)
    size = -(-table.num_rows // parts)
    helpers = [
        _start(table.slice(lo, size), schema, secret) for lo in range(size, table.num_rows, size)
    ]
    try:
        first, _ = encode_table(table.slice(0, size), schema, encoder)
        starts = range(size, table.num_rows, size)
        encoded = [first, *(_finish(h, lo) for h, lo in zip(helpers, starts, strict=True))]
    finally:
        for proc, feeder in helpers:
            if proc.poll() is None:  # stopped early: this part failed, or another did
                proc.kill()
            feeder.join()
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
    return pa.concat_tables(encoded), notes


def _dates_read(table: pa.Table, schema: Schema) -> tuple[pa.Table, list[str]]:
    """The table with each text date-of-birth column read as dates, whole, so that one
    layout holds for every part (and is reported once)."""
    notes: list[str] = []
    for spec in schema.fields:
        col = table.column(spec.column)
        if spec.kind == Kind.DOB and not pa.types.is_date(col.type):
            d, note = cols.dates(col, spec.column)
            notes += [note] if note else []
            i = table.column_names.index(spec.column)
            table = table.set_column(i, spec.column, d.spread(d.values, pa.date32()))
    return table, notes


Helper = tuple[subprocess.Popen[bytes], threading.Thread]


def _start(part: pa.Table, schema: Schema, secret: bytes | None) -> Helper:
    """A helper process encoding ``part``, fed from a thread so that this process can
    get on with its own part while the helper starts."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "joinedup.privacy._helper"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    head = json.dumps(
        {
            "secret": None if secret is None else secret.hex(),
            "schema": schema.model_dump(mode="json"),
        }
    ).encode()

    def feed() -> None:
        assert proc.stdin is not None
        # A helper that fails stops reading; _finish reports it.
        with contextlib.suppress(BrokenPipeError), proc.stdin:
            proc.stdin.write(struct.pack("<I", len(head)) + head)
            write(proc.stdin, part)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    return proc, feeder


def _finish(helper: Helper, first_row: int) -> pa.Table:
    proc, feeder = helper
    assert proc.stdout is not None
    try:
        encoded = ipc.open_stream(proc.stdout).read_all()
    except pa.ArrowInvalid:
        encoded = None
    feeder.join()
    if proc.wait() != 0 or encoded is None:
        raise PrivacyError(
            f"the process encoding records from {first_row + 1:,} on failed (exit code "
            f"{proc.returncode}); its message is above"
        )
    return encoded


def write(out: IO[bytes], table: pa.Table) -> None:
    """``table`` as an Arrow stream."""
    with ipc.new_stream(out, table.schema) as writer:
        writer.write_table(table)

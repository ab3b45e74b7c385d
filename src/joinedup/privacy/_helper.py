"""A helper process encoding one part of a table (see ``_parts``): the header and the
records come on standard input, the encodings go to standard output, as Arrow streams."""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import Any

import pyarrow.ipc as ipc

from joinedup.privacy._encode import Encoder, encode_table
from joinedup.privacy._parts import write
from joinedup.privacy._schema import Schema


def main() -> None:
    # The encodings own standard output: anything else printed goes to standard error.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    (size,) = struct.unpack("<I", source.read(4))
    head: dict[str, Any] = json.loads(source.read(size))
    table = ipc.open_stream(source).read_all()
    secret = None if head["secret"] is None else bytes.fromhex(head["secret"])
    schema = Schema.model_validate(head["schema"])
    encoded, _ = encode_table(table, schema, Encoder(secret, schema.bloom))
    write(out, encoded)
    out.close()


if __name__ == "__main__":
    main()

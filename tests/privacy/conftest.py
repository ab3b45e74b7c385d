"""Helpers for privacy tests: every plain value an input holds, in the forms it may take."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from joinedup.privacy import _normalise as norm

SECRET = b"a-test-secret-of-the-sharing-agreement-0123456789"
IDENTITY = ["forename", "surname", "date_of_birth", "postcode", "address", "nino", "nhs_number"]


def plain_values(people: pa.Table) -> set[str]:
    """Every identity value in ``people``, as written and as normalised, in lower case."""
    found: set[str] = set()
    for col in IDENTITY:
        if col not in people.column_names:
            continue
        for v in people.column(col).to_pylist():
            if v is None:
                continue
            if isinstance(v, date):
                found |= {v.isoformat(), v.strftime("%d/%m/%Y"), v.strftime("%Y%m%d")}
                continue
            found.add(str(v))
            found.add(norm.text(str(v)))
            pc = norm.postcode(str(v)) if col == "postcode" else None
            if pc:
                found |= {pc[0], pc[0].replace(" ", "")}
    return {v.lower() for v in found if v}


def cells(table: pa.Table) -> set[str]:
    """Every value of every text and list column, in lower case."""
    out: set[str] = set()
    for col in table.columns:
        t = col.type
        if pa.types.is_list(t):
            for v in col.to_pylist():
                out |= {str(x).lower() for x in v or []}
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            out |= {str(v).lower() for v in col.to_pylist() if v is not None}
    return out


#: Words of the format itself (column names, header keys): a surname such as Field or
#: Bloom is found in them without leaking anything.
VOCABULARY = (
    "joinedup-encoding keyed plain format version mode org records key_check bloom bits "
    "hashes fields name kind forename surname fullname dob sex postcode address exact_id "
    "text nino nhs_number local_person_ref person_id match_probability __alias __parts "
    "__tok __swap __out __pop __bf bk__dob_sn1 bk__dsw_sn1 bk__dob_fn1 bk__sn_yob_fn1 bk__fnsn "
    "bk__fn_sn_out bk__pc_yob bk__pc_fn1 bk__pc_sn1 bk__addr"
    # the match-weight chart's own words: level labels and Splink's titles
    " missing exact all other day and month swapped three of day, month, year, decade "
    "same outward code nickname or formal name one part of a double-barrelled name dice "
    "jaro-winkler comparison level match weight partial components final prior starting "
    "use mousewheel to zoom"
)
_FORMAT_WORDS = frozenset(re.findall(r"[a-z0-9_-]+", VOCABULARY))


def assert_no_plain_values(paths: list[Path], values: set[str]) -> None:
    """No value appears in any file's bytes (values of five characters or more: shorter
    ones occur by chance in random bytes), nor as a decoded cell, nor in the metadata."""
    values = {v for v in values if v not in VOCABULARY}
    long_values = [v.encode() for v in values if len(v) >= 5]
    for path in paths:
        if path.suffix in (".svg", ".json"):
            _check_text(path, values)
            continue
        raw = path.read_bytes().lower()
        if path.suffix == ".parquet":
            # The footer keeps the Arrow schema base64-encoded, where five letters can
            # spell a name by chance; what it encodes is checked below, decoded.
            arrow = (pq.read_metadata(path).metadata or {}).get(b"ARROW:schema")
            if arrow:
                raw = raw.replace(arrow.lower(), b"")
        found = [v for v in long_values if v in raw]
        assert not found, f"{path} holds plain values, e.g. {found[:3]}"
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            leaked = sorted(values & cells(table))
            assert not leaked, f"{path} holds plain values: {leaked[:3]}"
            meta = (
                " ".join(
                    f"{k.decode()} {v.decode()}" for k, v in (table.schema.metadata or {}).items()
                )
                .lower()
                .encode()
            )
            found = [v for v in long_values if v in meta]
            assert not found, f"{path} metadata holds plain values, e.g. {found[:3]}"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    p = tmp_path / "key"
    p.write_bytes(SECRET + b"\n")
    return p


def _check_text(path: Path, values: set[str]) -> None:
    """A chart or model file: the text a reader sees (SVG text nodes, JSON strings), not
    its styling words (a surname such as White is also a colour)."""
    if path.suffix == ".svg":
        root = ElementTree.fromstring(path.read_text(encoding="utf-8"))
        texts = ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("text")]
    else:
        texts = []

        def walk(node: object) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    texts.append(str(k))
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
            else:
                texts.append(str(node))

        walk(json.loads(path.read_text(encoding="utf-8")))
    assert texts, f"{path}: no text found to check"
    joined = " | ".join(texts).lower()
    words = set(re.findall(r"[\w/-]+", joined))
    found = [
        v
        for v in values
        if len(v) >= 3
        and v not in _FORMAT_WORDS
        and (v in words if re.fullmatch(r"[\w/-]+", v) else v in joined)
    ]
    assert not found, f"{path} shows plain values, e.g. {found[:3]}"

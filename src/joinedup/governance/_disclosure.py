"""Statistical disclosure control for every table that leaves the workspace.

:func:`disclose` takes an Arrow table of counts (and money) by one or more dimensions and
returns it safe to publish, with footnotes. The rules come from the agreement's output
rules (defaults: counts under 10 and zeros suppressed, two largest contributors over 90%
of a money total suppressed, counts rounded to 5); secondary suppression keeps every
suppressed value from being worked out from totals. Suppressed values are never in the
result: the value is null and a marker (``[c]``, the Government Statistical Service's
symbol for confidential) stands in its place.

:func:`tabulate` builds such a table from one row per contact (or per payment), with the
sum of each money column's largest contributions that the dominance rule needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joinedup.governance._agreement import OutputRules
from joinedup.governance._audit import AuditLog
from joinedup.governance._errors import AccessDenied, DisclosureError
from joinedup.governance._policy import User, can
from joinedup.governance._suppress import MAX_CELLS, Cube, add_margins, cube_lines, protect

__all__ = ["MARKER", "TOP_SUFFIX", "Disclosed", "disclose", "tabulate"]

#: Shown instead of a suppressed value (GSS guidance on symbols in tables: "[c]").
MARKER = "[c]"
#: A money column ``m`` needs ``m + TOP_SUFFIX``: the sum of its largest contributions.
TOP_SUFFIX = "_top"
#: Label of a margin row when ``totals=True``.
TOTAL = "Total"


class Disclosed(NamedTuple):
    """A table that is safe to publish, and the footnotes that must go with it."""

    table: pa.Table
    notes: list[str]


def disclose(
    table: pa.Table,
    *,
    by: Sequence[str],
    counts: Sequence[str] = (),
    money: Sequence[str] = (),
    units: str | None = None,
    rules: OutputRules | None = None,
    totals: bool = False,
    markers: Literal["column", "inline"] = "column",
    enabled: bool = True,
    audit: AuditLog | None = None,
    who: str | User | None = None,
    output: str | None = None,
    keep: Sequence[str] = (),
    rests_on: Mapping[str, Sequence[str]] | None = None,
) -> Disclosed:
    """Apply disclosure control to a table of counts and money by ``by``.

    ``counts`` are whole, additive counts (each contact in one cell); ``money`` columns
    are non-negative sums, each with a ``<column>_top`` column (see :func:`tabulate`);
    ``units`` is the count of contributors behind the money (the first count by default).
    Missing combinations of ``by`` are zeros and appear in the result. With
    ``totals=True`` margin rows labelled ``Total`` are added; margins are protected
    either way, since a reader may know them from elsewhere.

    ``markers="column"`` keeps value columns numeric (null where suppressed) and adds a
    ``<column>_marker`` text column; ``"inline"`` turns value columns into text with the
    marker in place, for pages and CSV meant for people.

    ``enabled=False`` (the ``--no-disclosure-control`` flag, for work inside a secure
    setting only) returns the table untouched and is refused unless ``audit`` is given,
    where it is recorded with ``who`` and ``output``. When ``who`` is a :class:`User`,
    their role must allow it (``can(user, "no_disclosure_control")``).

    ``keep`` names other columns to carry along, such as a median duration: statistics
    of the same cell, withheld wherever the cell is (as its values are: null with a
    marker beside it, or the marker in place). Keep only figures from which a count
    cannot be worked out (a share of a published total would undo the rounding).
    ``rests_on`` maps a kept column to count columns of ``table`` that it reveals (a
    share of episodes off the main paths reveals how many are off them, and how many
    on): it is withheld too wherever one of them is above zero and under the threshold.
    Those count columns are not published.
    """
    rules = rules or OutputRules()
    by, counts, money, keep = list(by), list(counts), list(money), list(keep)
    behind = {k: list(v) for k, v in (rests_on or {}).items()}
    if set(behind) - set(keep):
        raise DisclosureError(f"rests_on: {sorted(set(behind) - set(keep))} are not kept")
    hidden_counts = sorted({c for v in behind.values() for c in v})
    if keep:
        missing = [k for k in [*keep, *hidden_counts] if k not in table.column_names]
        if missing:
            raise DisclosureError(
                f"keep: column(s) {missing} not in the table {table.column_names}"
            )
        clash = {*keep, *hidden_counts} & {*by, *counts, *money, *(m + TOP_SUFFIX for m in money)}
        if clash:
            raise DisclosureError(f"keep: {sorted(clash)} are already dimensions or values")
        if enabled:
            safe, notes = disclose(
                table.drop_columns([*keep, *hidden_counts]),
                by=by,
                counts=counts,
                money=money,
                units=units,
                rules=rules,
                totals=totals,
                markers=markers,
                audit=audit,
                who=who,
                output=output,
            )
            floor = rules.threshold
            out = _carry(safe, table, by, keep, [*counts, *money], markers, behind, floor)
            notes += [
                f"{k} is also withheld where it would reveal a count under {floor}." for k in behind
            ]
            return Disclosed(out, notes)
    if hidden_counts:
        table = table.drop_columns(hidden_counts)
    _check_columns(table, by, counts, money, units)
    if isinstance(who, User):
        if not enabled and not can(who, "no_disclosure_control"):
            raise AccessDenied(
                f"{who.username} ({who.role.value}) may not turn disclosure control off: "
                "only an administrator, inside the secure setting"
            )
        who = who.username
    if not enabled:
        if audit is None:
            raise DisclosureError(
                "disclosure control can only be turned off with an audit log to record it "
                "(pass audit=AuditLog(workspace))"
            )
        audit.append(
            who,
            "disclosure.off",
            {"output": output, "rows": table.num_rows, "columns": counts + money, "by": by},
        )
        plain = table.drop_columns([m + TOP_SUFFIX for m in money])
        return Disclosed(
            plain,
            [
                "Disclosure control was turned off for this output: it is "
                "not cleared for release outside the secure setting."
            ],
        )
    if not by:
        raise DisclosureError("disclose needs at least one 'by' column to form a table")
    units = units or (counts[0] if counts else None)
    if money and units is None:
        raise DisclosureError(
            "money needs a count of the contributors behind it: pass units='<count column>'"
        )
    value_cols = counts + money + ([units] if units and units not in counts else [])

    levels = [_levels(table, b) for b in by]
    shape_in = tuple(len(lv) for lv in levels)
    shape = tuple(n + 1 for n in shape_in)
    ncells = int(np.prod(shape))
    if ncells > MAX_CELLS * 10:
        raise DisclosureError(
            f"the table has {ncells:,} cells with its totals: too many to protect; publish "
            f"fewer dimensions or group small categories together"
        )
    index = _cell_index(table, by, levels)
    if len(set(index.tolist())) != len(index):
        raise DisclosureError(f"the table has more than one row for some {by} combination")

    interior: dict[str, np.ndarray] = {}
    for col in [*value_cols, *(m + TOP_SUFFIX for m in money)]:
        arr = np.zeros(shape_in, dtype=np.float64)
        arr.flat[index] = _numbers(table, col)
        interior[col] = arr
    values = {c: add_margins(interior[c]).ravel() for c in value_cols}
    cube = Cube(shape, values, frozenset(counts) | ({units} if units else set()))
    cube.lines = cube_lines(shape)

    primary = np.zeros(ncells, dtype=bool)
    for c in counts + ([units] if units and units not in counts else []):
        v = values[c]
        primary |= (v < rules.threshold) & ((v > 0) | rules.suppress_zeros)
    dominated = np.zeros(ncells, dtype=bool)
    for m in money:
        tops = _margin_tops(interior[m + TOP_SUFFIX], shape, rules.dominance.contributors)
        total = values[m]
        dominated |= (total > 0) & (tops > rules.dominance.share * total + 1e-9)
    primary |= dominated
    order = values[units] if units else values[value_cols[0]]
    suppressed = protect(cube, primary, order)

    out = _assemble(
        table, by, levels, shape, values, counts, money, suppressed, rules, totals, markers
    )
    notes = _notes(rules, counts, money, int(suppressed.sum()), totals)
    if audit is not None:
        audit.append(
            who,
            "disclosure.apply",
            {
                "output": output,
                "cells": ncells,
                "suppressed": int(suppressed.sum()),
                "primary": int(primary.sum()),
                "threshold": rules.threshold,
                "rounding_base": rules.rounding_base,
            },
        )
    return Disclosed(out, notes)


def _check_columns(
    table: pa.Table, by: list[str], counts: list[str], money: list[str], units: str | None
) -> None:
    if not counts and not money:
        raise DisclosureError("name the count and/or money columns to protect")
    need = [*by, *counts, *money, *(m + TOP_SUFFIX for m in money)]
    if units:
        need.append(units)
    missing = [c for c in need if c not in table.column_names]
    if missing:
        hint = ""
        if any(c.endswith(TOP_SUFFIX) for c in missing):
            hint = " (money needs its largest contributions: build the table with tabulate())"
        raise DisclosureError(
            f"column(s) {missing} not in the table{hint}; it has {table.column_names}"
        )
    overlap = set(by) & set(counts + money)
    if overlap:
        raise DisclosureError(f"{sorted(overlap)} cannot be both a dimension and a value")


def _numbers(table: pa.Table, col: str) -> np.ndarray:
    arr = table.column(col)
    if not (
        pa.types.is_integer(arr.type)
        or pa.types.is_floating(arr.type)
        or pa.types.is_decimal(arr.type)
    ):
        raise DisclosureError(f"column {col!r} holds {arr.type}, not numbers")
    if arr.null_count:
        raise DisclosureError(f"column {col!r} has {arr.null_count} empty value(s)")
    v = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    if (v < 0).any():
        raise DisclosureError(
            f"column {col!r} has negative values: counts and money totals must be zero or more"
        )
    return v


def _levels(table: pa.Table, col: str) -> list[Any]:
    values = table.column(col).unique().to_pylist()
    return sorted(values, key=lambda v: (v is None, str(type(v)), v if v is not None else 0))


def _cell_index(table: pa.Table, by: list[str], levels: list[list[Any]]) -> np.ndarray:
    positions = []
    for col, lv in zip(by, levels, strict=True):
        where = {v: i for i, v in enumerate(lv)}
        positions.append(np.array([where[v] for v in table.column(col).to_pylist()], dtype=int))
    shape = tuple(len(lv) for lv in levels)
    return np.ravel_multi_index(tuple(positions), shape) if positions[0].size else np.array([], int)


def _margin_tops(top: np.ndarray, shape: tuple[int, ...], k: int) -> np.ndarray:
    """The largest-contributions sum for every cell of the cube.

    Inside the table it is given. For a margin it is bounded above by the sum of the
    ``k`` largest cell values within it (exact when each contributor sits in one cell):
    the bound can only make the rule suppress more, never less.
    """
    out = np.zeros(shape)
    for idx in np.ndindex(*shape):
        block = top[
            tuple(slice(None) if i == n - 1 else i for i, n in zip(idx, shape, strict=True))
        ]
        flat = np.sort(np.ravel(block))[::-1]
        out[idx] = flat[:k].sum() if flat.size > 1 else flat.sum()
    return out.ravel()


def _round(v: float, base: int) -> int:
    return int(math.floor(v / base + 0.5) * base)


def _assemble(
    table: pa.Table,
    by: list[str],
    levels: list[list[Any]],
    shape: tuple[int, ...],
    values: dict[str, np.ndarray],
    counts: list[str],
    money: list[str],
    suppressed: np.ndarray,
    rules: OutputRules,
    totals: bool,
    markers: str,
) -> pa.Table:
    cells = [
        idx
        for idx in np.ndindex(*shape)
        if totals or all(i < n - 1 for i, n in zip(idx, shape, strict=True))
    ]
    flat = [int(np.ravel_multi_index(idx, shape)) for idx in cells]
    data: dict[str, Any] = {}
    fields = []
    for d, col in enumerate(by):
        labels = [TOTAL if idx[d] == shape[d] - 1 else levels[d][idx[d]] for idx in cells]
        if totals:
            labels = [lab if lab is None or lab == TOTAL else str(lab) for lab in labels]
            fields.append(pa.field(col, pa.string()))
        else:
            fields.append(table.schema.field(col))
        data[col] = labels
    hidden = [bool(suppressed[i]) for i in flat]
    for col in counts + money:
        is_count = col in counts
        shown: list[Any] = []
        for i, h in zip(flat, hidden, strict=True):
            v = float(values[col][i])
            shown.append(None if h else (_round(v, rules.rounding_base) if is_count else v))
        if markers == "inline":
            data[col] = [
                MARKER if s is None else (str(s) if is_count else f"{s:.2f}") for s in shown
            ]
            fields.append(pa.field(col, pa.string()))
        else:
            data[col] = shown
            fields.append(pa.field(col, pa.int64() if is_count else pa.float64()))
            data[col + "_marker"] = [MARKER if h else None for h in hidden]
            fields.append(pa.field(col + "_marker", pa.string()))
    out = pa.table(data, schema=pa.schema(fields))
    if len(by) and not totals:
        out = out.sort_by([(b, "ascending") for b in by])
    return out


def _notes(
    rules: OutputRules, counts: list[str], money: list[str], n: int, totals: bool
) -> list[str]:
    why = [f"a count under {rules.threshold}"]
    if rules.suppress_zeros:
        why.append("a zero")
    if money:
        d = rules.dominance
        why.append(
            f"an amount where the {d.contributors} largest contributors make up more than "
            f"{d.share:.0%} of it"
        )
    notes = [
        f"{MARKER} confidential: the value is withheld because it is {', '.join(why)}, or "
        f"because it would let a withheld value be worked out from the totals "
        f"({n} value{'s' if n != 1 else ''} withheld)."
    ]
    if counts and rules.rounding_base > 1:
        notes.append(
            f"Counts are rounded to the nearest {rules.rounding_base}"
            + (
                "; totals are rounded on their own, so rows may not add up to them."
                if totals
                else "."
            )
        )
    return notes


def tabulate(
    rows: pa.Table,
    *,
    by: Sequence[str],
    money: Sequence[str] = (),
    unit: str | None = None,
    contributors: int = 2,
    count: str = "n",
) -> pa.Table:
    """Counts and money by ``by`` from one row per contact (or payment), ready for
    :func:`disclose`: ``count`` rows per cell, each money column's sum and
    ``<column>_top``, the sum of its ``contributors`` largest contributions. A
    contributor is a row or, with ``unit`` (e.g. ``person_id``), everything one unit
    contributes to the cell; then a ``units`` column counts the distinct units."""
    by, money = list(by), list(money)
    wanted = [*by, *money, *([unit] if unit else [])]
    missing = [c for c in wanted if c not in rows.column_names]
    if missing:
        raise DisclosureError(f"column(s) {missing} not in the rows; they have {rows.column_names}")
    result = _renamed(
        rows.group_by(by, use_threads=False).aggregate([([], "count_all")]), {"count_all": count}
    )
    contrib = rows
    if unit:
        contrib = _renamed(
            rows.group_by([*by, unit], use_threads=False).aggregate([(m, "sum") for m in money]),
            {m + "_sum": m for m in money},
        )
        n_units = contrib.group_by(by, use_threads=False).aggregate([([], "count_all")])
        result = result.join(_renamed(n_units, {"count_all": "units"}), by)
    if money:
        grouped = contrib.group_by(by, use_threads=False).aggregate(
            [(m, "sum") for m in money] + [(m, "list") for m in money]
        )
        for m in money:
            tops = [
                float(sum(sorted((x or 0.0 for x in v), reverse=True)[:contributors]))
                for v in grouped.column(m + "_list").to_pylist()
            ]
            grouped = grouped.append_column(m + TOP_SUFFIX, pa.array(tops, pa.float64()))
        grouped = grouped.drop_columns([m + "_list" for m in money])
        grouped = _renamed(grouped, {m + "_sum": m for m in money})
        for m in money:
            at = grouped.column_names.index(m)
            grouped = grouped.set_column(at, m, pc.cast(grouped.column(m), pa.float64()))
        result = result.join(grouped, by)
    return result.sort_by([(b, "ascending") for b in by])


def _renamed(table: pa.Table, names: dict[str, str]) -> pa.Table:
    return table.rename_columns([names.get(c, c) for c in table.column_names])


def _carry(
    safe: pa.Table,
    table: pa.Table,
    by: list[str],
    keep: list[str],
    values: list[str],
    markers: str,
    behind: dict[str, list[str]],
    threshold: int,
) -> pa.Table:
    """Join ``keep`` columns back onto the published rows, withheld where the cell is
    (and where a count in ``behind`` is above zero and under ``threshold``)."""

    def key(row: dict[str, Any]) -> tuple[str, ...]:
        # Totals turn the dimensions into text; compare as text either way.
        return tuple("" if row[b] is None else str(row[b]) for b in by)

    extra = sorted({c for v in behind.values() for c in v})
    source = {key(r): r for r in table.select([*by, *keep, *extra]).to_pylist()}
    rows = safe.to_pylist()
    hidden = [
        (r[values[0]] == MARKER if markers == "inline" else r[values[0] + "_marker"] == MARKER)
        for r in rows
    ]
    out = safe
    for k in keep:

        def small(row: dict[str, Any], k: str = k) -> bool:
            return any(0 < (row.get(c) or 0) < threshold for c in behind.get(k, ()))

        withheld = [h or small(source.get(key(r), {})) for r, h in zip(rows, hidden, strict=True)]
        got = [
            None if h else source.get(key(r), {}).get(k)
            for r, h in zip(rows, withheld, strict=True)
        ]
        if markers == "inline":
            text = [
                MARKER if h else ("" if v is None else str(v))
                for v, h in zip(got, withheld, strict=True)
            ]
            out = out.append_column(k, pa.array(text, pa.string()))
        else:
            kind = table.schema.field(k).type
            out = out.append_column(pa.field(k, kind), pa.array(got, kind))
            out = out.append_column(
                k + "_marker", pa.array([MARKER if h else None for h in withheld], pa.string())
            )
    return out

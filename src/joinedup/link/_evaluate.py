"""Scoring links against the truth: pairwise precision, recall and F1.

Two records form a predicted pair when they share a ``person_id`` and a true pair when
they are the same person. Counting pairs within groups (n records make n(n-1)/2 pairs)
needs no pair table, so evaluation stays cheap at millions of records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from joinedup.engine import connect
from joinedup.link._errors import LinkageError
from joinedup.workspace import Workspace


@dataclass(frozen=True)
class Evaluation:
    """Pairwise counts and rates, and how many clusters mix two or more true people."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    clusters: int
    mixed_clusters: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _table(source: Path | str | pa.Table | Workspace, what: str, cols: list[str]) -> pa.Table:
    if isinstance(source, Workspace):
        table = source.read("links")
    elif isinstance(source, pa.Table):
        table = source
    else:
        p = Path(source)
        if p.is_dir():
            with Workspace(p, create=False) as ws:
                table = ws.read("links")
        elif not p.exists():
            raise LinkageError(f"no {what} file at {p}")
        else:
            try:
                table = pq.read_table(p)
            except (pa.ArrowInvalid, OSError) as exc:
                raise LinkageError(f"cannot read {what} {p} as Parquet: {exc}") from None
    missing = [c for c in cols if c not in table.column_names]
    if missing:
        raise LinkageError(f"the {what} lacks column(s) {', '.join(missing)}")
    return table.select(cols)


def evaluate(truth: Path | str | pa.Table, links: Path | str | pa.Table | Workspace) -> Evaluation:
    """Compare ``links`` (org, local_person_ref, person_id) with the truth's true
    ``person_id`` per (org, local_person_ref). Records the links lack count as unlinked."""
    cols = ["org", "local_person_ref", "person_id"]
    t = _table(truth, "truth", cols)
    lk = _table(links, "links", cols)
    with connect("duckdb") as eng:
        eng.register("truth", t)
        eng.register("links", lk)
        unknown = eng.count(
            eng.sql(
                "SELECT 1 FROM links l ANTI JOIN truth t "
                "ON l.org = t.org AND l.local_person_ref = t.local_person_ref"
            )
        )
        if unknown:
            raise LinkageError(
                f"{unknown} linked record(s) are not in the truth: is it the truth of "
                "the same data?"
            )
        row = eng.to_arrow(
            eng.sql(
                """
            WITH j AS (
                SELECT t.person_id AS truth_id,
                       coalesce(l.person_id, 'unlinked:' || t.org || ':' || t.local_person_ref)
                           AS link_id
                FROM truth t LEFT JOIN links l
                  ON l.org = t.org AND l.local_person_ref = t.local_person_ref
            ),
            tp AS (SELECT count(*) AS n FROM j GROUP BY truth_id),
            pp AS (
                SELECT count(*) AS n, count(DISTINCT truth_id) AS people
                FROM j GROUP BY link_id
            ),
            cp AS (SELECT count(*) AS n FROM j GROUP BY truth_id, link_id)
            SELECT
                (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM tp) AS true_pairs,
                (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM pp) AS predicted_pairs,
                (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM cp) AS correct_pairs,
                (SELECT count(*) FROM pp) AS clusters,
                (SELECT count(*) FILTER (WHERE people > 1) FROM pp) AS mixed_clusters
            """
            )
        ).to_pylist()[0]
    return Evaluation(**{k: int(v) for k, v in row.items()})

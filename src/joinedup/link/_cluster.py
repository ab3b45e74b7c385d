"""Single-best-links clustering in process, the same groups as Splink's, in a second.

Splink's ``cluster_using_single_best_links`` (``one_to_one_clustering``) runs one SQL
pass over every record per iteration, with two window ranks over every link, and joins
the clusters back to all the input columns: about 40 s of the 140 s of linking a million
people. The rule it iterates is simple enough to run on arrays, so this module runs the
same iteration, step for step, on the links above the threshold:

1. each cluster (the records sharing a representative) holds the organisations of its
   records; a link between two clusters is allowed when they are different clusters
   holding no organisation in common (every organisation is duplicate-free here);
2. a link is kept when it is the best allowed link of both of its clusters: highest
   probability first, then the lowest record id at the other end (SQL's
   ``rank() ... = 1``, so equal keys both rank first);
3. each end of a kept link takes the lower of its own representative and the other
   end's; the other records keep theirs (Splink's rule, which this copies as it is);
4. until no representative changes.

Record ids are Splink's (``org || '-__-' || local_person_ref``) ranked in the engine's
own string order, so "lowest id" and "lower representative" compare as its SQL does, and
a cluster's id is the id of its representative, as Splink's ``cluster_id`` is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba as nb
import numpy as np
import pyarrow as pa

from joinedup._numba import use_cache_beside
from joinedup._sql import lit
from joinedup.engine import Engine
from joinedup.link._errors import LinkageError

use_cache_beside(__file__)

#: Splink's separator between the columns of a composite record id.
SEPARATOR = "-__-"


def person_id_sql(record_id: str) -> str:
    """SQL for the ``person_id`` of a cluster whose id (its representative record's, as
    Splink's ``cluster_id``) is the text ``record_id``: a digest that means nothing
    outside the run."""
    return f"'P' || substr(md5({record_id}), 1, 16)"


#: Organisations are bits of a 64-bit mask (the sign bit left out).
MAX_ORGANISATIONS = 63


def representatives(
    n: int,
    orgs: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    probability: np.ndarray,
) -> np.ndarray:
    """Each record's representative after single-best-links clustering.

    Records are ``0 .. n-1`` in id order; ``orgs[i]`` is a bit mask of record i's
    duplicate-free organisations (0 for one that may hold duplicates); the links
    ``left[k]``–``right[k]`` with ``probability[k]`` are those at or above the threshold.
    """
    return _representatives(
        n,
        np.ascontiguousarray(orgs, dtype=np.uint64),
        np.ascontiguousarray(left, dtype=np.int64),
        np.ascontiguousarray(right, dtype=np.int64),
        np.ascontiguousarray(probability, dtype=np.float64),
    )


@nb.njit(nogil=True, cache=True)
def _representatives(
    n: int, orgs: np.ndarray, left: np.ndarray, right: np.ndarray, prob: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    rep = np.arange(n)
    held = np.zeros(n, dtype=np.uint64)
    best = np.empty(n, dtype=np.float64)
    lowest = np.empty(n, dtype=np.int64)
    while True:
        held[:] = 0
        for i in range(n):
            held[rep[i]] |= orgs[i]
        best[:] = -np.inf
        lowest[:] = n
        # A link ranks first in a cluster when no other allowed link of the cluster has
        # a higher probability, or the same and a lower id at its far end. Splink ranks
        # the links into a cluster by their near end; over all links both ways that is
        # the same as the links out of it by their far end, so one pass ranks both.
        for k in range(len(left)):
            a, b, p = left[k], right[k], prob[k]
            ra, rb = rep[a], rep[b]
            if ra == rb or held[ra] & held[rb]:
                continue
            if p > best[ra] or (p == best[ra] and b < lowest[ra]):
                best[ra], lowest[ra] = p, b
            if p > best[rb] or (p == best[rb] and a < lowest[rb]):
                best[rb], lowest[rb] = p, a
        new = rep.copy()
        for k in range(len(left)):
            a, b, p = left[k], right[k], prob[k]
            ra, rb = rep[a], rep[b]
            if ra == rb or held[ra] & held[rb]:
                continue
            if best[ra] == p and lowest[ra] == b and best[rb] == p and lowest[rb] == a:
                new[a] = min(new[a], rb)
                new[b] = min(new[b], ra)
        if (new == rep).all():
            return rep
        rep = new


def cluster(
    engine: Engine,
    staged: Sequence[str],
    predictions: str,
    threshold: float,
    duplicate_free: Sequence[str],
) -> pa.Table:
    """The links table (org, local_person_ref, person_id, match_probability) of the
    single-best-links clusters of the scored pairs in ``predictions`` at ``threshold``.

    ``person_id`` digests the cluster id as before (the id of the cluster's
    representative record); a record's probability is that of its strongest link inside
    its cluster (none for a record linked to nobody)."""
    if len(duplicate_free) > MAX_ORGANISATIONS:
        raise LinkageError(
            f"one record per person can be kept for at most {MAX_ORGANISATIONS} "
            f"organisations, not {len(duplicate_free)}"
        )
    rows = " UNION ALL ".join(f"SELECT org, local_person_ref FROM {t}" for t in staged)
    node_id = f"org || '{SEPARATOR}' || local_person_ref"
    # Each duplicate-free organisation as one bit of a mask.
    bits = " ".join(f"WHEN {lit(o)} THEN {1 << k}" for k, o in enumerate(duplicate_free))
    bit = f"CASE org {bits} ELSE 0 END" if bits else "0"
    nodes = "joinedup_link_nodes"
    # The digest of every record's id: a cluster's person_id is its representative's.
    engine.stage(
        nodes,
        f"SELECT org, local_person_ref, dense_rank() OVER (ORDER BY {node_id}) - 1 AS i, "
        f"CAST({bit} AS BIGINT) AS bit, {person_id_sql(node_id)} AS person_id "
        f"FROM ({rows}) AS r",
    )
    try:
        # The threshold as Splink writes it, so a pair exactly at it falls the same side.
        edges = engine.to_arrow(
            engine.sql(
                f"""
                SELECT a.i AS l, b.i AS r, p.match_probability AS p
                FROM {predictions} p
                JOIN {nodes} a ON a.org = p.org_l AND a.local_person_ref = p.local_person_ref_l
                JOIN {nodes} b ON b.org = p.org_r AND b.local_person_ref = p.local_person_ref_r
                WHERE p.match_probability >= {threshold}
                """
            )
        )
        records = engine.to_arrow(
            engine.sql(f"SELECT * FROM {nodes} ORDER BY org, local_person_ref")
        )
    finally:
        engine.drop_temp(nodes)
    index = records["i"].to_numpy()
    n = int(index.max()) + 1 if len(index) else 0
    orgs = np.zeros(n, dtype=np.uint64)
    orgs[index] = records["bit"].to_numpy().astype(np.uint64)
    row = np.zeros(n, dtype=np.int64)  # a row of each record number
    row[index] = np.arange(len(index))
    left, right, prob = (edges[c].to_numpy() for c in ("l", "r", "p"))
    rep = representatives(n, orgs, left, right, prob)
    strongest = np.full(n, np.nan)
    inside = rep[left] == rep[right]
    np.fmax.at(strongest, left[inside], prob[inside])
    np.fmax.at(strongest, right[inside], prob[inside])
    p = strongest[index]
    return pa.table(
        {
            "org": records["org"],
            "local_person_ref": records["local_person_ref"],
            "person_id": records["person_id"].take(pa.array(row[rep[index]])),
            "match_probability": pa.array(p, mask=np.isnan(p)),
        }
    )

"""How well episodes match a known truth: the share of contacts placed in the right one.

Used on synthetic populations, whose truth records the need behind every event. The
measure is defined in ``docs/methods/episodes.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from joinedup.engine import Engine


@dataclass
class PlacementScore:
    """Agreement between built episodes and true needs, over citizens' contacts."""

    contacts: int  # contacts scored (in both the episodes and the truth)
    placed_right: int  # contacts in their need's episode, which is that need's alone
    accuracy: float  # placed_right / contacts
    pair_precision: float  # of pairs of contacts put together, the share truly together
    pair_recall: float  # of pairs truly together, the share put together
    needs: int
    episodes: int


def score_placement(
    engine: Engine, truth_events: pa.Table, *, contacts_only: bool = True
) -> PlacementScore:
    """Score ``episode_events`` against a truth table with ``event_id``, ``need_id`` and
    ``direction`` columns (as ``truth/events.parquet`` of a synthetic population)."""
    name = "_jn_truth"
    engine.register(name, truth_events.select(["event_id", "need_id", "direction"]))
    where = "WHERE t.direction = 'in'" if contacts_only else ""
    try:
        row = engine.to_arrow(
            engine.sql(
                f"""
                WITH j AS (
                    SELECT ee.event_id, ee.episode_id, t.need_id
                    FROM episode_events ee JOIN {name} t ON ee.event_id = t.event_id {where}
                ),
                cell AS (SELECT episode_id, need_id, count(*) AS n FROM j GROUP BY ALL),
                -- the episode holding most of each need's contacts, and the need making up
                -- most of each episode (ties go to the smaller id, so the score is stable)
                need_best AS (
                    SELECT need_id, first(episode_id ORDER BY n DESC, episode_id) AS episode_id
                    FROM cell GROUP BY need_id
                ),
                ep_best AS (
                    SELECT episode_id, first(need_id ORDER BY n DESC, need_id) AS need_id
                    FROM cell GROUP BY episode_id
                ),
                right_cells AS (
                    SELECT c.n FROM cell c
                    JOIN need_best nb ON c.need_id = nb.need_id AND c.episode_id = nb.episode_id
                    JOIN ep_best eb ON c.episode_id = eb.episode_id AND c.need_id = eb.need_id
                ),
                pairs AS (
                    SELECT
                        (SELECT sum(n * (n - 1) / 2) FROM cell) AS together,
                        (SELECT sum(m * (m - 1) / 2) FROM (
                            SELECT count(*) AS m FROM j GROUP BY episode_id)) AS pred,
                        (SELECT sum(m * (m - 1) / 2) FROM (
                            SELECT count(*) AS m FROM j GROUP BY need_id)) AS truly
                )
                SELECT (SELECT count(*) FROM j) AS contacts,
                       (SELECT coalesce(sum(n), 0) FROM right_cells) AS placed_right,
                       CAST(together AS DOUBLE) AS together, CAST(pred AS DOUBLE) AS pred,
                       CAST(truly AS DOUBLE) AS truly,
                       (SELECT count(DISTINCT need_id) FROM j) AS needs,
                       (SELECT count(DISTINCT episode_id) FROM j) AS episodes
                FROM pairs
                """
            )
        ).to_pylist()[0]
    finally:
        engine.drop_temp(name)
    contacts = int(row["contacts"])
    right = int(row["placed_right"])
    return PlacementScore(
        contacts=contacts,
        placed_right=right,
        accuracy=right / contacts if contacts else 1.0,
        pair_precision=row["together"] / row["pred"] if row["pred"] else 1.0,
        pair_recall=row["together"] / row["truly"] if row["truly"] else 1.0,
        needs=int(row["needs"]),
        episodes=int(row["episodes"]),
    )

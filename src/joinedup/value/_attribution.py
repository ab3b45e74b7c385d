"""Cause attribution measured against ground truth (the synthetic population's).

The headline is the share of truly caused failure-demand contacts whose causing
organisation the demand table names correctly; a contact the demand table left
unclassified, or classified as value demand, counts as wrong. Beside it: the same share
among the contacts the demand table did give a causing organisation (so a classifier
that names a cause for value demand is caught), and agreement over every contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from joinedup.value._errors import ValueInputError
from joinedup.workspace import Workspace

_TRUTH = "_value_truth"
_NEEDS = ("event_id", "org", "direction", "caused_by_org")


@dataclass(frozen=True)
class OrgAttribution:
    """Attribution accuracy for the failure demand one organisation received."""

    org: str
    failures: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        """Share named correctly (None when there was no failure demand)."""
        return self.correct / self.failures if self.failures else None


@dataclass(frozen=True)
class Attribution:
    """How well ``demand.caused_by_org`` matches the truth."""

    truth_file: Path
    failures: int  # contacts that are truly failure demand
    correct: int  # of those, how many the demand table attributes correctly
    given: int  # contacts the demand table gives a causing organisation
    given_correct: int
    contacts: int  # all contacts in the truth
    agree: int  # contacts where both agree (including "no cause")
    by_org: tuple[OrgAttribution, ...]

    @property
    def accuracy(self) -> float:
        """Share of true failure contacts attributed to the right organisation."""
        return self.correct / self.failures if self.failures else 0.0

    @property
    def precision(self) -> float:
        """Share of the contacts given a causing organisation that got the right one."""
        return self.given_correct / self.given if self.given else 0.0

    @property
    def agreement(self) -> float:
        """Share of all contacts where causing organisation (or none) agrees."""
        return self.agree / self.contacts if self.contacts else 0.0


def attribution(ws: Workspace, truth: Path | str) -> Attribution:
    """Compare the workspace's ``demand.caused_by_org`` with a truth file (Parquet with
    event_id, org, direction and caused_by_org, as ``truth/events.parquet``)."""
    path = Path(truth)
    if not path.exists():
        raise ValueInputError(f"truth file {path} does not exist")
    engine = ws.engine
    view = engine.read_files(_TRUTH, [path], "parquet")
    try:
        missing = [c for c in _NEEDS if c not in view.columns]
        if missing:
            raise ValueInputError(
                f"truth file {path} lacks column(s) {', '.join(missing)}: expected the "
                "synthetic population's truth/events.parquet"
            )
        rows = engine.to_arrow(
            engine.sql(
                f"""
                SELECT t.org,
                       count(*) FILTER (WHERE t.caused_by_org IS NOT NULL) AS failures,
                       count(*) FILTER (WHERE t.caused_by_org IS NOT NULL
                                        AND d.caused_by_org = t.caused_by_org) AS correct,
                       count(*) FILTER (WHERE d.caused_by_org IS NOT NULL) AS given,
                       count(*) FILTER (WHERE d.caused_by_org IS NOT NULL
                                        AND d.caused_by_org = t.caused_by_org) AS given_correct,
                       count(*) AS contacts,
                       count(*) FILTER (WHERE d.caused_by_org IS NOT DISTINCT FROM
                                        t.caused_by_org) AS agree,
                       count(d.event_id) AS classified
                FROM "{_TRUTH}" t LEFT JOIN demand d ON d.event_id = t.event_id
                WHERE t.direction = 'in'
                GROUP BY t.org ORDER BY t.org
                """
            )
        ).to_pylist()
    finally:
        engine.drop_temp(_TRUTH)
    if not rows:
        raise ValueInputError(f"truth file {path} holds no contacts (direction 'in')")
    if sum(r["classified"] for r in rows) == 0:
        raise ValueInputError(
            "no contact in the truth file is in the demand table: run the demand stage on "
            "this workspace first (or check that the truth belongs to it)"
        )

    def total(key: str) -> int:
        return int(sum(r[key] for r in rows))

    with ws.run("value attribution", inputs={"truth": str(path)}) as run:
        result = Attribution(
            truth_file=path,
            failures=total("failures"),
            correct=total("correct"),
            given=total("given"),
            given_correct=total("given_correct"),
            contacts=total("contacts"),
            agree=total("agree"),
            by_org=tuple(OrgAttribution(r["org"], r["failures"], r["correct"]) for r in rows),
        )
        run.outputs["accuracy"] = round(result.accuracy, 4)
    return result

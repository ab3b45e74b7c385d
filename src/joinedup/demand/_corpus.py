"""The training corpus of the shipped model: generated notes plus hand-written examples.

Generated notes come from the synthetic population's note generator
(:mod:`joinedup.synth._notes`), drawn with a seeded generator over a wider world of
organisations, services and life events than the synthetic population uses, so the
model learns the categories rather than four organisations' names. The hand-written
examples (``data/examples.csv``) add styles the generator does not write; they are a
different set from the test set in ``tests/data/demand``, which is never trained on.

The corpus is the same for the same seed and size, so ``joinedup demand build-model``
rebuilds the shipped model exactly.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from importlib import resources

# The note generator is private to synth; building the model is the one place that
# needs it, and only at build time (classification never imports it).
from joinedup.synth._notes import CATEGORIES, NoteContext, render_note

_ORGS = (
    "the DWP",
    "HMRC",
    "the council",
    "the GP surgery",
    "the Jobcentre",
    "the hospital",
    "the housing office",
    "the Pension Service",
    "the benefits office",
    "the tax office",
    "the practice",
    "the local authority",
)
_SERVICES = (
    "Universal Credit",
    "Council Tax Reduction",
    "Council Tax",
    "Housing Benefit",
    "Personal Independence Payment",
    "Employment and Support Allowance",
    "Pension Credit",
    "Child Benefit",
    "Carer's Allowance",
    "Attendance Allowance",
    "State Pension",
    "Self Assessment",
    "PAYE tax code",
    "Tax Credits",
    "GP registration",
    "Hospital referral",
    "Adult social care",
    "Housing options",
    "Homelessness prevention",
    "Bereavement Support Payment",
    "Disabled Facilities Grant",
    "Discretionary Housing Payment",
    "Blue Badge",
    "bin collection",
    "repairs",
)
_THINGS = (
    "payment",
    "decision",
    "appointment",
    "refund",
    "tax code",
    "registration",
    "referral",
    "assessment",
    "housing",
    "bill",
    "repair",
    "letter",
    "award",
    "reconsideration",
    "application",
    "prescription",
)
_LIFE = (
    "lost my job",
    "started a new job",
    "had a baby",
    "moved house",
    "been unwell",
    "lost my partner",
    "retired",
    "split up with my partner",
    "been told I'm being evicted",
    "become a carer",
    "had an operation",
    "reduced my hours",
    "gone self-employed",
    "had a fall",
)
_CHANNELS = ("phone", "web", "letter", "face_to_face", "webchat", "email")


@dataclass(frozen=True)
class Example:
    """One labelled note."""

    text: str
    category: str
    source: str  # "generated" or "hand"


def generated(n_per_category: int, seed: int) -> list[Example]:
    """``n_per_category`` generated notes of every category, balanced, from ``seed``."""
    rng = random.Random(seed)
    out: list[Example] = []
    for cat in CATEGORIES:
        for _ in range(n_per_category):
            org = rng.choice(_ORGS)
            ctx = NoteContext(
                org=org,
                service=rng.choice(_SERVICES),
                thing=rng.choice(_THINGS),
                other_org=rng.choice([o for o in _ORGS if o != org]),
                life_event=rng.choice(_LIFE),
                days=rng.randint(1, 120),
                amount=rng.randint(20, 1500),
                channel=rng.choice(_CHANNELS),
            )
            out.append(Example(render_note(rng, cat, ctx), cat, "generated"))
    return out


def hand_written() -> list[Example]:
    """The hand-written training examples shipped with the package."""
    src = resources.files("joinedup.demand") / "data" / "examples.csv"
    text = src.read_text(encoding="utf-8")
    with io.StringIO(text, newline="") as fh:
        return [
            Example(row["note"], row["category"].strip(), "hand")
            for row in csv.DictReader(fh)
            if row.get("note") and row.get("category")
        ]

"""The example contracts are exactly what `joinedup synth` writes, so they never drift."""

from __future__ import annotations

from pathlib import Path

from joinedup.ingest import load_contract
from joinedup.synth import SynthResult

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "contracts"


def test_example_contracts_equal_what_synth_writes(small_synth: SynthResult) -> None:
    written = {p.name: p.read_text(encoding="utf-8") for p in small_synth.contracts}
    examples = {p.name: p.read_text(encoding="utf-8") for p in EXAMPLES.glob("*.yaml")}
    assert examples == written


def test_example_contracts_are_valid() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        contract = load_contract(path)
        assert path.stem == contract.org

"""The demo: a synthetic population, then every stage that exists, then the report.

Stages run in pipeline order on the embedded engine (DuckDB): synth, ingest,
pseudonymise and link (privacy mode, with a secret made for this run and never written
down), journeys, demand, value, report. The demo never shows a figure the code did not
compute.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joinedup import ingest, report, synth
from joinedup.synth import SynthConfig, SynthResult
from joinedup.workspace import Workspace

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """What the demo made: the synthetic data, each stage's result and the report."""

    synth: SynthResult
    loads: list[ingest.IngestResult]
    report: report.ReportResult
    stages: dict[str, Any] = field(default_factory=dict)
    #: Wall-clock seconds each stage took, in pipeline order.
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(
    workspace: Path | str,
    config: SynthConfig | None = None,
    *,
    on_stage: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Run the demo in ``workspace`` (created if missing)."""
    from joinedup import demand, journeys, link, privacy, value

    cfg = config or SynthConfig()
    root = Path(workspace)
    stages: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    started: list[float] = [time.perf_counter()]
    current: list[str] = [""]

    def say(stage: str) -> None:
        # Close the previous stage's clock (ingest of each organisation counts as one).
        now, last = time.perf_counter(), current[0]
        if last:
            key = last.split()[0] if last.startswith("ingest") else last
            seconds[key] = seconds.get(key, 0.0) + now - started[0]
        started[0], current[0] = now, stage
        if on_stage is not None and stage:
            on_stage(stage)

    with Workspace(root) as ws:
        say("synth")
        with ws.run("synth", settings=cfg.model_dump(mode="json")) as run:
            made = synth.generate(root / "synth", cfg, progress=progress)
            # Where the ground truth is (relative to the workspace, so a copied workspace
            # finds its own), for the report's checks of the classifier.
            truth = (made.root / "truth").relative_to(root)
            run.outputs.update({"people": made.people, "events": made.events, "truth": str(truth)})
        loads = []
        for contract in made.contracts:
            say(f"ingest {contract.stem}")
            loads.append(ingest.load(contract, ws))

        say("pseudonymise")
        # Each organisation encodes its own people with the shared secret; only the
        # encodings reach the linkage step. The secret lives for this run only.
        secret = secrets.token_bytes(32)
        orgs = sorted({r.org for r in loads})
        # Written to files and linked from them, as separate organisations would hand
        # them over: the linkage engine reads them from disk within its memory limit.
        with tempfile.TemporaryDirectory(prefix="encodings-", dir=ws.path) as hub:
            encoded = [
                privacy.pseudonymise(
                    ws, org=org, secret=secret, out=Path(hub) / f"{org}.parquet"
                ).path
                for org in orgs
            ]
            say("link")
            stages["link"] = link.link([p for p in encoded if p is not None], workspace=ws)

        say("journeys")
        stages["journeys"] = journeys.episodes(ws)
        say("demand")
        settings = demand.load_settings(None)
        # The hashed n-gram model, even where the embeddings extra is installed: the
        # demo is meant to finish in under a minute.
        model = demand.load_model(embeddings=False)
        with ws.run("demand classify", settings=settings.model_dump()) as run:
            stages["demand"] = demand.classify(ws, model=model, settings=settings)
            run.outputs["demand"] = stages["demand"].as_dict()
            run.outputs["model"] = _describe(model)
        say("value")
        stages["value"] = value.ledger(ws)

        say("report")
        rep = report.build(ws, root / "report.html")
        say("")
    return DemoResult(made, loads, rep, stages, seconds)


def _describe(model: Any) -> dict[str, Any]:
    """What the run record keeps about the text model: the shipped file it came from,
    with its digest, and how it was trained."""
    from joinedup.demand._text import default_model_path

    path = default_model_path(embeddings=False)
    keep = ("format_version", "generated", "hand_written", "labels", "seed", "C")
    return {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        **{k: model.meta[k] for k in keep if k in model.meta},
    }

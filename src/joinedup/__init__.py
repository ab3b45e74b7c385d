"""joinedup: the citizen's view of public services, end to end and across organisations.

The public API is what this module lists in ``__all__``; everything else is private and
free to change. Stages are modules with a few functions each::

    from joinedup import Workspace, SynthConfig, synth, ingest, report

    made = synth.generate("synthetic", SynthConfig(people=1_000))
    with Workspace("ws") as ws:
        for contract in made.contracts:
            ingest.load(contract, ws)
        report.build(ws, "ws/report.html")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from joinedup._lazy import lazy
from joinedup._version import __version__
from joinedup.errors import (
    ContractError,
    EngineError,
    JoinedupError,
    WorkspaceError,
)

if TYPE_CHECKING:
    from joinedup import ingest, model, report, synth
    from joinedup.demo import run_demo
    from joinedup.synth import SynthConfig
    from joinedup.workspace import Workspace

#: Names imported on first use, so that a command pays only for the stages it runs
#: (the report and demand stages bring scikit-learn, charts and more).
_LAZY = {
    "ingest": ("joinedup.ingest", None),
    "model": ("joinedup.model", None),
    "report": ("joinedup.report", None),
    "synth": ("joinedup.synth", None),
    "run_demo": ("joinedup.demo", "run_demo"),
    "SynthConfig": ("joinedup.synth", "SynthConfig"),
    "Workspace": ("joinedup.workspace", "Workspace"),
}


__getattr__, __dir__ = lazy(__name__, _LAZY, globals())

__all__ = [
    "ContractError",
    "EngineError",
    "JoinedupError",
    "SynthConfig",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "ingest",
    "model",
    "report",
    "run_demo",
    "synth",
]

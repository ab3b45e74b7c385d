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

from joinedup import ingest, model, report, synth
from joinedup._version import __version__
from joinedup.demo import run_demo
from joinedup.errors import (
    ContractError,
    EngineError,
    JoinedupError,
    WorkspaceError,
)
from joinedup.synth import SynthConfig
from joinedup.workspace import Workspace

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

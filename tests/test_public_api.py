"""The public API is small and listed once (as HTTPX checks its exported members)."""

from __future__ import annotations

import joinedup

EXPECTED = {
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
}


def test_all_is_exactly_the_public_api() -> None:
    assert set(joinedup.__all__) == EXPECTED
    assert len(joinedup.__all__) == len(set(joinedup.__all__))


def test_every_exported_name_exists() -> None:
    for name in joinedup.__all__:
        assert hasattr(joinedup, name), name


def test_no_private_names_leak_into_all() -> None:
    for module in (joinedup, joinedup.ingest, joinedup.synth, joinedup.report, joinedup.model):
        for name in getattr(module, "__all__", []):
            assert not name.startswith("_") or name == "__version__", (module.__name__, name)
            assert hasattr(module, name), (module.__name__, name)


def test_errors_share_a_base_class() -> None:
    for err in (joinedup.ContractError, joinedup.EngineError, joinedup.WorkspaceError):
        assert issubclass(err, joinedup.JoinedupError)

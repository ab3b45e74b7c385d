"""Numba's cache folder: every module that compiles loops finds one it can write."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numba as nb
import pytest

from joinedup import _numba


@pytest.fixture
def unwritable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module's path whose folder, like the user's cache, can never be written: a
    folder beneath a plain file cannot be made."""
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked / "cache"))
    return blocked / "module.py"


def test_a_module_with_no_writable_cache_gets_one_in_the_temporary_folder(
    unwritable: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nb.config, "CACHE_DIR", "")
    _numba.use_cache_beside(str(unwritable))
    assert Path(nb.config.CACHE_DIR).parent == Path(tempfile.gettempdir())


def test_a_cache_folder_already_chosen_is_kept(
    unwritable: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = str(tmp_path / "chosen")
    monkeypatch.setattr(nb.config, "CACHE_DIR", chosen)
    _numba.use_cache_beside(str(unwritable))
    assert chosen == nb.config.CACHE_DIR


def test_the_loops_compile_where_the_module_folder_can_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nb.config, "CACHE_DIR", "")
    _numba.use_cache_beside(str(tmp_path / "module.py"))
    assert nb.config.CACHE_DIR == ""  # Numba's own choice, beside the source
    assert (tmp_path / "__pycache__").is_dir()


def test_the_first_writable_candidate_is_numbas_own_choice(
    unwritable: Path, tmp_path: Path
) -> None:
    candidates = [unwritable.parent / "__pycache__", unwritable.parent / "cache"]
    fallback = _numba.cache_dir(candidates)
    assert fallback is not None and fallback.parent == Path(tempfile.gettempdir())
    assert _numba.cache_dir([*candidates, tmp_path / "cache"]) is None
    assert (tmp_path / "cache").is_dir()

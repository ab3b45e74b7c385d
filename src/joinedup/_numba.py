"""Where Numba keeps the loops it compiles, for every module that compiles some.

Numba caches a compiled loop beside its source or, failing that, in the user's cache
folder, and refuses to compile at all when it can write to neither (a package installed
read-only for a service account with no home). ``use_cache_beside(__file__)`` in such a
module, before its first ``njit``, then points Numba at a folder of the user's in the
temporary directory instead. The setting is Numba's own and holds for the whole process.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numba as nb
from numba.misc.appdirs import AppDirs


def _writable(folder: Path) -> bool:
    """Whether files can be made in ``folder`` (made if missing), as Numba checks."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def cache_dir(candidates: list[Path]) -> Path | None:
    """None when one of ``candidates`` (beside the source, then the user's cache) can be
    written, which Numba then uses; else a folder of this user's in the temporary
    directory."""
    if any(_writable(c) for c in candidates):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"joinedup-numba-{uid}"


def use_cache_beside(source: str) -> None:
    """Give Numba a cache folder it can write for the module at ``source``, unless one
    is set already (``NUMBA_CACHE_DIR``, or an earlier module's fallback)."""
    config: Any = nb.config  # set at import, from NUMBA_CACHE_DIR (untyped)
    if config.CACHE_DIR:
        return
    beside = Path(source).parent / "__pycache__"
    fallback = cache_dir([beside, Path(AppDirs("numba", appauthor=False).user_cache_dir)])
    if fallback is not None:
        config.CACHE_DIR = str(fallback)

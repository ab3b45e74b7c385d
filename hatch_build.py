"""Build hook: compile the journeys' C kernels into the package (hatchling runs this).

The library (``src/joinedup/journeys/_ckernels.so``) is compiled in the source tree, so
an editable install (``pip install -e .``, as ``make install`` runs) finds it where the
package is imported from, and a wheel takes it in as an artifact (it is ignored by git).
A wheel with it is tagged for this platform and Python. Without a C compiler, or when
the compiler fails, the build still succeeds with a warning: the package then uses the
same kernels compiled by Numba, at about half a second more on its first mining.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

KERNELS = Path("src") / "joinedup" / "journeys"


def _cbuild(root: Path) -> ModuleType:
    """``_cbuild.py`` loaded by its path: the package itself cannot be imported while it
    is being built (its dependencies may not be installed yet)."""
    path = root / KERNELS / "_cbuild.py"
    spec = importlib.util.spec_from_file_location("_joinedup_cbuild", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class NativeKernels(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        cbuild = _cbuild(root)
        try:
            library = cbuild.build(root / KERNELS)
        except cbuild.BuildError as exc:
            self.app.display_warning(
                f"joinedup: the C kernels were not compiled ({exc}); the Numba kernels "
                "will be used instead (same results, slower first mining in a process)"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["artifacts"].append(library.relative_to(root).as_posix())

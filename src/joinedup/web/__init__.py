"""The web service and the front-end files it shares with the report.

The GOV.UK Frontend stylesheet and script are built into ``static/`` from the npm
package by ``frontend/build.py`` (``make install`` runs it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from joinedup.web._assets import asset

if TYPE_CHECKING:
    from fastapi import FastAPI

    from joinedup.governance._access import AccessStore

__all__ = ["asset", "create_app"]


def create_app(
    workspace: Path | str,
    *,
    access: AccessStore | None = None,
    warm: bool = True,
    progress: Callable[[str], None] | None = None,
) -> FastAPI:
    """The web service for one workspace (see :mod:`joinedup.web._app`).

    With ``warm`` (the default), the views of the whole workspace and of each
    organisation are computed in the background when the service starts, ``progress``
    being told as each is ready (by default the ``joinedup.web`` logger, at INFO)."""
    # Imported here: the report uses this package's assets, and the app uses the report.
    from joinedup.web._app import create_app as make

    return make(workspace, access=access, warm=warm, progress=progress)

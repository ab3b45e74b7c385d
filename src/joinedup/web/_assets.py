"""Read the built front-end files shipped in the package."""

from __future__ import annotations

from functools import cache
from importlib import resources

from joinedup.errors import JoinedupError


@cache
def asset(name: str) -> str:
    """The text of a built static file, e.g. ``govuk-frontend.min.css``."""
    path = resources.files("joinedup.web") / "static" / name
    if not path.is_file():
        raise JoinedupError(
            f"the front-end file {name} is missing from the package: run `make install` "
            "(it builds GOV.UK Frontend from npm with frontend/build.py)"
        )
    return path.read_text(encoding="utf-8")

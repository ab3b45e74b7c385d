"""The web service and the front-end files it shares with the report.

The GOV.UK Frontend stylesheet and script are built into ``static/`` from the npm
package by ``frontend/build.py`` (``make install`` runs it).
"""

from __future__ import annotations

from joinedup.web._assets import asset

__all__ = ["asset"]

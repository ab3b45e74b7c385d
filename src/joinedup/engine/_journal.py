"""All-or-nothing changes to tables kept as Parquet folders (the Spark engine's transactions).

Parquet folders have no transactions, but every change the Spark engine makes is either
new files added to a folder (append) or a new folder swapped in for the old one (replace,
delete, drop). So a table's state before a transaction is known from the names of its
files, and the old folder of a swap can be kept aside instead of deleted. The journal
records, for each table the transaction touches, what to go back to, and is written to
``<root>/.journal.json`` before the first change: if the process dies halfway, the next
engine to open the folder rolls the unfinished transaction back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

JOURNAL = ".journal.json"


class Journal:
    """What each table touched by one transaction looked like before it."""

    def __init__(self, tables_dir: Path) -> None:
        self._dir = tables_dir
        self._file = tables_dir.parent / JOURNAL
        self.entries: dict[str, dict[str, Any]] = {}

    def touch(self, name: str) -> None:
        """Record table ``name``'s state, if this transaction has not changed it yet."""
        if name in self.entries:
            return
        folder = self._dir / name
        if folder.is_dir():
            self.entries[name] = {"state": "files", "files": sorted(_names(folder))}
        else:
            self.entries[name] = {"state": "absent"}
        self._save()

    def keep_aside(self, name: str, old: Path) -> bool:
        """Whether ``old`` (a folder swapped out of table ``name``) must be kept: it is,
        the first time, as it holds the state to roll back to."""
        entry = self.entries.get(name)
        if entry is None or entry["state"] != "files":
            return False
        entry.update(state="moved", folder=old.name)
        self._save()
        return True

    def commit(self) -> None:
        """Make the changes final: what was kept aside goes."""
        for entry in self.entries.values():
            if entry["state"] == "moved":
                shutil.rmtree(self._dir / entry["folder"], ignore_errors=True)
        self._file.unlink(missing_ok=True)
        self.entries.clear()

    def rollback(self) -> list[str]:
        """Put every touched table back as it was; the tables whose files changed."""
        changed = list(self.entries)
        for name, entry in self.entries.items():
            folder = self._dir / name
            if entry["state"] == "absent":
                shutil.rmtree(folder, ignore_errors=True)
                continue
            if entry["state"] == "moved":
                held = self._dir / entry["folder"]
                if held.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
                    held.rename(folder)
            keep = set(entry["files"])
            for path in folder.iterdir() if folder.is_dir() else []:
                if path.is_file() and path.name not in keep:
                    path.unlink()
        self._file.unlink(missing_ok=True)
        self.entries.clear()
        return changed

    @classmethod
    def recover(cls, tables_dir: Path) -> None:
        """Roll back a transaction a dead process left unfinished, if there is one."""
        journal = cls(tables_dir)
        if journal._file.exists():
            journal.entries = json.loads(journal._file.read_text(encoding="utf-8"))
            journal.rollback()

    def _save(self) -> None:
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entries), encoding="utf-8")
        tmp.replace(self._file)


def _names(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.is_file()]

"""Package attributes imported on first use (PEP 562), so that importing a package, or
a command-line module inside it, does not pay for the heavy libraries behind every name
it exports."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy(
    package: str, names: Mapping[str, tuple[str, str | None]], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps each exported name
    to ``(module, attribute)``, or ``(module, None)`` for the module itself; a name is
    imported when first asked for and then kept in the package's ``namespace``."""

    def getattr_(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = names[name]
        found = importlib.import_module(module)
        value = found if attr is None else getattr(found, attr)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(names))

    return getattr_, dir_

"""YAML read with the line of every key, so a validation error can point at the line.

The same idea as the data contract's loader in ``joinedup.ingest`` (whose helpers are
private to that stage): a loader that records, for every mapping, the line each key is
on, and a function that turns a Pydantic error location into that line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from joinedup.governance._errors import AgreementError

M = TypeVar("M", bound=BaseModel)

_LINES = "__lines__"


class _Loader(yaml.SafeLoader):
    """A safe YAML loader that keeps each mapping key's line number."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(loader.construct_object(key_node, deep=True))
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    out[_LINES] = lines
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _plain(data: Any) -> Any:
    """The data without the recorded line numbers."""
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items() if k != _LINES}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


def _line(data: Any, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest key of ``loc`` that the YAML holds."""
    line = None
    for key in loc:
        if isinstance(data, dict):
            line = data.get(_LINES, {}).get(str(key), line)
            data = data.get(str(key))
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            break
    return line


def load_yaml_model(path: Path, model: type[M], what: str) -> M:
    """Read ``path`` and validate it as ``model``; errors give the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgreementError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    try:
        raw = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise AgreementError(f"{path}, {where}: not valid YAML ({problem})") from exc
    if not isinstance(raw, dict):
        raise AgreementError(f"{path}: expected a mapping of {what} settings at the top")
    try:
        return model.model_validate(_plain(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line(raw, loc)
            at = f"line {line}, " if line else ""
            name = ".".join(str(x) for x in loc) or "(top level)"
            problems.append(f"{path}, {at}{name}: {err['msg']}")
        raise AgreementError("\n".join(problems)) from exc

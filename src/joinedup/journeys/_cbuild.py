"""Compile the C kernels (``_ckernels.c``) into a shared library beside them.

Run by the package build (``hatch_build.py`` at the repository root loads this file by
its path, so it uses the standard library alone), or by hand after editing the C source:
``python src/joinedup/journeys/_cbuild.py``. The system's C compiler is used (see
``compiler``).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

SOURCE = "_ckernels.c"
LIBRARY = "_ckernels.dll" if os.name == "nt" else "_ckernels.so"
# -ffp-contract=off: no multiply-add fused into one rounding, so the quantiles' float
# operations round as Numba's do; -fwrapv: integers wrap on overflow as Numba's do
# (in C that is otherwise undefined). No -march: the library goes into wheels.
FLAGS = ["-O3", "-std=c99", "-fPIC", "-shared", "-ffp-contract=off", "-fwrapv"]


class BuildError(Exception):
    """The library could not be compiled (no compiler, or the compiler failed)."""


def source_hash(source: bytes) -> str:
    """What the library records of the source it was built from (_native.py checks it)."""
    return hashlib.sha256(source).hexdigest()[:16]


def compiler() -> list[str]:
    """The C compiler's command: ``$CC`` when set, else the first found of the one Python
    was built with (its path may be the build machine's), ``cc``, ``gcc`` and ``clang``."""
    if os.environ.get("CC"):
        return shlex.split(os.environ["CC"])
    pythons = shlex.split(str(sysconfig.get_config_var("CC") or ""))
    for command in (pythons, ["cc"], ["gcc"], ["clang"]):
        if command and shutil.which(command[0]):
            return command
    return ["cc"]


def build(folder: Path, cc: list[str] | None = None) -> Path:
    """Compile ``folder/_ckernels.c`` into ``folder/_ckernels.so``; return its path.

    The library is written under another name and then renamed, so a process loading it
    at the same time never sees half a file."""
    source = folder / SOURCE
    target = folder / LIBRARY
    digest = source_hash(source.read_bytes())
    fd, partial = tempfile.mkstemp(prefix=".ckernels-", suffix=".so", dir=folder)
    os.close(fd)
    command = [
        *(cc or compiler()),
        *FLAGS,
        f'-DJOINEDUP_SOURCE_HASH="{digest}"',
        "-o",
        partial,
        str(source),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        Path(partial).unlink(missing_ok=True)
        raise BuildError(f"no C compiler ({shlex.join(command[:1])}: {exc})") from None
    if done.returncode != 0:
        Path(partial).unlink(missing_ok=True)
        raise BuildError(f"{shlex.join(command)} failed:\n{done.stderr.strip()}")
    os.chmod(partial, 0o755)
    os.replace(partial, target)
    return target


if __name__ == "__main__":
    try:
        print(build(Path(__file__).parent))
    except BuildError as exc:
        sys.exit(str(exc))

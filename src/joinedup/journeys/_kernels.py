"""The compiled loops over a log's events, for the in-memory path (``_ordered.py``).

Two builds of the same loops, with the same results bit for bit: the C library compiled
when the package is installed (``_ckernels.c``, loaded by ``_native.py``), and the
Numba kernels (``_jit.py``), used where there is no library (the package was installed
without a C compiler) or when the environment sets ``JOINEDUP_NATIVE=0``. The library
loads in milliseconds; Numba takes about half a CPU second to import and to load its
cached kernels, which the first mining in a process would pay.
"""

from __future__ import annotations

import os
from types import ModuleType

from joinedup.journeys import _native


def _choose() -> ModuleType:
    if os.environ.get("JOINEDUP_NATIVE", "1") != "0" and _native.library() is not None:
        return _native
    from joinedup.journeys import _jit

    return _jit


_impl = _choose()
#: Which build is in use: "native" (the C library) or "numba".
BACKEND = "native" if _impl is _native else "numba"

string_runs = _impl.string_runs
times_ordered = _impl.times_ordered
order_by_case = _impl.order_by_case
directly_follows = _impl.directly_follows
variant_groups = _impl.variant_groups
gather_cases = _impl.gather_cases
sequence_keys = _impl.sequence_keys
settle_ties = _impl.settle_ties
text_codes = _impl.text_codes

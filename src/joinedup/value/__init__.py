"""Value: the cost of failure demand, who causes it, who pays, and how to share a fix.

- :func:`ledger` prices every contact (unit costs by organisation and channel) per
  organisation, service and month, and builds the cost-shunting matrix;
- :func:`what_if` re-prices with one cause of failure reduced, knock-on contacts at
  other organisations included, with an interval for classification uncertainty;
- :func:`gainshare` proposes how the saving could be shared (Shapley value or pro-rata)
  as a one-page deal sheet;
- :func:`attribution` measures the demand table's causing organisation against truth;
- :func:`shapley` is the Shapley value of any cooperative game, exact for up to 12
  players and sampled above.
"""

from __future__ import annotations

from joinedup.value._attribution import Attribution, attribution
from joinedup.value._costs import UnitCost, UnitCosts, load_unit_costs
from joinedup.value._errors import CostError, FixError, ValueInputError
from joinedup.value._gainshare import Deal, gainshare
from joinedup.value._ledger import Ledger, ledger
from joinedup.value._shapley import shapley
from joinedup.value._whatif import Fix, WhatIf, what_if

__all__ = [
    "Attribution",
    "CostError",
    "Deal",
    "Fix",
    "FixError",
    "Ledger",
    "UnitCost",
    "UnitCosts",
    "ValueInputError",
    "WhatIf",
    "attribution",
    "gainshare",
    "ledger",
    "load_unit_costs",
    "shapley",
    "what_if",
]

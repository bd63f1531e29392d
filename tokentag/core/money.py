"""The one money formatter: every amount tokentag prints goes through `usd`."""

from __future__ import annotations

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from decimal import Decimal

UNPRICED = "unpriced"


def usd(amount: float | Decimal | None, partly_unpriced: bool = False,
        partly_marker: str = "*") -> str:
    """`$1,234.56` from a dollar up, `$0.0412` below (a cent's fractions still read), `$0.00`
    for nothing; `unpriced` when no price is known, and `partly_marker` after the amount
    when only part of what it covers could be priced."""
    if amount is None:
        return UNPRICED
    value = float(amount)
    if value == 0:
        text = "$0.00"
    elif abs(value) >= 1:
        text = f"${value:,.2f}"
    elif abs(value) >= 0.0001:
        text = f"${value:,.4f}"
    else:
        text = "<$0.0001" if value > 0 else "-<$0.0001"
    return text + (partly_marker if partly_unpriced else "")

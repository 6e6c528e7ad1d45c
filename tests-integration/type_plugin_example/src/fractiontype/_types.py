"""``fractions.Fraction`` as an orcapod logical type."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pyarrow as pa

from orcapod.protocols.logical_types import LogicalTypeSpec

STORAGE = pa.struct(
    [
        # Exact, of any size: integers as decimal text (int64 would overflow).
        pa.field("numerator", pa.large_string(), nullable=False),
        pa.field("denominator", pa.large_string(), nullable=False),
        # For people and SQL reading the store; not part of the value's identity.
        pa.field("approx", pa.float64()),
    ]
)


def to_storage(value: Any) -> dict[str, Any]:
    """A Fraction -> its numerator and denominator (lowest terms) and a float near it."""
    if not isinstance(value, Fraction):
        raise TypeError(f"expected a fractions.Fraction, got {type(value).__name__}")
    try:
        approx: float | None = float(value)
    except OverflowError:  # too large for a float
        approx = None
    return {
        "numerator": str(value.numerator),
        "denominator": str(value.denominator),
        "approx": approx,
    }


def from_storage(stored: dict[str, Any]) -> Fraction:
    """The stored numerator and denominator -> the Fraction."""
    return Fraction(int(stored["numerator"]), int(stored["denominator"]))


FRACTION = LogicalTypeSpec(
    name="fractiontype.fraction",
    python_class=Fraction,
    storage_type=STORAGE,
    to_storage=to_storage,
    from_storage=from_storage,
    identity_fields=("numerator", "denominator"),
    description="an exact fraction: numerator and denominator as decimal text",
)

"""An orcapod logical-type plugin: ``fractions.Fraction`` values, stored exactly."""

from __future__ import annotations

from fractiontype._types import FRACTION

__all__ = ["FRACTION"]

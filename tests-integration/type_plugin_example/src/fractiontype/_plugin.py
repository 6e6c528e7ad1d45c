"""The entry point module: tells orcapod how to store ``fractions.Fraction``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from orcapod.protocols.logical_types import LogicalTypeSpec


@hookimpl
def orcapod_logical_types() -> list[LogicalTypeSpec]:
    """The logical types this plugin provides."""
    from fractiontype._types import FRACTION

    return [FRACTION]

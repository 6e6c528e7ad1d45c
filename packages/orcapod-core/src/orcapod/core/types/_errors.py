"""Errors raised by the type converter and schemas.

They belong in ``orcapod.core.errors``; they live here until that module
re-exports them.
"""

from __future__ import annotations

from orcapod.protocols.errors import OrcapodError

__all__ = ["SchemaError", "TypeInferenceError", "TypeMismatchError", "UnsupportedTypeError"]


class UnsupportedTypeError(OrcapodError, TypeError):
    """A type annotation (or Arrow type) has no orcapod equivalent."""


class TypeInferenceError(OrcapodError, TypeError):
    """The type of a column cannot be inferred from its values."""


class TypeMismatchError(OrcapodError, TypeError):
    """A value does not match the type declared for its column."""


class SchemaError(OrcapodError, ValueError):
    """A schema is malformed (bad column name) or two schemas conflict."""

"""Every error and warning orcapod.core raises.

All errors derive from :class:`OrcapodError`, which lives in
``orcapod.protocols`` so plugins can raise and catch orcapod errors without
importing core.
"""

from __future__ import annotations

from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    InvalidRecordPathError,
    NotAvailableError,
    OrcapodError,
    RecordSchemaError,
)

__all__ = [
    "DatabaseError",
    "DuplicateRecordError",
    "InvalidRecordPathError",
    "NotAvailableError",
    "OrcapodError",
    "PluginError",
    "PluginLoadWarning",
    "PluginNotFoundError",
    "RecordSchemaError",
]


class PluginError(OrcapodError):
    """A plugin could not provide what was asked of it."""


class PluginNotFoundError(PluginError, LookupError):
    """No installed plugin provides the asked-for name (URI scheme, executor, observer)."""


class PluginLoadWarning(UserWarning):
    """An installed plugin failed to load or register and was skipped."""

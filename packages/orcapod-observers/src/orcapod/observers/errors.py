"""The errors orcapod-observers raises; all are :class:`~orcapod.protocols.errors.OrcapodError`."""

from __future__ import annotations

from orcapod.protocols.errors import OrcapodError

__all__ = [
    "ObservabilityError",
    "TagTypeConflictError",
    "UnknownNodeError",
    "UnknownPipelineError",
    "UnknownRunError",
]


class ObservabilityError(OrcapodError):
    """Base class of the errors of orcapod-observers."""


class UnknownPipelineError(ObservabilityError, LookupError):
    """No observability records of the pipeline; names the pipelines that have some."""


class UnknownNodeError(ObservabilityError, LookupError):
    """No observability records of the node; names the nodes of the pipeline that have some."""


class UnknownRunError(ObservabilityError, LookupError):
    """No run of the pipeline has the id; names the most recent runs."""


class TagTypeConflictError(ObservabilityError, TypeError):
    """Nodes whose records are read together have a tag column of the same name, of two types."""

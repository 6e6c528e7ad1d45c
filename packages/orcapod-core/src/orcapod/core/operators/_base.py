"""What every operator shares: the calling convention, the output stream and identity."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from orcapod.core._recording import record
from orcapod.core.errors import SchemaError
from orcapod.core.hashing import combine_hashes, hash_label
from orcapod.core.sources import as_stream
from orcapod.core.streams import DerivedStream, schemas_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pyarrow as pa

    from orcapod.core.types import Schema
    from orcapod.protocols import pods
    from orcapod.protocols.streams import Stream

__all__ = ["Operator", "OperatorStream"]


class Operator(ABC):
    """Changes the structure of streams: which rows, which columns, how rows combine.

    An operator is configured once (``Join()``, ``MapTags({"a": "b"})``) and
    called on streams like a function pod: ``op(stream, ...)`` checks the
    inputs' schemas at once and returns a lazy :class:`OperatorStream`.
    Subclasses say how many inputs they take, what the output schema is, how
    to compute the output table, and which parameters make their identity.
    """

    inputs: tuple[int, int | None] = (1, 1)
    """(fewest, most) input streams; ``None``: no upper bound."""

    streams: bool = False
    """Whether the output for a whole input is the outputs for its parts, in order (one
    input): a pipeline then computes each batch as it arrives, and holds none of the
    rest. An operator that needs all of its input (a join, a group-by) says ``False``."""

    def __init__(self, *, label: str | None = None) -> None:
        self._label = label

    @property
    def label(self) -> str | None:
        return self._label

    @property
    def kind(self) -> str:
        """The operator's name in identities and messages."""
        return type(self).__name__

    @abstractmethod
    def parameters(self) -> dict[str, Any]:
        """What configures this operator, as JSON-able values: part of its identity."""

    @abstractmethod
    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        """The (tag, packet) schemas of the output for inputs of these schemas.

        Raises:
            SchemaError: the inputs do not fit; names the column and the fix.
        """

    @abstractmethod
    def compute(
        self, tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
    ) -> pa.Table:
        """The output table (tag, packet and system columns) for the inputs' full tables."""

    def output_schema(self, *streams: Stream) -> tuple[Schema, Schema]:
        """(tag schema, packet schema) of the output for these inputs.

        Each input is a stream, or a plugin's ``SourceTable`` (read as its source).

        Raises:
            SchemaError: the number of inputs is wrong, or their schemas do not fit.
            SourceError: an input is neither a stream nor a ``SourceTable``.
        """
        return self.check([schemas_of(stream) for stream in self._streams(streams)])

    def __call__(self, *streams: Stream, label: str | None = None) -> OperatorStream:
        """The lazy output stream of this operator on ``streams``.

        Inside a ``with Pipeline(...)`` block the call is also recorded as a node.

        Raises:
            SchemaError, SourceError: as :meth:`output_schema`.
        """
        stream = OperatorStream(self, streams, label=label or self._label)
        record(stream)
        return stream

    def content_hash(self) -> str:
        """The operator's kind and parameters."""
        text = json.dumps(self.parameters(), sort_keys=True, separators=(",", ":"))
        return combine_hashes(f"operator:{self.kind}", hash_label("parameters", text))

    def pipeline_hash(self) -> str:
        """The same as :meth:`content_hash`: an operator holds no data."""
        return self.content_hash()

    def __repr__(self) -> str:
        parameters = ", ".join(f"{k}={v!r}" for k, v in self.parameters().items())
        return f"{self.kind}({parameters})"

    def _streams(self, streams: Sequence[Stream]) -> tuple[Stream, ...]:
        """``streams``, checked in number, each read as a stream (a plugin's
        ``SourceTable`` as its source: :func:`~orcapod.core.sources.as_stream`)."""
        fewest, most = self.inputs
        if len(streams) < fewest or (most is not None and len(streams) > most):
            wanted = (
                f"exactly {fewest}"
                if fewest == most
                else f"at least {fewest}"
                if most is None
                else f"{fewest} to {most}"
            )
            raise SchemaError(
                f"{self.kind} takes {wanted} input stream{'s' if most != 1 else ''}, "
                f"got {len(streams)}"
            )
        return tuple(
            as_stream(stream, where=f"{self.kind} input {number}")
            for number, stream in enumerate(streams, 1)
        )


class OperatorStream(DerivedStream):
    """The lazy output of an operator on its input streams.

    Its identities are computed once, at first use, and kept (see
    ``DerivedStream``): the stream is immutable (its operator is configured
    once, its inputs are immutable streams), and recomputing them would walk
    everything upstream again, once per path, which doubles with every diamond
    (a stream read by two branches that are joined again).
    """

    def __init__(
        self, operator: Operator, inputs: Sequence[Stream], *, label: str | None = None
    ) -> None:
        self._operator = operator
        self._inputs = operator._streams(inputs)
        self._label = label
        self._schemas = operator.output_schema(*self._inputs)

    @property
    def operator(self) -> Operator:
        return self._operator

    @property
    def inputs(self) -> tuple[Stream, ...]:
        return self._inputs

    @property
    def upstreams(self) -> tuple[Stream, ...]:
        return self._inputs

    @property
    def label(self) -> str | None:
        return self._label

    def output_schema(self) -> tuple[Schema, Schema]:
        return self._schemas

    def _compute_table(self) -> pa.Table:
        tables = [stream.as_table(include_system_columns=True) for stream in self._inputs]
        return self._operator.compute(tables, [schemas_of(stream) for stream in self._inputs])

    def _chained_content_hash(self) -> str:
        """The operator's identity chained to its inputs' contents, in input order."""
        return combine_hashes(
            "operator-stream",
            self._operator.content_hash(),
            *(stream.content_hash() for stream in self._inputs),
        )

    def _chained_pipeline_hash(self) -> str:
        """The operator's identity chained to its inputs' pipeline hashes, in input order."""
        return combine_hashes(
            "operator-stream",
            self._operator.pipeline_hash(),
            *(stream.pipeline_hash() for stream in self._inputs),
        )


if TYPE_CHECKING:
    _pod_protocol: pods.Pod = Operator()  # type: ignore[abstract]  # shape only

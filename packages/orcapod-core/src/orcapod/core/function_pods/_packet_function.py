"""PythonPacketFunction: a type-annotated Python function as a computation on packets."""

from __future__ import annotations

import asyncio
import inspect
import typing
import warnings
from typing import TYPE_CHECKING, Any

from orcapod.core.datagrams import Packet
from orcapod.core.errors import (
    FunctionDeclarationError,
    ReturnValueError,
    RunInterrupted,
    SchemaError,
    TypeMismatchError,
)
from orcapod.core.function_pods._execution_context import (
    EXECUTION_DATA_SCHEMA,
    extra_info,
    python_version,
)
from orcapod.core.hashing import (
    Dependency,
    code_dependencies,
    code_identity_hash,
    function_identity_hash,
    function_source_hash,
    hash_schema,
)
from orcapod.core.system_columns import is_system_column
from orcapod.core.types import Schema, normalize_type, type_name
from orcapod.core.types._annotations import is_optional, strip_optional

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from orcapod.protocols import data
    from orcapod.protocols.executors import PacketFunctionExecutor, PythonFunctionExecutor
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.pods import PacketFunction

__all__ = ["PythonPacketFunction", "accepts"]


class PythonPacketFunction:
    """A Python function applied to packets: parameters read columns, results fill columns.

    Each parameter is read from the packet column of the same name and must be
    annotated with a supported type; a parameter with a default may have no
    column. The return annotation types the outputs: for one output key the
    value itself, for several a ``tuple[...]`` of one type per key.

    Args:
        function: the function.
        output_keys: the name of the output column, or the names of several.
        name: the function's name in its identity; by default ``function.__name__``.
        version: the declared version; change it to recompute results on purpose.
        code_identity: a string standing in for the source code, for functions
            whose source cannot be read (see ``orcapod.core.hashing``).
        retries: how many more times a packet is tried after its first attempt
            raised an error of ``retry_on``. Not part of the function's identity:
            a result is the same whichever attempt produced it.
        retry_on: the exception classes that are retried (subclasses included);
            by default every ``Exception``, never ``SystemExit`` or
            ``KeyboardInterrupt`` unless listed.
        ignore: names the code reads that are left out of its identity on purpose
            (as the identity names them: ``K``, ``utils.K``, ``k`` for a closure).
        dependencies: names whose identity is the given version string instead
            of their value, for objects orcapod cannot hash by content:
            ``{"MODEL": "v3"}``; change the string when the object changes.

    Raises:
        FunctionDeclarationError: a parameter or the return value is not annotated,
            the annotation does not match ``output_keys``, a name is invalid, or
            ``retries`` / ``retry_on`` is not a whole number >= 0 / exception classes.
        UnsupportedTypeError: an annotation is not a supported type; names the parameter.
        HashingError: the function's source cannot be read and no ``code_identity`` is
            given, or it reads a value that cannot be identified and is neither
            ignored nor declared (the error names it and the fixes).
    """

    def __init__(
        self,
        function: Callable[..., Any],
        output_keys: str | Sequence[str],
        *,
        name: str | None = None,
        version: str = "v0",
        code_identity: str | None = None,
        retries: int = 0,
        retry_on: type[BaseException] | Sequence[type[BaseException]] = (Exception,),
        ignore: Sequence[str] = (),
        dependencies: Mapping[str, str] | None = None,
    ) -> None:
        self.function = function
        self._name = name if name is not None else getattr(function, "__name__", repr(function))
        self._version = str(version)
        self._retries = _checked_retries(retries, self._name)
        self._retry_on = _checked_retry_on(retry_on, self._name)
        self._output_keys = _output_keys(output_keys, self._name)
        parameters, defaults = _parameters(function, self._name)
        self._input_schema = Schema(parameters)
        self._defaults = defaults
        self._output_schema = _output_schema(function, self._name, self._output_keys)
        self._code_identity = code_identity
        self._input_schema_hash = hash_schema(self._input_schema.to_arrow())
        self._output_schema_hash = hash_schema(self._output_schema.to_arrow())
        if code_identity is None:
            self._source_hash = function_source_hash(function)
        else:
            self._source_hash = code_identity_hash(code_identity)
            if ignore or dependencies:
                raise FunctionDeclarationError(
                    f"function {self._name!r}: code_identity= names the whole code, so "
                    "ignore= and dependencies= have nothing to act on; give one or the other"
                )
        self._ignore = _checked_names(ignore, "ignore", self._name)
        self._declared = _checked_declared(dependencies, self._name)
        self._dependencies: tuple[Dependency, ...] = ()
        self._identity: str | None = None
        self._identify(final=code_identity is not None)
        self._executor: PacketFunctionExecutor | None = None
        self._extra_info: dict[str, str] | None = None

    def __repr__(self) -> str:
        retries = f", retries={self._retries}" if self._retries else ""
        return f"PythonPacketFunction({self._name!r}, version={self._version!r}{retries})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return self._version

    @property
    def output_keys(self) -> tuple[str, ...]:
        return self._output_keys

    @property
    def retries(self) -> int:
        """How many more attempts a packet gets after a first that raised ``retry_on``."""
        return self._retries

    @property
    def retry_on(self) -> tuple[type[BaseException], ...]:
        """The exception classes whose raising is followed by another attempt."""
        return self._retry_on

    def retried(self, error: BaseException, attempt: int) -> bool:
        """Whether the failed ``attempt`` (1 for the first) is followed by another.

        Only errors of ``retry_on`` are, while attempts are left; a run stopping
        (:class:`RunInterrupted`, ``asyncio.CancelledError``) never is.
        """
        return (
            attempt <= self._retries
            and isinstance(error, self._retry_on)
            and not isinstance(error, RunInterrupted | asyncio.CancelledError)
        )

    @property
    def defaults(self) -> Mapping[str, Any]:
        """Default values of the parameters that have one."""
        return self._defaults

    def input_schema(self) -> Schema:
        """The parameters and their annotated types, in signature order."""
        return self._input_schema

    def output_schema(self) -> Schema:
        """The output keys and their types from the return annotation."""
        return self._output_schema

    @property
    def input_schema_hash(self) -> str:
        """:func:`hash_schema` of the inputs, as in the identity."""
        return self._input_schema_hash

    @property
    def output_schema_hash(self) -> str:
        """:func:`hash_schema` of the outputs, as in the identity."""
        return self._output_schema_hash

    @property
    def source_hash(self) -> str:
        """The hash of the function's own normalised body (or of its ``code_identity``)."""
        return self._source_hash

    def content_hash(self) -> str:
        """The function's identity: name, version, both schemas, its normalised code
        and what the code depends on (see docs/identity.md)."""
        if self._identity is None:
            self._identify(final=True)
        assert self._identity is not None
        return self._identity

    @property
    def code_dependencies(self) -> tuple[Dependency, ...]:
        """What the identity covers beyond the body: closures, globals, helpers, wrappers."""
        self.content_hash()
        return self._dependencies

    def _identify(self, *, final: bool) -> None:
        """Check the code's dependencies at declaration; identify it at its first use.

        The declaration's walk refuses what cannot be identified at once. The
        identity is made at the first use (a pod applied to a stream, a run),
        when the module has run to its end: helpers defined further down exist,
        and module-level values have the values the function will see.
        """
        if self._code_identity is None:
            found, _ = code_dependencies(
                self.function, ignore=self._ignore, declared=self._declared
            )
            if not final:
                return
            self._dependencies = found
        self._identity = function_identity_hash(
            self.function,
            name=self._name,
            version=self._version,
            input_schema_hash=self._input_schema_hash,
            output_schema_hash=self._output_schema_hash,
            code_identity=self._code_identity,
            dependencies=self._dependencies,
        )

    @property
    def executor(self) -> PacketFunctionExecutor | None:
        """Where calls run; ``None`` calls the function directly, without capture."""
        return self._executor

    @executor.setter
    def executor(self, executor: PacketFunctionExecutor | None) -> None:
        if executor is not None and not executor.supports(self):
            raise TypeError(
                f"executor {executor!r} cannot run Python function {self._name!r}; use an "
                "executor of Python callables such as LocalExecutor"
            )
        self._executor = executor

    # -- calling ---------------------------------------------------------------

    def call(self, packet: data.Packet, *, logger: PacketExecutionLogger | None = None) -> Packet:
        """Compute the output packet of ``packet``, or raise the function's own exception.

        Raises:
            ReturnValueError: the function returned values that do not fit the outputs.
            BaseException: whatever the function raised, unchanged.
        """
        values = self.split_outputs(self.invoke(self.arguments(packet), logger=logger))
        return self.output_packet(values)

    async def async_call(
        self, packet: data.Packet, *, logger: PacketExecutionLogger | None = None
    ) -> Packet:
        """As :meth:`call`, through the executor's async path when there is an executor."""
        kwargs = self.arguments(packet)
        executor = self._python_executor()
        if executor is None:
            self._warn_if_logged(logger)
        attempt = 1
        while True:
            try:
                if executor is None:
                    raw = self.function(**kwargs)
                else:
                    raw = await executor.async_execute_callable(
                        self.function, kwargs, logger=_numbered(logger, attempt)
                    )
                break
            except BaseException as error:
                if not self.retried(error, attempt):
                    raise
            attempt += 1
        return self.output_packet(self.split_outputs(raw))

    def arguments(self, packet: data.Packet | Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of the call for ``packet``: its columns, else the defaults."""
        return {
            name: packet[name] if name in packet else self._defaults[name]
            for name in self._input_schema
        }

    def invoke(
        self,
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
        fn: Callable[..., Any] | None = None,
    ) -> Any:
        """Run the function on ``kwargs`` through its executor (or directly); return its value.

        An error of ``retry_on`` is followed by another attempt while ``retries``
        allow; each attempt's records carry its number (``attempt=``).

        Args:
            fn: what to call instead of the function itself (the function wrapped).

        Raises:
            BaseException: the last attempt's error, unchanged.
        """
        executor = self._python_executor()
        if executor is None:
            self._warn_if_logged(logger)
        function = self.function if fn is None else fn
        attempt = 1
        while True:
            try:
                if executor is None:
                    return function(**kwargs)
                return executor.execute_callable(
                    function, kwargs, logger=_numbered(logger, attempt)
                )
            except BaseException as error:
                if not self.retried(error, attempt):
                    raise
            attempt += 1

    def split_outputs(self, raw: Any) -> tuple[Any, ...]:
        """The function's return value as one value per output key.

        Raises:
            ReturnValueError: several outputs are declared and ``raw`` is not a tuple
                (or list) of that many values.
        """
        keys = self._output_keys
        if len(keys) == 1:
            return (raw,)
        if not isinstance(raw, tuple | list) or len(raw) != len(keys):
            got = f"{len(raw)} values" if isinstance(raw, tuple | list) else type(raw).__name__
            raise ReturnValueError(
                f"function {self._name!r} must return a tuple of {len(keys)} values "
                f"({self._describe_outputs()}), got {got}: {raw!r}"
            )
        return tuple(raw)

    def output_packet(self, values: Sequence[Any]) -> Packet:
        """The output packet of one call's values.

        Raises:
            ReturnValueError: a value does not fit its declared type.
        """
        row = dict(zip(self._output_keys, values, strict=True))
        try:
            return Packet.from_dict(row, self._output_schema)
        except TypeMismatchError:
            raise self.value_error(row) from None

    def value_error(self, row: Mapping[str, Any]) -> ReturnValueError:
        """The error for output values of which some do not fit their declared types."""
        wrong = []
        for key, value in row.items():
            tp = self._output_schema[key]
            try:
                Packet.from_dict({key: value}, Schema({key: tp}))
            except TypeMismatchError as error:
                got = "None" if value is None else f"{type(value).__name__} {value!r}"
                why = ""
                if isinstance(tp, type) and isinstance(value, tp) and " (" in str(error):
                    # the right class, but refused: say why (a File that does not exist,
                    # an array of objects)
                    why = f" ({str(error).split(' (', 1)[1].rsplit('). ', 1)[0]})"
                wrong.append(f"output {key!r} must be {type_name(tp)}, got {got}{why}")
        detail = "; ".join(wrong) or f"values {dict(row)!r} do not fit {self._output_schema!r}"
        return ReturnValueError(f"function {self._name!r} returned a wrong value: {detail}")

    # -- execution context -----------------------------------------------------

    def get_execution_data(self) -> dict[str, Any]:
        """What ran this function, where, and from which code (stored with each result)."""
        return self.execution_data(self._executor)

    def execution_data(self, executor: PacketFunctionExecutor | None) -> dict[str, Any]:
        """The execution data of calls run by ``executor`` (``None``: called directly)."""
        if self._extra_info is None:
            self._extra_info = extra_info(self.function)
        return {
            "executor_type": "direct" if executor is None else executor.executor_type,
            "executor_info": {} if executor is None else executor.get_executor_data(),
            "python_version": python_version(),
            "extra_info": self._extra_info,
        }

    def get_execution_data_schema(self) -> Schema:
        """The declared types of :meth:`get_execution_data`."""
        return EXECUTION_DATA_SCHEMA

    # -- helpers ---------------------------------------------------------------

    def _python_executor(self) -> PythonFunctionExecutor | None:
        return self._executor  # type: ignore[return-value]  # supports() checked on assignment

    def _warn_if_logged(self, logger: PacketExecutionLogger | None) -> None:
        if logger is not None:
            warnings.warn(
                f"a packet logger was passed to function {self._name!r}, which has no executor: "
                "nothing it prints or logs will be captured. Set an executor, e.g. "
                "LocalExecutor().",
                UserWarning,
                stacklevel=3,
            )

    def _describe_outputs(self) -> str:
        return ", ".join(f"{key}: {type_name(tp)}" for key, tp in self._output_schema.items())

    def check_inputs(self, packet_schema: Schema | data.Schema, *, where: str) -> None:
        """Refuse a packet schema that lacks a parameter's column or types it differently.

        Raises:
            SchemaError: names the function, the column and both types.
        """
        packet_schema = Schema.of(packet_schema)
        for name, wanted in self._input_schema.items():
            if name not in packet_schema:
                if name in self._defaults:
                    continue
                raise SchemaError(
                    f"{where}: function {self._name!r} has parameter {name!r} "
                    f"({type_name(wanted)}) but the input packets have no column {name!r}; "
                    f"their columns are {list(packet_schema)}. Rename the column (MapPackets) "
                    "or the parameter, or give the parameter a default."
                )
            given = packet_schema[name]
            if not _accepts(wanted, given):
                raise SchemaError(
                    f"{where}: function {self._name!r} parameter {name!r} is "
                    f"{type_name(wanted)} but column {name!r} is {type_name(given)}; change "
                    "the annotation or convert the column."
                )


def _numbered(logger: PacketExecutionLogger | None, attempt: int) -> PacketExecutionLogger | None:
    """``logger``, its records numbered ``attempt`` (the first attempt's left as they are)."""
    if logger is None or attempt == 1:
        return logger
    return _NumberedRecords(logger, attempt)


class _NumberedRecords:
    """A packet logger stamping each record with the attempt it belongs to."""

    __slots__ = ("attempt", "keeps_records", "logger")

    def __init__(self, logger: PacketExecutionLogger, attempt: int) -> None:
        self.logger = logger
        self.attempt = attempt
        self.keeps_records = getattr(logger, "keeps_records", True)

    def record(self, **fields: Any) -> None:
        fields["attempt"] = self.attempt
        self.logger.record(**fields)


def accepts(parameter: Any, column: Any) -> bool:
    """Whether a parameter annotated ``parameter`` can take every value of a ``column`` type.

    Equal types fit; ``T | None`` takes ``T``; ``float`` takes ``int`` (Python's
    numeric tower); ``list`` and ``dict`` items follow the same rules.

    Raises:
        UnsupportedTypeError: either is not a supported type.
    """
    return _accepts(normalize_type(parameter), normalize_type(column))


def _accepts(parameter: Any, column: Any) -> bool:
    if parameter == column:
        return True
    if is_optional(parameter):
        return _accepts(strip_optional(parameter), strip_optional(column))
    if is_optional(column):
        return False
    if parameter is float and column is int:
        return True
    origin = typing.get_origin(parameter)
    if origin is not None and origin is typing.get_origin(column):
        return all(
            _accepts(p, c)
            for p, c in zip(typing.get_args(parameter), typing.get_args(column), strict=True)
        )
    return False


def _output_keys(output_keys: str | Sequence[str], name: str) -> tuple[str, ...]:
    keys = (output_keys,) if isinstance(output_keys, str) else tuple(output_keys)
    if not keys:
        raise FunctionDeclarationError(
            f"function {name!r} declares no output_keys; name its output column, e.g. "
            "output_keys='result'"
        )
    for key in keys:
        if not isinstance(key, str) or not key:
            raise FunctionDeclarationError(
                f"function {name!r}: output key {key!r} is not a non-empty str"
            )
        if is_system_column(key):
            raise FunctionDeclarationError(
                f"function {name!r}: output key {key!r} starts with '__', which is reserved "
                "for orcapod's system columns; rename it"
            )
    if len(set(keys)) != len(keys):
        raise FunctionDeclarationError(f"function {name!r}: output_keys {keys} repeat a name")
    return keys


def _checked_retries(retries: int, name: str) -> int:
    if type(retries) is not int or retries < 0:
        raise FunctionDeclarationError(
            f"function {name!r}: retries={retries!r}; pass a whole number >= 0 (how many "
            "more attempts a packet gets after its first), e.g. retries=2"
        )
    return retries


def _checked_retry_on(
    retry_on: type[BaseException] | Sequence[type[BaseException]], name: str
) -> tuple[type[BaseException], ...]:
    kinds = (retry_on,) if isinstance(retry_on, type) else retry_on
    if (
        not isinstance(kinds, tuple | list)
        or not kinds
        or not all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in kinds)
    ):
        raise FunctionDeclarationError(
            f"function {name!r}: retry_on={retry_on!r}; pass a tuple of exception classes, "
            "e.g. retry_on=(TimeoutError, ConnectionError)"
        )
    return tuple(kinds)


def _hints(function: Callable[..., Any], name: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception as error:  # a NameError from a string annotation, mostly
        raise FunctionDeclarationError(
            f"cannot read the type annotations of function {name!r}: "
            f"{type(error).__name__}: {error}"
        ) from None


def _parameters(
    function: Callable[..., Any], name: str
) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    hints = _hints(function, name)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as error:
        raise FunctionDeclarationError(
            f"cannot read the signature of function {name!r}: {error}"
        ) from None
    parameters, defaults = [], {}
    for parameter in signature.parameters.values():
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise FunctionDeclarationError(
                f"function {name!r}: parameter {parameter.name!r} is {parameter.kind.description}; "
                "packet functions take named parameters only, one per input column"
            )
        if parameter.name not in hints:
            raise FunctionDeclarationError(
                f"function {name!r}: parameter {parameter.name!r} has no type annotation; "
                "annotate it with the type of its column (e.g. x: int)"
            )
        where = f"parameter {parameter.name!r} of function {name!r}"
        parameters.append((parameter.name, normalize_type(hints[parameter.name], where=where)))
        if parameter.default is not parameter.empty:
            defaults[parameter.name] = parameter.default
    return parameters, defaults


def _output_schema(function: Callable[..., Any], name: str, keys: tuple[str, ...]) -> Schema:
    hints = _hints(function, name)
    if "return" not in hints:
        raise FunctionDeclarationError(
            f"function {name!r} has no return annotation; annotate what it returns "
            f"for output {'key' if len(keys) == 1 else 'keys'} {', '.join(map(repr, keys))}"
        )
    returned = hints["return"]
    where = f"the return annotation of function {name!r}"
    if len(keys) == 1:
        return Schema({keys[0]: normalize_type(returned, where=where)})
    args = typing.get_args(returned)
    if typing.get_origin(returned) is not tuple or len(args) != len(keys) or Ellipsis in args:
        raise FunctionDeclarationError(
            f"function {name!r} declares {len(keys)} output keys {list(keys)}, so its return "
            f"annotation must be tuple[...] of {len(keys)} types, got {returned!r}"
        )
    return Schema(zip(keys, (normalize_type(a, where=where) for a in args), strict=True))


if TYPE_CHECKING:
    _satisfies_the_protocol: PacketFunction = PythonPacketFunction(print, "x")


def _checked_names(names: Sequence[str], what: str, function: str) -> frozenset[str]:
    if isinstance(names, str) or not all(isinstance(name, str) and name for name in names):
        raise FunctionDeclarationError(
            f"function {function!r}: {what}= must be a list of names, e.g. {what}=['logger'], "
            f"got {names!r}"
        )
    return frozenset(names)


def _checked_declared(declared: Mapping[str, str] | None, function: str) -> dict[str, str]:
    if declared is None:
        return {}
    if not hasattr(declared, "items") or not all(
        isinstance(name, str) and name and isinstance(version, str)
        for name, version in declared.items()
    ):
        raise FunctionDeclarationError(
            f"function {function!r}: dependencies= must map names to version strings, e.g. "
            f"dependencies={{'MODEL': 'v3'}}, got {declared!r}"
        )
    return dict(declared)

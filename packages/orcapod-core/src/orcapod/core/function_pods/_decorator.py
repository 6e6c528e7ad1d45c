"""``@function_pod``: turn a type-annotated function into a packet function with a pod."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, cast

from orcapod.core.function_pods._function_pod import FunctionPod
from orcapod.core.function_pods._packet_function import PythonPacketFunction

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["PodFunction", "function_pod"]

P = ParamSpec("P")
R = TypeVar("R", covariant=True)


class PodFunction(Protocol, Generic[P, R]):
    """A function decorated with ``@function_pod``: still callable, plus its ``pod``."""

    pod: FunctionPod

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...


def function_pod(
    output_keys: str | Sequence[str],
    *,
    version: str = "v0",
    label: str | None = None,
    name: str | None = None,
    code_identity: str | None = None,
    retries: int = 0,
    retry_on: type[BaseException] | Sequence[type[BaseException]] = (Exception,),
    ignore: Sequence[str] = (),
    dependencies: Mapping[str, str] | None = None,
) -> Callable[[Callable[P, R]], PodFunction[P, R]]:
    """Declare a function as a packet function and give it a ``.pod``.

    The function itself is returned unchanged (call it as before), with an
    attribute ``pod``: a :class:`FunctionPod` to apply it to streams,
    ``fn.pod(stream)``.

    ::

        @function_pod(output_keys="total")
        def add(x: int, y: int) -> int:
            return x + y

        add.pod(source)          # a lazy stream with a packet column "total"

    Args:
        output_keys: the output column's name, or several names for a tuple result.
        version: the declared version; bump it to recompute results on purpose.
        label: the pod's label (a node's label in a pipeline).
        name: the name in the function's identity; by default the function's own.
        code_identity: stands in for the source code when it cannot be read.
        retries: how many more attempts a packet gets after one that raised an
            error of ``retry_on`` (each attempt has its own log row). Not part of
            the function's identity.
        retry_on: the exception classes retried (subclasses too); by default
            every ``Exception`` (``SystemExit``, ``KeyboardInterrupt``: only if listed).
        ignore: names the code reads that are left out of its identity on purpose.
        dependencies: names identified by a version string you give instead of
            their value (``{"MODEL": "v3"}``), for objects orcapod cannot hash.

    The identity covers the function's body, its closure values, the
    module-level names it reads (your own functions and classes recursively,
    plain data by value, installed distributions by name and version) and
    the functions it wraps; see docs/identity.md.

    Raises:
        FunctionDeclarationError, UnsupportedTypeError, HashingError: at decoration,
            when the function cannot be a packet function as declared (``retries``
            not a whole number >= 0, ``retry_on`` not exception classes included).
    """

    def decorate(fn: Callable[P, R]) -> PodFunction[P, R]:
        packet_function = PythonPacketFunction(
            fn,
            output_keys,
            name=name,
            version=version,
            code_identity=code_identity,
            retries=retries,
            retry_on=retry_on,
            ignore=ignore,
            dependencies=dependencies,
        )
        pod_fn = cast("Any", fn)
        pod_fn.pod = FunctionPod(packet_function, label=label)
        return cast("PodFunction[P, R]", pod_fn)

    return decorate

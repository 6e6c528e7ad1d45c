"""Walking a graph of streams or nodes without recursion.

A pipeline may be thousands of streams deep (a chain of pods, chained
diamonds). A walk that recursed into each element's inputs would take a
Python frame (or several) per element and exceed the recursion limit (1,000
by default) long before that; these keep their own stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable

__all__ = ["inputs_first", "run_recursive"]

T = TypeVar("T")


def inputs_first(
    roots: Iterable[T],
    inputs_of: Callable[[T], Iterable[T]],
    *,
    done: Callable[[T], bool] = lambda _: False,
) -> list[T]:
    """``roots`` and every element upstream of them, each after its inputs.

    The order is that of a depth-first walk from each root in turn, each
    element's inputs in their order: each element comes once (told apart by
    identity), after its inputs. An element that ``done`` says is finished
    (what is computed from its inputs is kept) is left out, and its inputs are
    not walked through it.
    """
    order: list[T] = []
    seen: set[int] = set()
    for root in roots:
        stack: list[tuple[T, bool]] = [(root, False)]
        while stack:
            element, inputs_placed = stack.pop()
            if inputs_placed:
                order.append(element)
            elif id(element) not in seen and not done(element):
                seen.add(id(element))
                stack.append((element, True))
                stack.extend((upstream, False) for upstream in reversed(list(inputs_of(element))))
    return order


def run_recursive(call: Generator[Any, Any, T]) -> T:
    """The value of a recursive function written as a generator, without recursion.

    The function yields the generator of each recursive call instead of
    calling itself (``value = yield step(...)`` for ``value = step(...)``);
    here each call yielded runs to its return before its caller goes on, with
    the value returned sent back in. An error raised in a call is raised from
    here, not into its callers: they must not catch errors around a ``yield``.
    """
    stack: list[Generator[Any, Any, Any]] = [call]
    value: Any = None
    while True:
        try:
            inner = stack[-1].send(value)
        except StopIteration as returned:
            stack.pop()
            if not stack:
                return returned.value  # type: ignore[no-any-return]
            value = returned.value
        else:
            stack.append(inner)
            value = None

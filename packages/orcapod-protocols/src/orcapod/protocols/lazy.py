"""Lazy re-exports for package ``__init__`` modules, so imports stay fast."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__all__``, ``__getattr__`` and ``__dir__`` importing names on first use.

    Args:
        namespace: the ``globals()`` of the package being defined.
        exports: public name to the module that defines it.

    Use it as ``__all__, __getattr__, __dir__ = lazy_exports(globals(), {...})``
    and import the same names under ``if TYPE_CHECKING:`` for type checkers.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return sorted(exports), __getattr__, __dir__

"""Where code comes from: the user's own code, the standard library or an installed
distribution, decided by where its file is (docs/identity.md, "Dependencies")."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import site
import sys
import sysconfig
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

_STDLIB = frozenset({"stdlib", "builtins"})


@dataclass(frozen=True)
class _Origin:
    kind: str  # "user", "stdlib", "distribution", "builtins"
    name: str
    version: str = ""

    @property
    def shown(self) -> str:
        return f"{self.name} {self.version}".strip()


def _module_origin(module_name: object) -> _Origin:
    if not isinstance(module_name, str):
        return _Origin("user", "")
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None) if isinstance(module, types.ModuleType) else None
    return _origin(module_name, file if isinstance(file, str) else None)


def _function_origin(fn: types.FunctionType) -> _Origin:
    """By the module whose globals the function has and the file of its code, which
    ``functools.wraps`` does not change (it copies ``__module__``)."""
    module = fn.__globals__.get("__name__") if isinstance(fn.__globals__, dict) else None
    if not isinstance(module, str):
        return _Origin("user", "")
    filename = fn.__code__.co_filename
    return _origin(module, None if filename.startswith("<") else filename)


@functools.cache
def _origin(module_name: str, file: str | None) -> _Origin:
    """Whether a module is the user's own code, the standard library or an installed
    distribution, by where its file is: an editable install is the user's own code,
    and so is a module of the user's named like one of the standard library."""
    top = module_name.partition(".")[0]
    if top == "builtins":
        return _Origin("builtins", top)
    if top == "orcapod":
        return _orcapod_origin(module_name)
    if file is None:  # built into the interpreter, frozen, or made without a file
        stdlib = top in sys.stdlib_module_names or module_name in sys.builtin_module_names
        return _Origin("stdlib", top) if stdlib else _Origin("user", module_name)
    real = os.path.realpath(file)
    if any(real.startswith(root) for root in _install_roots()):
        return _distribution_origin(top)
    if any(real.startswith(root) for root in _stdlib_roots()):
        return _Origin("stdlib", top)
    return _Origin("user", module_name)


def _orcapod_origin(module_name: str) -> _Origin:
    """orcapod's own packages, by distribution even where installed editable (here)."""
    parts = module_name.split(".")
    for size in (3, 2):
        name = "-".join(parts[:size])
        try:
            return _Origin("distribution", name, importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue
    return _Origin("distribution", "orcapod", "unknown version")


def _distribution_origin(top: str) -> _Origin:
    """The distribution providing the top-level module ``top``: the one of that name
    (numpy, pandas) without scanning every installed distribution, else by the scan."""
    try:
        distribution = importlib.metadata.distribution(top)
        if top in (distribution.read_text("top_level.txt") or top).split():
            return _Origin("distribution", distribution.metadata["Name"], distribution.version)
    except importlib.metadata.PackageNotFoundError:
        pass
    names = sorted(_packages_distributions().get(top, ()))
    if not names:
        return _Origin("distribution", top, "unknown version")
    return _Origin("distribution", names[0], importlib.metadata.version(names[0]))


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def _install_roots() -> tuple[str, ...]:
    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    return tuple(sorted(os.path.realpath(root) + os.sep for root in roots if root))


@functools.cache
def _stdlib_roots() -> tuple[str, ...]:
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")}
    return tuple(sorted(os.path.realpath(root) + os.sep for root in roots if root))

"""Checks a plugin distribution can run on itself: do its entry points load and register?"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import distribution
from typing import Any

import pluggy

from orcapod.protocols import hooks
from orcapod.protocols.logical_types import LogicalTypeDefinition

__all__ = ["load_distribution_logical_types", "load_distribution_plugins"]

_HOOK_KINDS = {
    "orcapod_database_schemes": "database",
    "orcapod_executors": "executor",
    "orcapod_observers": "observer",
    "orcapod_cli_commands": "cli-command",
}


def load_distribution_plugins(dist_name: str) -> dict[str, dict[str, Callable[..., Any]]]:
    """Load every ``orcapod`` entry point of one installed distribution, as the host would.

    Each entry point is imported and registered into a fresh plugin manager
    with orcapod's hook specs; ``check_pending`` rejects misnamed hooks; each
    hook is called and must answer a mapping of name to callable factory.

    Returns:
        Kind (``"database"``, ``"executor"``, ``"observer"``, ``"cli-command"``)
        to name to factory, for everything the distribution provides.

    Raises:
        AssertionError: the distribution declares no ``orcapod`` entry point, or
            one of them breaks a rule above; the message says which.
    """
    manager = _load(dist_name)
    provided: dict[str, dict[str, Callable[..., Any]]] = {}
    for hook_name, kind in _HOOK_KINDS.items():
        for answer in getattr(manager.hook, hook_name)():
            assert isinstance(answer, Mapping), (
                f"{dist_name}: {hook_name} returned {type(answer).__name__}, not a mapping"
            )
            for name, factory in answer.items():
                assert isinstance(name, str), f"{dist_name}: {hook_name} name {name!r}"
                assert name, f"{dist_name}: {hook_name} gave an empty name"
                assert callable(factory), f"{dist_name}: {hook_name} factory of {name!r}"
                provided.setdefault(kind, {})[name] = factory
    return provided


def load_distribution_logical_types(dist_name: str) -> dict[str, LogicalTypeDefinition]:
    """The logical types one installed distribution's entry points provide, by name.

    Loads the entry points as :func:`load_distribution_plugins` does and calls
    ``orcapod_logical_types``; each answer must be a list (or tuple) of objects
    with the attributes of
    :class:`~orcapod.protocols.logical_types.LogicalTypeDefinition`, their names
    unique. Whether each type is sound is what
    :class:`~orcapod.protocols.testing.logical_types.LogicalTypeContract` checks.

    Raises:
        AssertionError: the distribution declares no ``orcapod`` entry point, a
            hook is misnamed, or an answer breaks a rule above.
    """
    manager = _load(dist_name)
    provided: dict[str, LogicalTypeDefinition] = {}
    for answer in manager.hook.orcapod_logical_types():
        assert isinstance(answer, list | tuple), (
            f"{dist_name}: orcapod_logical_types returned {type(answer).__name__}, not a list"
        )
        for definition in answer:
            assert isinstance(definition, LogicalTypeDefinition), (
                f"{dist_name}: orcapod_logical_types gave {definition!r}, which lacks some of "
                "name, python_class, storage_type, to_storage, from_storage, identity_fields "
                "and description; return orcapod.protocols.logical_types.LogicalTypeSpec objects"
            )
            assert definition.name not in provided, (
                f"{dist_name}: logical type {definition.name!r} is provided twice"
            )
            provided[definition.name] = definition
    return provided


def _load(dist_name: str) -> pluggy.PluginManager:
    entry_points = [ep for ep in distribution(dist_name).entry_points if ep.group == "orcapod"]
    assert entry_points, f"{dist_name} declares no entry point in the 'orcapod' group"
    manager = pluggy.PluginManager(hooks.PROJECT_NAME)
    manager.add_hookspecs(hooks)
    for entry_point in entry_points:
        manager.register(entry_point.load(), name=entry_point.name)
    manager.check_pending()
    return manager

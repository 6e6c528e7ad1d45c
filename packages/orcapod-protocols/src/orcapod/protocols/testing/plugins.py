"""Checks a plugin distribution can run on itself: do its entry points load and register?"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import distribution
from typing import Any

import pluggy

from orcapod.protocols import hooks

__all__ = ["load_distribution_plugins"]

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
    entry_points = [ep for ep in distribution(dist_name).entry_points if ep.group == "orcapod"]
    assert entry_points, f"{dist_name} declares no entry point in the 'orcapod' group"
    manager = pluggy.PluginManager(hooks.PROJECT_NAME)
    manager.add_hookspecs(hooks)
    for entry_point in entry_points:
        manager.register(entry_point.load(), name=entry_point.name)
    manager.check_pending()
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

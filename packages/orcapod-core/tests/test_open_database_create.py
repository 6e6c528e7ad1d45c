"""``open_database(uri, create=False)``: how the registry passes ``create`` to factories."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from orcapod.core import InMemoryArrowDatabase
from orcapod.core.cli import RegistryHost
from orcapod.core.errors import PluginLoadWarning
from orcapod.core.plugins import PluginRegistry
from orcapod.protocols.errors import DatabaseError, StoreNotFoundError
from orcapod.protocols.hooks import hookimpl


class _Stores:
    """A plugin whose factories record how they were called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def orcapod_database_schemes(self) -> dict[str, Any]:
        return {"modern": self.modern, "legacy": self.legacy, "loose": self.loose}

    def modern(self, uri: str, *, create: bool = True) -> InMemoryArrowDatabase:
        self.calls.append((uri, create))
        if not create:
            raise StoreNotFoundError(f"no store at {uri!r}")
        return InMemoryArrowDatabase()

    def legacy(self, uri: str) -> InMemoryArrowDatabase:
        self.calls.append((uri, "no create keyword"))
        return InMemoryArrowDatabase()

    def loose(self, uri: str, **options: Any) -> InMemoryArrowDatabase:
        self.calls.append((uri, options))
        return InMemoryArrowDatabase()


def _registry() -> tuple[PluginRegistry, _Stores]:
    registry = PluginRegistry(autoload=False)
    stores = _Stores()
    registry.register(stores, "test-stores")
    return registry, stores


def test_create_reaches_a_factory_that_takes_it() -> None:
    registry, stores = _registry()
    registry.open_database("modern://a").close()
    with pytest.raises(StoreNotFoundError):
        registry.open_database("modern://b", create=False)
    registry.open_database("loose://c", create=False).close()
    assert stores.calls == [
        ("modern://a", True),
        ("modern://b", False),
        ("loose://c", {"create": False}),
    ]


def test_a_factory_without_create_still_opens_stores_and_warns_when_asked_to_read() -> None:
    registry, stores = _registry()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.open_database("legacy://a").close()  # the default: no warning
    with pytest.warns(PluginLoadWarning) as caught:
        registry.open_database("legacy://b", create=False).close()
    message = str(caught[0].message)
    assert "legacy://" in message
    assert "test-stores" in message
    assert "create=True" in message, "the warning says how the factory should change"
    assert stores.calls == [
        ("legacy://a", "no create keyword"),
        ("legacy://b", "no create keyword"),
    ]


def test_memory_opened_to_read_is_an_error_saying_why() -> None:
    registry = PluginRegistry(autoload=False)
    with pytest.raises(StoreNotFoundError) as caught:
        registry.open_database("memory://", create=False)
    assert "memory://" in str(caught.value)
    assert "in-memory" in str(caught.value)
    assert isinstance(registry.open_database("memory://"), InMemoryArrowDatabase)


def test_create_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="create must be True or False"):
        PluginRegistry(autoload=False).open_database("memory://", create="no")  # type: ignore[arg-type]


def test_the_command_line_host_passes_create_through() -> None:
    registry, stores = _registry()
    host = RegistryHost(registry)
    with pytest.raises(DatabaseError):
        host.open_database("modern://x", create=False)
    host.open_database("modern://y").close()
    assert stores.calls == [("modern://x", False), ("modern://y", True)]

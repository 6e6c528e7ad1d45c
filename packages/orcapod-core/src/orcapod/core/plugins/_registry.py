"""Discovery of plugins through pluggy entry points, and lookup of what they provide."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from orcapod.core.errors import PluginError, PluginLoadWarning, PluginNotFoundError
from orcapod.protocols.values import PluginKind

if TYPE_CHECKING:
    import pluggy

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.hooks import CliCommandFactory
    from orcapod.protocols.observability import ExecutionObserver

__all__ = [
    "AUTOLOAD_ENV_VAR",
    "ENTRY_POINT_GROUP",
    "PluginFailure",
    "PluginProvision",
    "PluginRegistry",
]

ENTRY_POINT_GROUP = "orcapod"
AUTOLOAD_ENV_VAR = "ORCAPOD_DISABLE_PLUGIN_AUTOLOAD"
"""Set to a non-empty value other than ``0`` to load only orcapod's built-ins."""

BUILTIN_PLUGIN = "builtin"

_HOOKS: dict[PluginKind, str] = {
    PluginKind.DATABASE: "orcapod_database_schemes",
    PluginKind.EXECUTOR: "orcapod_executors",
    PluginKind.OBSERVER: "orcapod_observers",
    PluginKind.CLI_COMMAND: "orcapod_cli_commands",
}

_NOUNS: dict[PluginKind, str] = {
    PluginKind.DATABASE: "database URI scheme",
    PluginKind.EXECUTOR: "executor",
    PluginKind.OBSERVER: "observer",
    PluginKind.CLI_COMMAND: "command",
}

# Which distribution of the orcapod family provides each well-known name, so
# that asking for one that is not installed says what to install.
KNOWN_PROVIDERS: dict[PluginKind, dict[str, str]] = {
    PluginKind.DATABASE: {
        "delta": "orcapod-db-delta",
        "sqlite": "orcapod-db-sql",
        "postgresql": "orcapod-db-sql[postgres]",
        "postgresql+psycopg": "orcapod-db-sql[postgres]",
    },
    PluginKind.EXECUTOR: {"ray": "orcapod-executors-ray"},
    PluginKind.OBSERVER: {
        "logging": "orcapod-observers",
        "status": "orcapod-observers",
        "composite": "orcapod-observers",
        "progress": "orcapod-observers",
    },
    PluginKind.CLI_COMMAND: {
        "runs": "orcapod-observers",
        "status": "orcapod-observers",
        "logs": "orcapod-observers",
    },
}


@dataclass(frozen=True, slots=True)
class PluginProvision:
    """One name a plugin provides: an executor called "ray", the scheme "delta", ..."""

    kind: PluginKind
    name: str
    plugin: str
    """The entry-point name, or ``"builtin"``."""
    distribution: str
    version: str
    factory: Callable[..., Any]


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A plugin that was skipped because it failed to load, register or answer a hook."""

    plugin: str
    distribution: str
    version: str
    error: str

    def describe(self) -> str:
        """One line saying which plugin failed, how, and that it was skipped."""
        return (
            f"orcapod plugin {self.plugin!r} from {self.distribution} {self.version} "
            f"failed and was skipped: {self.error}"
        )


@dataclass(frozen=True, slots=True)
class _Origin:
    plugin: str
    distribution: str
    version: str


def autoload_disabled() -> bool:
    """Whether the environment asks for built-ins only."""
    value = os.environ.get(AUTOLOAD_ENV_VAR, "").strip().lower()
    return value not in ("", "0", "false", "no")


class PluginRegistry:
    """Every plugin of one process, loaded lazily and once.

    Built-ins register through the same hooks as plugins, with
    ``trylast=True``, so a plugin may deliberately provide a name a built-in
    also provides. A plugin that fails to import, to register or to answer a
    hook is reported with a :class:`PluginLoadWarning` and skipped; the others
    still load.

    Args:
        autoload: load entry points of the ``orcapod`` group. ``None`` reads
            the ``ORCAPOD_DISABLE_PLUGIN_AUTOLOAD`` environment variable.
        group: the entry-point group to load (tests use their own).
    """

    def __init__(self, *, autoload: bool | None = None, group: str = ENTRY_POINT_GROUP) -> None:
        self.autoload = not autoload_disabled() if autoload is None else autoload
        self.group = group
        self._lock = threading.RLock()
        self._manager: pluggy.PluginManager | None = None
        self._origins: dict[int, _Origin] = {}
        self._failures: list[PluginFailure] = []
        self._provisions: dict[PluginKind, dict[str, PluginProvision]] | None = None

    # -- loading ---------------------------------------------------------------

    def _ensure_manager(self) -> pluggy.PluginManager:
        with self._lock:
            if self._manager is None:
                self._manager = self._load()
            return self._manager

    def _load(self) -> pluggy.PluginManager:
        import pluggy

        from orcapod.core.plugins import _builtins
        from orcapod.protocols import hooks

        manager = pluggy.PluginManager(hooks.PROJECT_NAME)
        manager.add_hookspecs(hooks)
        self._register(manager, _builtins, BUILTIN_PLUGIN, _core_origin())
        if self.autoload:
            for entry_point in _entry_points(self.group):
                self._load_entry_point(manager, entry_point)
        return manager

    def _load_entry_point(self, manager: pluggy.PluginManager, entry_point: Any) -> None:
        dist = entry_point.dist
        origin = _Origin(
            plugin=entry_point.name,
            distribution=dist.name if dist is not None else "<unknown distribution>",
            version=dist.version if dist is not None else "?",
        )
        try:
            plugin = entry_point.load()
        except Exception as error:
            self._fail(origin, f"import of {entry_point.value!r} raised {_describe(error)}")
            return
        self._register(manager, plugin, entry_point.name, origin)

    def _register(
        self, manager: pluggy.PluginManager, plugin: object, name: str, origin: _Origin
    ) -> None:
        if manager.get_plugin(name) is not None:
            self._fail(origin, f"the plugin name {name!r} is already taken by another plugin")
            return
        try:
            manager.register(plugin, name=name)
            manager.check_pending()
        except Exception as error:
            if manager.is_registered(plugin):
                manager.unregister(plugin)
            self._fail(origin, f"registration raised {_describe(error)}")
            return
        self._origins[id(plugin)] = origin

    def _fail(self, origin: _Origin, error: str) -> None:
        failure = PluginFailure(origin.plugin, origin.distribution, origin.version, error)
        if failure in self._failures:  # hooks are asked again after register(); report once
            return
        self._failures.append(failure)
        warnings.warn(failure.describe(), PluginLoadWarning, stacklevel=4)

    def register(
        self, plugin: object, name: str, *, distribution: str = "", version: str = ""
    ) -> None:
        """Register a plugin object directly (for plugins defined in a script or notebook).

        Raises:
            PluginError: the plugin could not be registered, saying why.
        """
        manager = self._ensure_manager()
        with self._lock:
            before = len(self._failures)
            self._register(
                manager, plugin, name, _Origin(name, distribution or name, version or "?")
            )
            if len(self._failures) > before:
                raise PluginError(self._failures.pop().describe())
            self._provisions = None

    # -- what plugins provide --------------------------------------------------

    @property
    def failures(self) -> list[PluginFailure]:
        """The plugins skipped so far, with why."""
        self._collect()
        return list(self._failures)

    def provisions(self, kind: PluginKind | None = None) -> list[PluginProvision]:
        """Everything the loaded plugins provide, of one kind or of all kinds."""
        collected = self._collect()
        kinds = [kind] if kind is not None else list(PluginKind)
        return [p for k in kinds for p in sorted(collected[k].values(), key=lambda p: p.name)]

    def _collect(self) -> dict[PluginKind, dict[str, PluginProvision]]:
        manager = self._ensure_manager()
        with self._lock:
            if self._provisions is None:
                self._provisions = {kind: self._call_hook(manager, kind) for kind in PluginKind}
            return self._provisions

    def _call_hook(
        self, manager: pluggy.PluginManager, kind: PluginKind
    ) -> dict[str, PluginProvision]:
        provided: dict[str, PluginProvision] = {}
        caller = getattr(manager.hook, _HOOKS[kind])
        # pluggy calls implementations last-registered first, trylast ones last;
        # call each on its own so one broken plugin cannot hide the others.
        for impl in reversed(caller.get_hookimpls()):
            origin = self._origins[id(impl.plugin)]
            try:
                answer = impl.function()
                items = _validated_items(answer, kind)
            except Exception as error:
                self._fail(origin, f"hook {_HOOKS[kind]} raised {_describe(error)}")
                continue
            for name, factory in items:
                if name in provided and origin.plugin == BUILTIN_PLUGIN:
                    continue  # a plugin replacing a built-in on purpose
                if name in provided:
                    first = provided[name]
                    self._fail(
                        origin,
                        f"{_NOUNS[kind]} {name!r} is already provided by plugin "
                        f"{first.plugin!r} ({first.distribution}); this one is ignored",
                    )
                    continue
                provided[name] = PluginProvision(
                    kind, name, origin.plugin, origin.distribution, origin.version, factory
                )
        return provided

    def lookup(self, kind: PluginKind, name: str) -> PluginProvision:
        """What provides ``name`` of ``kind``.

        Raises:
            PluginNotFoundError: nothing installed provides it; the message lists
                what is installed and which distribution to install.
        """
        provided = self._collect()[kind]
        if name in provided:
            return provided[name]
        raise PluginNotFoundError(self._not_found_message(kind, name, sorted(provided)))

    def _not_found_message(self, kind: PluginKind, name: str, installed: list[str]) -> str:
        noun = _NOUNS[kind]
        shown = f"{name}://" if kind is PluginKind.DATABASE else repr(name)
        listed = ", ".join(f"{n}://" if kind is PluginKind.DATABASE else n for n in installed)
        lines = [f"No installed plugin provides the {noun} {shown}."]
        provider = KNOWN_PROVIDERS[kind].get(name)
        if provider is not None:
            broken = [f for f in self._failures if f.distribution == provider.split("[")[0]]
            if broken:
                lines.append(f"{provider} is installed but failed to load: {broken[0].error}")
            elif not self.autoload:
                lines.append(
                    f"Plugin autoloading is disabled ({AUTOLOAD_ENV_VAR} is set); "
                    f"unset it to use {provider}."
                )
            else:
                lines.append(f"Install it with: pip install {provider}")
        lines.append(f"Installed {noun}s: {listed or 'none'}.")
        if provider is None:
            lines.append(
                "Check the spelling; third-party plugins are packages that declare "
                f"an entry point in the {self.group!r} group."
            )
        return "\n".join(lines)

    # -- the services ----------------------------------------------------------

    def open_database(self, uri: str, *, create: bool = True) -> ArrowDatabase:
        """Open the database a URI names, e.g. ``memory://`` or ``delta:///data/store``.

        Args:
            uri: ``scheme://location``.
            create: create the store if it does not exist (the default). With
                ``create=False`` the store must exist already, and nothing is
                created when it does not.

        Raises:
            StoreNotFoundError: ``create`` is false and the store does not exist.
            PluginNotFoundError: no installed plugin handles the URI's scheme.
            ValueError: ``uri`` is not of the form ``scheme://...``.
        """
        if not isinstance(uri, str) or "://" not in uri:
            raise ValueError(
                f"database URI {uri!r} has no scheme; write it as scheme://location, "
                "e.g. 'memory://', 'delta://./orcapod-data' or 'sqlite:///results.db'"
            )
        if not isinstance(create, bool):
            raise TypeError(f"create must be True or False, got {create!r}")
        scheme = uri.split("://", 1)[0].lower()
        provision = self.lookup(PluginKind.DATABASE, scheme)
        factory = cast("Callable[..., ArrowDatabase]", provision.factory)
        if _accepts_create(factory):
            return factory(uri, create=create)
        if not create:
            warnings.warn(
                f"the {scheme}:// database factory of plugin {provision.plugin!r} "
                f"({provision.distribution} {provision.version}) takes no 'create' keyword, "
                f"so opening {uri!r} read-only may create an empty store there; the plugin "
                "should accept 'def factory(uri, *, create=True)' and raise "
                "orcapod.protocols.errors.StoreNotFoundError for a missing store",
                PluginLoadWarning,
                stacklevel=2,
            )
        return factory(uri)

    def get_executor(self, name: str, **options: Any) -> PacketFunctionExecutor:
        """A new executor of the kind ``name`` (``"local"``, ``"ray"``), made with ``options``."""
        factory = self.lookup(PluginKind.EXECUTOR, name).factory
        return cast("PacketFunctionExecutor", factory(**options))

    def get_observer(self, name: str, **options: Any) -> ExecutionObserver:
        """A new observer of the kind ``name`` (``"noop"``, ``"logging"``) made with ``options``."""
        factory = self.lookup(PluginKind.OBSERVER, name).factory
        return cast("ExecutionObserver", factory(**options))

    def cli_commands(self) -> dict[str, CliCommandFactory]:
        """Every sub-command of the ``orcapod`` command line, by name."""
        return {p.name: p.factory for p in self.provisions(PluginKind.CLI_COMMAND)}


def _entry_points(group: str) -> list[Any]:
    from importlib.metadata import entry_points

    seen: set[tuple[str, str]] = set()
    unique = []
    for entry_point in entry_points(group=group):
        dist = entry_point.dist
        key = (dist.name if dist is not None else "", entry_point.name)
        if key not in seen:  # a distribution on sys.path twice lists its entry points twice
            seen.add(key)
            unique.append(entry_point)
    return unique


def _validated_items(answer: object, kind: PluginKind) -> Iterable[tuple[str, Callable[..., Any]]]:
    if not isinstance(answer, Mapping):
        raise TypeError(f"expected a mapping of name to factory, got {type(answer).__name__}")
    for name, factory in answer.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{_NOUNS[kind]} name {name!r} is not a non-empty str")
        if not callable(factory):
            raise TypeError(f"the factory for {name!r} is a {type(factory).__name__}, not callable")
    return list(answer.items())


def _accepts_create(factory: Callable[..., Any]) -> bool:
    """Whether a database factory takes the ``create`` keyword (or any keyword)."""
    import inspect

    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: call it the old way
        return False
    return any(
        p.kind is p.VAR_KEYWORD
        or (p.name == "create" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        for p in parameters
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _core_origin() -> _Origin:
    from importlib.metadata import PackageNotFoundError, version

    try:
        core_version = version("orcapod-core")
    except PackageNotFoundError:  # running from a source tree that is not installed
        core_version = "?"
    return _Origin(BUILTIN_PLUGIN, "orcapod-core", core_version)

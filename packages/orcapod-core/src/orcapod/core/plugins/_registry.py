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

    from orcapod.core.types._logical import LogicalType
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.hooks import CliCommandFactory
    from orcapod.protocols.observability import ExecutionObserver

__all__ = [
    "AUTOLOAD_ENV_VAR",
    "ENTRY_POINT_GROUP",
    "LogicalTypeProvision",
    "PluginFailure",
    "PluginProvision",
    "PluginRegistry",
]

ENTRY_POINT_GROUP = "orcapod"
AUTOLOAD_ENV_VAR = "ORCAPOD_DISABLE_PLUGIN_AUTOLOAD"
"""Set to a non-empty value other than ``0`` to load only orcapod's built-ins."""

BUILTIN_PLUGIN = "builtin"

LOGICAL_TYPES_HOOK = "orcapod_logical_types"
_DEFINITION_ATTRIBUTES = (
    "name",
    "python_class",
    "storage_type",
    "to_storage",
    "from_storage",
    "identity_fields",
    "description",
)

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
class LogicalTypeProvision:
    """A logical type a plugin provides (``file`` from orcapod-core, ...), registered."""

    logical_type: LogicalType
    plugin: str
    """The entry-point name, or ``"builtin"``."""
    distribution: str
    version: str

    @property
    def name(self) -> str:
        """The logical type's name."""
        return self.logical_type.name


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
        self._logical: dict[str, LogicalTypeProvision] | None = None

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
            if self._logical is not None:  # already collected: add this plugin's types now
                caller = getattr(manager.hook, LOGICAL_TYPES_HOOK)
                impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
                self._add_logical_types(impls, self._logical)
                if len(self._failures) > before:
                    failed = self._failures[before:]
                    del self._failures[before:]
                    raise PluginError("\n".join(f.describe() for f in failed))

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

    def logical_types(self) -> list[LogicalType]:
        """Every logical type the plugins provide (orcapod-core's ``file`` and ``directory``
        included), registered in this process, by name.

        The ``orcapod_logical_types`` hooks are called once per registry; each
        type goes through ``register_logical_type``, after which annotations of
        its class and columns of its name use it. A hook that raises or answers
        something other than a list, and a type that is malformed or whose name
        or class is taken, are reported as failures of their plugin (a
        :class:`PluginLoadWarning`) and skipped; the other types still register.
        """
        return [provision.logical_type for provision in self.logical_type_provisions()]

    def logical_type_provisions(self) -> list[LogicalTypeProvision]:
        """:meth:`logical_types` with the plugin and distribution providing each."""
        manager = self._ensure_manager()
        with self._lock:
            if self._logical is None:
                provided: dict[str, LogicalTypeProvision] = {}
                # Built-ins (trylast) come first here, so they are the first claim.
                self._add_logical_types(
                    getattr(manager.hook, LOGICAL_TYPES_HOOK).get_hookimpls(), provided
                )
                self._logical = provided
            return sorted(self._logical.values(), key=lambda p: p.name)

    def _add_logical_types(
        self, impls: Iterable[Any], provided: dict[str, LogicalTypeProvision]
    ) -> None:
        from orcapod.core.types._logical import register_logical_type

        for impl in impls:
            origin = self._origins[id(impl.plugin)]
            try:
                definitions = _validated_definitions(impl.function())
            except Exception as error:
                self._fail(origin, f"hook {LOGICAL_TYPES_HOOK} raised {_describe(error)}")
                continue
            for definition in definitions:
                what = f"logical type {getattr(definition, 'name', definition)!r}"
                try:
                    logical = _as_logical_type(definition)
                    _check_unclaimed(logical, provided)
                    register_logical_type(logical)
                except Exception as error:
                    self._fail(origin, f"{what} was not registered: {_describe(error)}")
                    continue
                if logical.name not in provided:
                    provided[logical.name] = LogicalTypeProvision(
                        logical, origin.plugin, origin.distribution, origin.version
                    )

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


def _validated_definitions(answer: object) -> list[object]:
    if not isinstance(answer, list | tuple):
        raise TypeError(f"expected a list of logical types, got {type(answer).__name__}")
    return list(answer)


def _as_logical_type(definition: object) -> LogicalType:
    """A core ``LogicalType`` of what a plugin gave: any object with its attributes."""
    from orcapod.core.types._logical import LogicalType

    if isinstance(definition, LogicalType):
        return definition
    missing = [name for name in _DEFINITION_ATTRIBUTES if not hasattr(definition, name)]
    if missing:
        raise TypeError(
            f"a {type(definition).__qualname__} has no {', '.join(missing)}; return "
            "orcapod.protocols.logical_types.LogicalTypeSpec objects"
        )
    given: Any = definition
    if not isinstance(given.description, str):
        raise TypeError(f"description must be a str, not {given.description!r}")
    identity = given.identity_fields
    if isinstance(identity, str):
        raise TypeError(
            f"identity_fields must be a tuple of field names, not the str {identity!r}; "
            f"write ({identity!r},)"
        )
    return LogicalType(
        name=given.name,
        python_class=given.python_class,
        storage_type=given.storage_type,
        to_storage=given.to_storage,
        from_storage=given.from_storage,
        identity_fields=None if identity is None else tuple(identity),
        description=given.description,
    )


def _check_unclaimed(logical: LogicalType, provided: Mapping[str, LogicalTypeProvision]) -> None:
    """Raise if another plugin already provides ``logical``'s name or class (as another type)."""
    for first in provided.values():
        if first.logical_type == logical:
            return
        by = f"plugin {first.plugin!r} ({first.distribution})"
        if first.name == logical.name:
            raise ValueError(
                f"the name is already taken by {by}, for class "
                f"{_class_name(first.logical_type.python_class)}"
            )
        if first.logical_type.python_class is logical.python_class:
            raise ValueError(
                f"class {_class_name(logical.python_class)} is already the logical type "
                f"{first.name!r} of {by}"
            )


def _class_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


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

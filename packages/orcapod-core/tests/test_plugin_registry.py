"""The plugin registry: discovery through entry points, isolation of broken plugins, lookups."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from typing import Any

import pytest

from orcapod.core import InMemoryArrowDatabase, NoOpObserver
from orcapod.core.errors import (
    PluginError,
    PluginLoadWarning,
    PluginNotFoundError,
)
from orcapod.core.executors import LocalExecutor
from orcapod.core.plugins import AUTOLOAD_ENV_VAR, PluginRegistry
from orcapod.protocols import ArrowDatabase, ExecutionObserver, PluginKind
from orcapod.protocols.hooks import hookimpl

GOOD_PLUGIN = """
    from orcapod.protocols.hooks import hookimpl

    class CountingExecutor:
        def __init__(self, **options):
            self.options = options

    @hookimpl
    def orcapod_executors():
        return {"counting": CountingExecutor}
"""

BROKEN_IMPORT_PLUGIN = """
    raise ImportError("this plugin is broken on purpose")
"""

GROUP = "orcapod-test-plugins"  # a group no real distribution uses: tests see only their fakes


def builtins_only() -> PluginRegistry:
    return PluginRegistry(autoload=False)


def test_builtins_provide_memory_local_processes_noop_and_the_core_commands() -> None:
    names = {(p.kind, p.name, p.distribution) for p in builtins_only().provisions()}
    assert names == {
        (PluginKind.DATABASE, "memory", "orcapod-core"),
        (PluginKind.EXECUTOR, "local", "orcapod-core"),
        (PluginKind.EXECUTOR, "processes", "orcapod-core"),
        (PluginKind.OBSERVER, "noop", "orcapod-core"),
        (PluginKind.CLI_COMMAND, "plugins", "orcapod-core"),
        (PluginKind.CLI_COMMAND, "demo", "orcapod-core"),
        (PluginKind.CLI_COMMAND, "run", "orcapod-core"),
        (PluginKind.CLI_COMMAND, "verify", "orcapod-core"),
        (PluginKind.CLI_COMMAND, "explain", "orcapod-core"),
        (PluginKind.CLI_COMMAND, "graph", "orcapod-core"),
        (PluginKind.CLI_COMMAND, "compact", "orcapod-core"),
    }


def test_memory_uri_opens_a_new_empty_in_memory_database() -> None:
    registry = builtins_only()
    first, second = registry.open_database("memory://"), registry.open_database("MEMORY://")
    assert isinstance(first, InMemoryArrowDatabase)
    assert isinstance(first, ArrowDatabase)
    assert first is not second
    assert first.list_paths() == []


def test_memory_uri_with_a_location_is_rejected_with_the_alternatives() -> None:
    with pytest.raises(ValueError, match=r"memory:// takes no location.*delta://"):
        builtins_only().open_database("memory://somewhere")


def test_uri_without_scheme_is_rejected_with_examples() -> None:
    with pytest.raises(ValueError, match=r"'./data' has no scheme.*memory://"):
        builtins_only().open_database("./data")


def test_noop_observer_by_name_fulfils_the_observer_protocol() -> None:
    observer = builtins_only().get_observer("noop")
    assert isinstance(observer, NoOpObserver)
    assert isinstance(observer, ExecutionObserver)


def test_noop_observer_rejects_options_it_does_not_take() -> None:
    with pytest.raises(TypeError, match=r"takes no options, got \['database'\]"):
        builtins_only().get_observer("noop", database=object())


def test_local_executor_is_built_with_the_options_given() -> None:
    executor = builtins_only().get_executor("local", capture="fd", max_bytes=10)
    assert isinstance(executor, LocalExecutor)
    assert (executor.capture, executor.max_bytes) == ("fd", 10)
    with pytest.raises(TypeError, match="max_byte"):
        builtins_only().get_executor("local", max_byte=10)


@pytest.mark.parametrize(
    ("uri", "distribution"),
    [
        ("delta://x", "orcapod-db-delta"),
        ("delta:///abs/store", "orcapod-db-delta"),
        ("sqlite:///results.db", "orcapod-db-sql"),
        ("postgresql://u@h/db", "orcapod-db-sql[postgres]"),
    ],
)
def test_uri_of_an_uninstalled_plugin_names_the_distribution_to_install(
    uri: str, distribution: str
) -> None:
    registry = PluginRegistry(group=GROUP)  # autoload on, but nothing installed in this group
    with pytest.raises(PluginNotFoundError) as caught:
        registry.open_database(uri)
    message = str(caught.value)
    assert f"pip install {distribution}" in message
    assert "Installed database URI schemes: memory://." in message


def test_unknown_executor_lists_installed_ones_and_suggests_checking_spelling() -> None:
    with pytest.raises(PluginNotFoundError) as caught:
        PluginRegistry(group=GROUP).get_executor("locl")
    message = str(caught.value)
    assert "executor 'locl'" in message
    assert "Installed executors: local, processes." in message
    assert "Check the spelling" in message


def test_known_name_with_autoload_disabled_says_to_unset_the_variable() -> None:
    with pytest.raises(PluginNotFoundError, match=AUTOLOAD_ENV_VAR):
        builtins_only().get_executor("ray")


def test_environment_variable_disables_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTOLOAD_ENV_VAR, "1")
    assert PluginRegistry().autoload is False
    monkeypatch.setenv(AUTOLOAD_ENV_VAR, "0")
    assert PluginRegistry().autoload is True


def test_entry_point_plugin_is_discovered_with_its_distribution_and_version(
    fake_distributions: Any,
) -> None:
    fake_distributions.add(
        "orcapod-counting", "counting_plugin", GOOD_PLUGIN, entry_name="counting", group=GROUP
    )
    registry = PluginRegistry(group=GROUP)
    provision = registry.lookup(PluginKind.EXECUTOR, "counting")
    assert (provision.plugin, provision.distribution, provision.version) == (
        "counting",
        "orcapod-counting",
        "1.2.3",
    )
    executor: Any = registry.get_executor("counting", cpus=3)
    assert executor.options == {"cpus": 3}


def test_entry_points_are_loaded_once_and_only_on_first_use(
    fake_distributions: Any,
) -> None:
    counting = """
        from orcapod.protocols.hooks import hookimpl

        CALLS = 0

        @hookimpl
        def orcapod_executors():
            global CALLS
            CALLS += 1
            return {"counting": dict}
    """
    fake_distributions.add(
        "orcapod-counting", "counting_once", counting, entry_name="counting", group=GROUP
    )
    registry = PluginRegistry(group=GROUP)
    assert "counting_once" not in sys.modules
    registry.get_executor("counting")
    registry.get_executor("counting")
    registry.provisions()
    assert sys.modules["counting_once"].CALLS == 1


def test_plugin_that_fails_to_import_is_reported_and_the_others_still_load(
    fake_distributions: Any,
) -> None:
    fake_distributions.add(
        "orcapod-broken", "broken_plugin", BROKEN_IMPORT_PLUGIN, entry_name="broken", group=GROUP
    )
    fake_distributions.add(
        "orcapod-counting", "counting_ok", GOOD_PLUGIN, entry_name="counting", group=GROUP
    )
    registry = PluginRegistry(group=GROUP)
    with pytest.warns(
        PluginLoadWarning, match=r"'broken' from orcapod-broken 1.2.3 failed.*ImportError"
    ):
        names = {p.name for p in registry.provisions(PluginKind.EXECUTOR)}
    assert names == {"local", "processes", "counting"}
    [failure] = registry.failures
    assert (failure.plugin, failure.distribution) == ("broken", "orcapod-broken")
    assert "this plugin is broken on purpose" in failure.error


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (
            "from orcapod.protocols.hooks import hookimpl\n"
            "@hookimpl\ndef orcapod_executor():\n    return {}\n",
            "registration raised PluginValidationError",
        ),
        (
            "from orcapod.protocols.hooks import hookimpl\n"
            "@hookimpl\ndef orcapod_executors():\n    raise RuntimeError('boom')\n",
            "hook orcapod_executors raised RuntimeError: boom",
        ),
        (
            "from orcapod.protocols.hooks import hookimpl\n"
            "@hookimpl\ndef orcapod_executors():\n    return ['ray']\n",
            "expected a mapping of name to factory, got list",
        ),
        (
            "from orcapod.protocols.hooks import hookimpl\n"
            "@hookimpl\ndef orcapod_executors():\n    return {'ray': 'not callable'}\n",
            "the factory for 'ray' is a str, not callable",
        ),
    ],
    ids=["misnamed-hook", "hook-raises", "not-a-mapping", "factory-not-callable"],
)
def test_plugin_that_fails_to_register_or_answer_is_reported_and_skipped(
    fake_distributions: Any, source: str, error: str
) -> None:
    fake_distributions.add("orcapod-bad", "bad_plugin", source, entry_name="bad", group=GROUP)
    fake_distributions.add(
        "orcapod-counting", "counting_ok2", GOOD_PLUGIN, entry_name="counting", group=GROUP
    )
    registry = PluginRegistry(group=GROUP)
    with pytest.warns(PluginLoadWarning):
        names = {p.name for p in registry.provisions(PluginKind.EXECUTOR)}
    assert names == {"local", "processes", "counting"}
    assert [f.plugin for f in registry.failures] == ["bad"]
    assert error in registry.failures[0].error


def test_name_claimed_twice_keeps_the_first_claim_and_reports_the_second(
    fake_distributions: Any,
) -> None:
    fake_distributions.add(
        "orcapod-counting-a", "counting_a", GOOD_PLUGIN, entry_name="a", group=GROUP
    )
    fake_distributions.add(
        "orcapod-counting-b", "counting_b", GOOD_PLUGIN, entry_name="b", group=GROUP
    )
    registry = PluginRegistry(group=GROUP)
    with pytest.warns(PluginLoadWarning, match="already provided by plugin"):
        provision = registry.lookup(PluginKind.EXECUTOR, "counting")
    assert provision.plugin in {"a", "b"}
    assert len(registry.failures) == 1


def test_a_plugin_can_take_over_a_builtin_name() -> None:
    class Takeover:
        @hookimpl
        def orcapod_observers(self) -> dict[str, Any]:
            return {"noop": lambda: "plugin noop"}

    registry = builtins_only()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)  # replacing a built-in is no failure
        registry.register(Takeover(), "takeover")
        assert registry.get_observer("noop") == "plugin noop"
    assert registry.lookup(PluginKind.OBSERVER, "noop").plugin == "takeover"
    assert registry.failures == []


def test_registering_a_plugin_whose_name_is_taken_raises() -> None:
    class Nothing:
        pass

    registry = builtins_only()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)
        with pytest.raises(PluginError, match="'builtin' is already taken"):
            registry.register(Nothing(), "builtin")


def _distribution_installed(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(
    _distribution_installed("orcapod-db-delta"),
    reason="orcapod-db-delta is installed here; nox's tests-orcapod-core runs this without it",
)
def test_core_installed_alone_says_to_install_orcapod_db_delta_for_delta_uris() -> None:
    code = (
        "from orcapod.core import open_database\n"
        "try:\n    open_database('delta://x')\n"
        "except Exception as e:\n    print(type(e).__name__); print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != AUTOLOAD_ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.stdout.splitlines()[0] == "PluginNotFoundError", result.stderr
    assert "Install it with: pip install orcapod-db-delta" in result.stdout

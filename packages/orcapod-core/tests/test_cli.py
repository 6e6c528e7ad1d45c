"""The ``orcapod`` command line, run as a real process against real (throwaway) plugins."""

from __future__ import annotations

import json
import sys
from importlib.metadata import entry_points
from typing import Any

from orcapod.core.plugins import AUTOLOAD_ENV_VAR

GREETING_PLUGIN = """
    from orcapod.protocols.errors import OrcapodError
    from orcapod.protocols.hooks import hookimpl

    class Greet:
        help = "greet someone, using the host's database service"

        def __init__(self, host):
            self.host = host

        def add_arguments(self, parser):
            parser.add_argument("--name", required=True)

        def run(self, args):
            if args.name == "nobody":
                raise OrcapodError("nobody cannot be greeted; pass --name SOMEONE")
            database = self.host.open_database("memory://")
            print(f"hello {args.name}; paths: {database.list_paths()}")
            return 0

    @hookimpl
    def orcapod_cli_commands():
        return {"greet": Greet}
"""

BROKEN_PLUGIN = """
    raise ImportError("this plugin is broken on purpose")
"""

BUILTINS = {
    ("database", "memory"),
    ("executor", "local"),
    ("executor", "processes"),
    ("observer", "noop"),
    ("cli-command", "plugins"),
    ("cli-command", "demo"),
    ("cli-command", "run"),
    ("cli-command", "verify"),
    ("cli-command", "explain"),
    ("cli-command", "graph"),
    ("cli-command", "compact"),
    ("cli-command", "compact"),
}


def _installed_plugin_distributions(extra_path: str) -> set[str]:
    """Distributions declaring ``orcapod`` entry points, as the CLI's process will see them."""
    sys.path.insert(0, extra_path)
    try:
        return {ep.dist.name for ep in entry_points(group="orcapod") if ep.dist is not None}
    finally:
        sys.path.remove(extra_path)


def test_plugins_lists_exactly_the_installed_plugins_and_reports_the_broken_one(
    fake_distributions: Any,
) -> None:
    fake_distributions.add(
        "orcapod-greeting",
        "greeting_plugin",
        GREETING_PLUGIN,
        entry_name="greeting",
        group="orcapod",
    )
    fake_distributions.add(
        "orcapod-broken", "broken_cli_plugin", BROKEN_PLUGIN, entry_name="broken", group="orcapod"
    )

    result = fake_distributions.run_cli("plugins", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    listed = {(p["kind"], p["name"]) for p in report["plugins"]}
    assert BUILTINS | {("cli-command", "greet")} <= listed
    listed_distributions = {p["distribution"] for p in report["plugins"]} - {"orcapod-core"}
    expected = _installed_plugin_distributions(str(fake_distributions.root)) - {"orcapod-broken"}
    assert listed_distributions == expected
    [failed] = report["failed"]
    assert (failed["plugin"], failed["distribution"], failed["version"]) == (
        "broken",
        "orcapod-broken",
        "1.2.3",
    )
    assert "ImportError: this plugin is broken on purpose" in failed["error"]


def test_plugins_table_shows_kind_name_distribution_version_and_skipped_plugins(
    fake_distributions: Any,
) -> None:
    fake_distributions.add(
        "orcapod-greeting",
        "greeting_plugin2",
        GREETING_PLUGIN,
        entry_name="greeting",
        group="orcapod",
    )
    fake_distributions.add(
        "orcapod-broken", "broken_cli_plugin2", BROKEN_PLUGIN, entry_name="broken", group="orcapod"
    )

    result = fake_distributions.run_cli("plugins")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "DISTRIBUTION", "VERSION"]
    assert ["cli-command", "greet", "orcapod-greeting", "1.2.3"] in [line.split() for line in lines]
    assert "Skipped 1 plugin(s) that failed to load:" in result.stdout
    assert (
        "broken (orcapod-broken 1.2.3): import of 'broken_cli_plugin2' raised ImportError"
        in result.stdout
    )


def test_plugin_sub_command_runs_with_the_host_services(fake_distributions: Any) -> None:
    fake_distributions.add(
        "orcapod-greeting",
        "greeting_plugin3",
        GREETING_PLUGIN,
        entry_name="greeting",
        group="orcapod",
    )
    fake_distributions.add(
        "orcapod-broken", "broken_cli_plugin3", BROKEN_PLUGIN, entry_name="broken", group="orcapod"
    )

    result = fake_distributions.run_cli("greet", "--name", "ada")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello ada; paths: []\n"
    assert (
        "orcapod: warning: orcapod plugin 'broken' from orcapod-broken 1.2.3 failed"
        in result.stderr
    )


def test_orcapod_error_in_a_sub_command_is_one_line_and_exit_status_1(
    fake_distributions: Any,
) -> None:
    fake_distributions.add(
        "orcapod-greeting",
        "greeting_plugin4",
        GREETING_PLUGIN,
        entry_name="greeting",
        group="orcapod",
    )

    result = fake_distributions.run_cli("greet", "--name", "nobody")

    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "orcapod greet: error: nobody cannot be greeted; pass --name SOMEONE"
    )
    assert "Traceback" not in result.stderr


def test_no_sub_command_prints_usage_and_exits_2(fake_distributions: Any) -> None:
    result = fake_distributions.run_cli()
    assert result.returncode == 2
    assert "usage: orcapod" in result.stderr
    assert "plugins" in result.stderr


def test_autoload_disabled_lists_only_builtins_and_says_so(fake_distributions: Any) -> None:
    fake_distributions.add(
        "orcapod-greeting",
        "greeting_plugin5",
        GREETING_PLUGIN,
        entry_name="greeting",
        group="orcapod",
    )

    result = fake_distributions.run_cli("plugins", "--json", env={AUTOLOAD_ENV_VAR: "1"})

    report = json.loads(result.stdout)
    assert report["autoload"] is False
    assert {(p["kind"], p["name"]) for p in report["plugins"]} == BUILTINS
    assert report["failed"] == []

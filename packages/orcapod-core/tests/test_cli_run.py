"""``orcapod demo`` and ``orcapod run FILE.py``, with orcapod-core's built-ins only.

The demo with observers and a Delta store on disk is tested in
tests-integration/test_demo.py, where every package is installed.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from orcapod.core import plugins
from orcapod.core.cli import RegistryHost, main
from orcapod.core.cli._run import DemoCommand, default_store
from orcapod.core.cli.demo import DEMO_PIPELINE, build_demo
from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.pipeline import NodeCounts
from orcapod.core.plugins import AUTOLOAD_ENV_VAR

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A registry of orcapod-core's own plugins, whatever else is installed; cwd a temp dir."""
    monkeypatch.setenv(AUTOLOAD_ENV_VAR, "1")
    monkeypatch.setattr(plugins, "_default", None)
    monkeypatch.chdir(tmp_path)


# -- the demo pipeline ------------------------------------------------------------


def test_the_demo_computes_every_step_and_fails_only_the_malformed_recording() -> None:
    result = build_demo(InMemoryArrowDatabase()).run()

    assert result.nodes["clean"] == NodeCounts(computed=12, rows=12)
    assert result.nodes["measure"] == NodeCounts(computed=11, failed=1, rows=11)
    assert result.nodes["summary"] == NodeCounts(computed=4, rows=4)
    [failure] = result.failures
    assert (failure.node, failure.tag, failure.error_type) == (
        "measure",
        {"subject": "s3", "session": 2},
        "ValueError",
    )
    assert "malformed" in failure.message


def test_the_demo_summary_has_one_row_per_subject_with_its_rhythm() -> None:
    pipeline = build_demo(InMemoryArrowDatabase())
    pipeline.run()

    rows = {row["subject"]: row for row in pipeline.nodes["summary"].as_table().to_pylist()}
    assert {s: rows[s]["sessions"] for s in rows} == {"s1": 3, "s2": 3, "s3": 2, "s4": 3}
    # each subject's rhythm, found again by the DFT (to its 0.5 Hz resolution)
    assert {s: round(rows[s]["peak_hz"]) for s in rows} == {"s1": 4, "s2": 6, "s3": 8, "s4": 11}


def test_a_second_demo_run_computes_nothing() -> None:
    database = InMemoryArrowDatabase()
    build_demo(database).run()

    again = build_demo(database).run()

    assert again.n_computed == 0
    assert again.nodes["clean"].cached == 12
    assert again.n_failed == 1  # a failure is not a result: it is tried again


# -- orcapod demo -------------------------------------------------------------------


def test_orcapod_demo_prints_results_summary_failure_and_next_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--db", "memory://", "--no-progress"]) == 0

    out = capsys.readouterr().out
    assert "results of node 'summary' (4 rows)" in out
    assert "PARTIAL" in out
    assert "measure" in out
    assert "ValueError: only 0 usable samples of 200: the recording is malformed" in out
    assert "not recorded: logging, status" in out  # orcapod-observers is not loaded here


def test_orcapod_demo_suggests_no_command_that_is_not_installed_or_cannot_read_memory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--db", "memory://", "--no-progress"]) == 0

    out = capsys.readouterr().out
    assert "orcapod runs" not in out  # orcapod-observers is not loaded here
    assert "orcapod status" not in out
    assert "orcapod logs" not in out
    assert "Try next" not in out  # and a memory:// store is gone once the demo ends


class _Registry:
    def __init__(self, commands: set[str]) -> None:
        self.commands = commands

    def cli_commands(self) -> dict[str, object]:
        return dict.fromkeys(self.commands, object())


def _suggestions(commands: set[str], uri: str, *, recorded: bool = True) -> list[str]:
    host = RegistryHost(_Registry(commands))  # type: ignore[arg-type]
    return DemoCommand(host).suggestions(uri, None, recorded=recorded)


def test_the_demo_suggests_the_readers_of_its_store_only_where_they_are_installed() -> None:
    store = "sqlite:///orcapod-demo/store.db"
    again = "orcapod demo            # again: everything is cached"

    assert _suggestions({"demo", "run"}, store) == [again]
    assert _suggestions({"demo", "runs", "status", "logs"}, store) == [
        f"orcapod runs {store}",
        f"orcapod status {store} --pipeline {DEMO_PIPELINE} --failed",
        f"orcapod logs {store} --pipeline {DEMO_PIPELINE} --node clean",
        again,
    ]
    assert _suggestions({"runs", "status", "logs"}, store, recorded=False) == [again]


@pytest.mark.parametrize(
    ("schemes", "uri", "said"),
    [
        ({"delta", "sqlite", "memory"}, "delta://orcapod-demo", "a Delta store in ./orcapod-demo"),
        ({"sqlite", "memory"}, "sqlite:///orcapod-demo/store.db", "orcapod-db-delta is not"),
        ({"memory"}, "memory://", "lost at exit"),
    ],
)
def test_the_demos_default_store_is_the_best_one_installed(
    schemes: set[str], uri: str, said: str
) -> None:
    assert default_store(schemes)[0] == uri
    assert said in default_store(schemes)[1]


def test_demo_help_describes_the_store_the_demo_really_uses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["demo", "--help"])

    assert done.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(default: memory://, kept in memory and lost at exit" in help_text  # built-ins only
    assert "Delta" not in help_text


def test_orcapod_demo_fresh_with_a_given_store_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--db", "memory://", "--fresh"]) == 1

    assert "--fresh deletes the demo's own store only" in capsys.readouterr().err


def test_orcapod_demo_with_an_unknown_executor_names_what_is_installed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--db", "memory://", "--executor", "nowhere"]) == 1

    err = capsys.readouterr().err
    assert "nowhere" in err
    assert "local" in err


def test_orcapod_demo_runs_its_packets_in_worker_processes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["demo", "--db", "memory://", "--no-progress", "--executor", "processes"]
    assert main(argv) == 0

    out = capsys.readouterr().out
    assert "executor: processes" in out
    assert "results of node 'summary' (4 rows)" in out
    assert "ValueError: only 0 usable samples of 200: the recording is malformed" in out


# -- orcapod run FILE.py ------------------------------------------------------------

PIPELINE_FILE = """
    from orcapod.core import DictSource, Pipeline, function_pod

    @function_pod(output_keys="y")
    def triple(x: int) -> int:
        if x == {failing}:
            raise ValueError(f"{{x}} cannot be tripled")
        return 3 * x

    pipeline = Pipeline("tripled", "memory://")
    with pipeline:
        triple.pod(DictSource([{{"k": i, "x": i}} for i in range(5)], tag_columns="k"))

    if __name__ == "__main__":
        raise SystemExit("orcapod run must not run the file as __main__")
"""


def _pipeline_file(tmp_path: Path, failing: int = -1) -> Path:
    file = tmp_path / "my_pipeline.py"
    file.write_text(textwrap.dedent(PIPELINE_FILE.format(failing=failing)))
    return file


def test_orcapod_run_runs_the_files_pipeline_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(_pipeline_file(tmp_path)), "--no-progress"]) == 0

    out = capsys.readouterr().out
    assert "pipeline 'tripled'" in out
    assert "SUCCESS" in out
    assert "computed 5, cached 0, failed 0" in out


@pytest.mark.parametrize("executor", ["local", "processes"])
def test_orcapod_run_with_failed_packets_exits_1_and_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], executor: str
) -> None:
    """With ``processes``, the file's functions belong to no importable module: each
    worker runs the file (not as ``__main__``) to load them."""
    file = _pipeline_file(tmp_path, failing=3)
    assert main(["run", str(file), "--no-progress", "--executor", executor]) == 1

    out = capsys.readouterr().out
    assert f"executor: {executor}" in out
    assert "computed 4, cached 0, failed 1" in out
    assert "ValueError: 3 cannot be tripled" in out


def test_workers_loading_a_pipeline_file_open_none_of_its_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file names a store no process can open; with --db the run uses another, and
    the workers, which run the file for its functions, do not try the file's."""
    file = tmp_path / "unreachable_store.py"
    file.write_text(
        textwrap.dedent(PIPELINE_FILE.format(failing=-1)).replace(
            '"memory://"', '"nowhere://at/all"'
        )
    )
    argv = ["run", str(file), "--db", "memory://", "--no-progress", "--executor", "processes"]
    assert main(argv) == 0

    assert "computed 5, cached 0, failed 0" in capsys.readouterr().out


class _Keeping(InMemoryArrowDatabase):
    """Remembers which paths it held when it was closed."""

    paths_at_close: list[tuple[str, ...]]

    def close(self) -> None:
        self.paths_at_close = self.list_paths()
        super().close()


def test_orcapod_run_db_stores_the_files_pipelines_in_that_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[_Keeping] = []

    def remembering(uri: str) -> _Keeping:
        opened.append(_Keeping())
        return opened[-1]

    monkeypatch.setattr(
        plugins.PluginRegistry,
        "open_database",
        lambda self, uri, *, create=True: remembering(uri),
    )
    assert main(["run", str(_pipeline_file(tmp_path)), "--db", "memory://", "--no-progress"]) == 0

    [database] = opened
    assert any(path[0] == "tripled" for path in database.paths_at_close)
    assert "store: memory://" in capsys.readouterr().out


def test_orcapod_run_of_a_file_without_pipelines_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "empty.py"
    file.write_text("x = 1\n")

    assert main(["run", str(file)]) == 1

    assert "defines no Pipeline" in capsys.readouterr().err


def test_orcapod_run_of_a_missing_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / "nope.py")]) == 1

    assert "no such file" in capsys.readouterr().err

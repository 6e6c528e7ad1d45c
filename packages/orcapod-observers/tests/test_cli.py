"""``orcapod runs``, ``status`` and ``logs``, run through argparse with a fake command-line host."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.core import InMemoryArrowDatabase
from orcapod.core.errors import PluginNotFoundError
from orcapod.observers._cli import SECTION_LINES, cli_commands
from orcapod.protocols.hooks import CliCommand, CliHost

if TYPE_CHECKING:
    from collections.abc import Callable


import observability_records as helper


class FakeHost:
    """Opens ``memory://`` as a fresh database made by ``build``; any other scheme is unknown."""

    def __init__(self, build: Callable[[InMemoryArrowDatabase], Any]) -> None:
        self.build = build
        self.opened: list[InMemoryArrowDatabase] = []

    def open_database(self, uri: str, *, create: bool = True) -> InMemoryArrowDatabase:
        if not uri.startswith("memory://"):
            scheme = uri.split("://", 1)[0]
            raise PluginNotFoundError(
                f"no installed plugin opens {scheme}:// databases;\n"
                "installed: memory (orcapod-core)"
            )
        database = InMemoryArrowDatabase()
        self.build(database)
        self.opened.append(database)
        return database

    def get_executor(self, name: str, **options: Any) -> Any:
        raise NotImplementedError

    def get_observer(self, name: str, **options: Any) -> Any:
        raise NotImplementedError


def orcapod(host: FakeHost, *argv: str) -> int:
    """Parse ``argv`` as ``orcapod`` would, with this package's sub-commands, and run it."""
    parser = argparse.ArgumentParser(prog="orcapod")
    subparsers = parser.add_subparsers(dest="command")
    for name, factory in cli_commands().items():
        command = factory(host)
        sub = subparsers.add_parser(name, help=command.help)
        command.add_arguments(sub)
        sub.set_defaults(_command=command)
    args = parser.parse_args(argv)
    return args._command.run(args)  # type: ignore[no-any-return]


@pytest.fixture
def host() -> FakeHost:
    return FakeHost(helper.demo_records)


def _blocks(out: str) -> list[str]:
    return [block.strip("\n") for block in out.split("\n\n") if block.startswith("=== ")]


def _error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- the commands ----------------------------------------------------------------------


def test_the_plugin_provides_runs_status_and_logs(host: FakeHost) -> None:
    commands = cli_commands()

    assert set(commands) == {"runs", "status", "logs", "results", "report"}
    assert isinstance(host, CliHost)
    for factory in commands.values():
        command = factory(host)
        assert isinstance(command, CliCommand)
        assert command.help


def test_each_command_closes_the_database_it_opened(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    orcapod(host, "runs", "memory://")

    with pytest.raises(Exception, match="closed"):
        host.opened[0].list_paths()


# -- orcapod runs ----------------------------------------------------------------------


def test_runs_prints_one_aligned_line_per_run_newest_first(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "runs", "memory://")

    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    header, *lines = out.splitlines()
    assert header.split()[:2] == ["RUN", "STATE"]
    assert [line.split()[0] for line in lines] == ["r3", "r2", "r1"]
    state_at = header.index("STATE")
    assert [line[state_at:].split()[0] for line in lines] == ["CRASHED", "PARTIAL", "PARTIAL"]
    ended_at = header.index("ENDED")
    assert lines[0][ended_at:].startswith("- ")
    assert lines[0][header.index("ERROR") :].startswith("no heartbeat since its start at")
    assert lines[1][ended_at:].startswith("2024-05-01 12:02:30")
    assert "lab-host" in lines[1]
    assert "4242" in lines[1]


def test_runs_uses_the_pipeline_named(host: FakeHost, capsys: pytest.CaptureFixture[str]) -> None:
    def two_pipelines(database: InMemoryArrowDatabase) -> None:
        helper.demo_records(database)
        helper.Records(database, "other", {}).run("x1", 500, 510, counts=(7, 0, 0))

    host = FakeHost(two_pipelines)

    assert orcapod(host, "runs", "memory://", "--pipeline", "other") == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["x1"]


def test_runs_asks_which_pipeline_when_the_database_holds_several(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def two_pipelines(database: InMemoryArrowDatabase) -> None:
        helper.demo_records(database)
        helper.demo_records(database, pipeline="other")

    status = orcapod(FakeHost(two_pipelines), "runs", "memory://")

    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    line = _error_line(err)
    assert line.startswith("orcapod runs: error:")
    assert "demo, other" in line
    assert "--pipeline" in line


def test_a_database_without_records_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    status = orcapod(FakeHost(lambda database: None), "status", "memory://")

    assert status == 1
    assert "no observability records" in _error_line(capsys.readouterr().err)


def test_an_unknown_uri_scheme_is_one_line_and_status_1(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("runs", "status", "logs"):
        status = orcapod(host, command, "nope://somewhere")

        out, err = capsys.readouterr()
        assert (status, out) == (1, "")
        line = _error_line(err)
        assert line.startswith(f"orcapod {command}: error: cannot open database 'nope://somewhere'")
        assert "installed: memory" in line


def test_an_unknown_pipeline_names_the_known_ones(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "runs", "memory://", "--pipeline", "dmeo")

    assert status == 1
    line = _error_line(capsys.readouterr().err)
    assert "'dmeo'" in line
    assert "'demo'" in line


def test_a_pipeline_name_that_cannot_exist_is_a_clear_error(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "logs", "memory://", "--pipeline", "../etc")

    assert status == 1
    assert "'../etc'" in _error_line(capsys.readouterr().err)


# -- orcapod status --------------------------------------------------------------------


def test_status_prints_the_current_state_of_every_packet(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "status", "memory://")

    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    table, footer = out.rstrip("\n").split("\n\n")
    header, *lines = table.splitlines()
    assert header.split()[:3] == ["NODE", "STATE", "ATTEMPT"]
    tags_at = header.index("TAGS")
    rows = [(line.split()[0], line.split()[1], line[tags_at:].split("  ")[0]) for line in lines]
    assert rows == [
        ("double", "CACHED", "id=1, sample=a"),
        ("double", "CACHED", "id=2, sample=b"),
        ("double", "FAILED", "id=3, sample=c"),
        ("when", "CACHED", "when=2024-05-01T10:00:00+00:00, id=20"),
        ("when", "LOST", "when=2024-05-01T11:00:00+00:00, id=10"),
    ]
    assert lines[-1].endswith("left RUNNING: its run CRASHED before it finished")
    assert footer == "5 packet(s): 1 FAILED, 3 CACHED, 1 LOST"


def test_status_explains_failed_and_cached_packets(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    orcapod(host, "status", "memory://", "--node", "double")

    lines = capsys.readouterr().out.splitlines()
    assert "computed in run r1" in lines[1]
    assert lines[3].endswith("ValueError: still 3")


def test_status_of_one_node(host: FakeHost, capsys: pytest.CaptureFixture[str]) -> None:
    status = orcapod(host, "status", "memory://", "--node", "when")

    out = capsys.readouterr().out
    assert status == 0
    lines = out.split("\n\n")[0].splitlines()[1:]
    assert [line.split()[0] for line in lines] == ["when", "when"]
    assert out.rstrip().endswith("2 packet(s): 1 CACHED, 1 LOST")


def test_status_failed_shows_only_packets_that_are_failed_now(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "status", "memory://", "--failed")

    out = capsys.readouterr().out
    assert status == 0
    _, line = out.split("\n\n")[0].splitlines()
    assert line.split()[:5] == ["double", "FAILED", "1", "2024-05-01", "12:01:42"]
    assert "id=3, sample=c" in line


def test_status_failed_with_no_failures_says_so(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "status", "memory://", "--node", "when", "--failed")

    assert status == 0
    assert (
        capsys.readouterr().out == "no failed packets recorded for node 'when' of pipeline 'demo'\n"
    )


def test_status_of_an_unknown_node_lists_the_nodes(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "status", "memory://", "--node", "tripple")

    assert status == 1
    line = _error_line(capsys.readouterr().err)
    assert line.startswith("orcapod status: error:")
    assert "'tripple'" in line
    assert "'double', 'when'" in line


# -- orcapod logs ----------------------------------------------------------------------


def test_logs_print_one_block_per_attempt_with_output_logs_and_traceback(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "logs", "memory://")

    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    blocks = _blocks(out)
    assert len(blocks) == 8
    first = blocks[0].splitlines()
    assert first[0] == (
        "=== double  run r1  attempt 1  SUCCESS  2024-05-01 12:00:01 UTC  0.250s"
        "  (local, capture sys)"
    )
    assert first[1:] == [
        "tags: id=1, sample=a",
        "--- stdout ---",
        "doubling 1",
        "--- python logs ---",
        "12:00:01 INFO lab.double: input 1",
    ]
    failed = blocks[2].splitlines()
    assert "FAILED" in failed[0]
    assert failed[failed.index("--- stderr ---") + 1] == "warn 3"
    assert failed[failed.index("--- traceback ---") :][-1] == "ValueError: bad 3"
    assert blocks[-1].splitlines()[1] == "tags: when=2024-05-01T11:00:00+00:00, id=10"


def test_logs_failed_shows_only_failed_attempts(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    orcapod(host, "logs", "memory://", "--failed")

    blocks = _blocks(capsys.readouterr().out)
    assert [block.splitlines()[0].split("  ")[3] for block in blocks] == ["FAILED"] * 3
    assert [block.splitlines()[-1] for block in blocks] == [
        "ValueError: bad 3",
        "ValueError: worse 3",
        "ValueError: still 3",
    ]


def test_logs_of_one_run_and_node(host: FakeHost, capsys: pytest.CaptureFixture[str]) -> None:
    orcapod(host, "logs", "memory://", "--run", "r2", "--node", "when")

    blocks = _blocks(capsys.readouterr().out)
    assert len(blocks) == 1
    assert blocks[0].startswith("=== when  run r2  attempt 1  SUCCESS")
    assert blocks[0].endswith("tock")


def test_logs_of_an_unknown_run_is_an_error_naming_recent_runs(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "logs", "memory://", "--run", "r9")

    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    line = _error_line(err)
    assert line.startswith("orcapod logs: error:")
    assert "'r9'" in line
    assert "'r3', 'r2', 'r1'" in line


@pytest.mark.parametrize(
    "argv", [("--next",), ("--follow", "--next", "--run", "r1")], ids=["alone", "with-run"]
)
def test_next_goes_with_follow_and_without_run(
    host: FakeHost, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    """--next (follow the next run to start) means nothing without --follow, and
    contradicts --run: one error line, status 1, nothing followed."""
    status = orcapod(host, "logs", "memory://", *argv)

    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    assert _error_line(err) == ("orcapod logs: error: --next goes with --follow and without --run")


def test_follow_of_a_named_unknown_run_does_not_wait(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    """--follow --run R names a run that is not stored: an error naming the recent
    runs at once (run ids are made by runs, so waiting could never find it)."""
    status = orcapod(host, "status", "memory://", "--follow", "--run", "r9")

    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    assert "'r9'" in _error_line(err)


def test_logs_of_an_unknown_node_is_an_error(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orcapod(host, "logs", "memory://", "--node", "nope") == 1
    assert "'nope'" in _error_line(capsys.readouterr().err)


def test_logs_filter_by_typed_tags(host: FakeHost, capsys: pytest.CaptureFixture[str]) -> None:
    orcapod(host, "logs", "memory://", "--tag", "id=3")
    assert len(_blocks(capsys.readouterr().out)) == 3

    orcapod(host, "logs", "memory://", "--tag", "id=3", "--tag", "sample=c", "--run", "r2")
    assert len(_blocks(capsys.readouterr().out)) == 1

    orcapod(host, "logs", "memory://", "--tag", "sample=a")
    assert [b.splitlines()[1] for b in _blocks(capsys.readouterr().out)] == ["tags: id=1, sample=a"]


def test_logs_filter_by_a_datetime_tag_in_iso_format(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    orcapod(host, "logs", "memory://", "--tag", "when=2024-05-01T11:00:00+00:00")
    with_offset = _blocks(capsys.readouterr().out)
    orcapod(host, "logs", "memory://", "--tag", "when=2024-05-01T13:00:00+02:00")
    other_offset = _blocks(capsys.readouterr().out)
    orcapod(host, "logs", "memory://", "--tag", "when=2024-05-01 11:00:00")
    naive_is_utc = _blocks(capsys.readouterr().out)

    assert len(with_offset) == 2
    assert with_offset == other_offset == naive_is_utc


def test_logs_with_a_tag_value_matching_nothing_says_so(
    host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = orcapod(host, "logs", "memory://", "--tag", "id=99")

    assert status == 0
    assert capsys.readouterr().out == "no log rows match in pipeline 'demo'\n"


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("id", "--tag 'id': write it as KEY=VALUE"),
        ("=3", "--tag '=3': write it as KEY=VALUE"),
        ("id=three", "tag 'id' of node 'double' holds int64 values, and 'three' is not one"),
        ("when=yesterday", "tag 'when' of node 'when' holds timestamp[us, tz=UTC] values"),
        ("colour=red", "no node of pipeline 'demo' has a tag 'colour'; its tags: id, sample, when"),
    ],
)
def test_a_malformed_tag_filter_is_one_line_and_status_1(
    host: FakeHost, capsys: pytest.CaptureFixture[str], tag: str, message: str
) -> None:
    status = orcapod(host, "logs", "memory://", "--tag", tag)

    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    line = _error_line(err)
    assert line.startswith("orcapod logs: error:")
    assert message in line


def _long_output(database: InMemoryArrowDatabase) -> None:
    records = helper.Records(database, "demo", {"double": helper.DOUBLE_TAGS})
    records.run("r1", 0, 5)
    stdout = "".join(f"line {n}\n" for n in range(1, 101))
    records.log("double", helper.K1, run="r1", when=1, stdout=stdout)


def test_long_output_is_cut_to_its_head_and_tail(capsys: pytest.CaptureFixture[str]) -> None:
    orcapod(FakeHost(_long_output), "logs", "memory://")

    lines = _blocks(capsys.readouterr().out)[0].splitlines()[3:]
    half = SECTION_LINES // 2
    assert lines[:half] == [f"line {n}" for n in range(1, half + 1)]
    assert lines[half] == f"... {100 - SECTION_LINES} line(s) left out; --full shows everything ..."
    assert lines[half + 1 :] == [f"line {n}" for n in range(101 - half, 101)]


def test_full_shows_all_of_a_long_output(capsys: pytest.CaptureFixture[str]) -> None:
    orcapod(FakeHost(_long_output), "logs", "memory://", "--full")

    lines = _blocks(capsys.readouterr().out)[0].splitlines()[3:]
    assert lines == [f"line {n}" for n in range(1, 101)]


def test_logs_of_nodes_whose_tags_disagree_in_type_are_printed_node_by_node(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def disagreeing(database: InMemoryArrowDatabase) -> None:
        records = helper.Records(
            database,
            "demo",
            {"a": pa.schema([("id", pa.int64())]), "b": pa.schema([("id", pa.large_string())])},
        )
        records.run("r1", 0, 5)
        records.log("a", {"id": 1}, run="r1", when=1)
        records.log("b", {"id": "x"}, run="r1", when=2, success=False)

    status = orcapod(FakeHost(disagreeing), "logs", "memory://")

    blocks = _blocks(capsys.readouterr().out)
    assert status == 0
    assert [block.splitlines()[1] for block in blocks] == ["tags: id=1", "tags: id=x"]
    assert blocks[1].splitlines()[-1] == "(no output)"

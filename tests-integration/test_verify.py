"""``orcapod verify``: a stored result edited behind orcapod's back is found, by node and tag.

Each test runs a real pipeline into a real store (SQLite, PostgreSQL, Delta),
edits one stored value with that store's own tools, and runs ``orcapod
verify`` as a real process: exit 0 and a count on a clean store, exit 1 and
a message naming the result, the node, the tag and the repair on a changed
one, exit 2 when there is nothing to check.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.testing.postgres import PostgresServer

PIPELINE = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime

    from orcapod.core import DictSource, Pipeline, function_pod, open_database


    @function_pod(output_keys=("total", "label", "when", "scores"))
    def summarise(a: int, b: float) -> tuple[float, str, datetime, list[float]]:
        return a + b, f"n-{a}", datetime(2024, 1, a + 1, tzinfo=UTC), [b, -0.0]


    @function_pod(output_keys="double")
    def double(total: float) -> float:
        return total * 2


    database = open_database(sys.argv[1])
    pipeline = Pipeline(sys.argv[2], database)
    rows = [{"subject": f"s{i}", "a": i, "b": i / 2} for i in range(4)]
    with pipeline:
        summary = summarise.pod(DictSource(rows, tag_columns=["subject"]), label="summary")
        double.pod(summary, label="doubled")
    pipeline.run()
    database.close()
    """
)


@pytest.fixture
def orcapod(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    script = Path(sysconfig.get_path("scripts")) / "orcapod"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "orcapod.core"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )

    return run


def _run_pipeline(tmp_path: Path, uri: str, name: str = "lab") -> None:
    file = tmp_path / "pipeline.py"
    file.write_text(PIPELINE)
    done = subprocess.run(
        [sys.executable, str(file), uri, name],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr


def _assert_clean(done: subprocess.CompletedProcess[str], results: int) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"checked {results} result(s)" in done.stdout
    assert "no mismatch" in done.stdout
    assert "MISMATCH" not in done.stdout


def _assert_caught_s2(done: subprocess.CompletedProcess[str]) -> None:
    """The edited result (summarise of subject s2) is reported with node, tag and repair."""
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "MISMATCH result" in out
    assert "('_results', 'summarise'" in out
    assert "node 'summary' of pipeline 'lab' at tag subject='s2'" in out
    assert "repair: delete that record" in out
    assert "1 mismatch" in out


# -- SQLite ----------------------------------------------------------------------------


def _sqlite_results_table(file: Path, function: str) -> str:
    connection = sqlite3.connect(file)
    try:
        for table, path in connection.execute("SELECT table_name, path FROM orcapod_paths"):
            if json.loads(path)[:2] == ["_results", function]:
                return str(table)
    finally:
        connection.close()
    raise AssertionError(f"no results table of {function!r} in {file}")


def test_a_clean_sqlite_store_passes_and_says_how_many_results_it_checked(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    _run_pipeline(tmp_path, "sqlite:///store.db")
    _assert_clean(orcapod("verify", "sqlite:///store.db"), results=8)
    _assert_clean(orcapod("verify", "sqlite:///store.db", "--pipeline", "lab"), results=8)


def test_a_value_edited_in_sqlite_is_caught_with_its_node_and_tag(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    _run_pipeline(tmp_path, "sqlite:///store.db")
    file = tmp_path / "store.db"
    table = _sqlite_results_table(file, "summarise")
    connection = sqlite3.connect(file)
    # subject s2 has a=2, b=1.0: total 3.0, made 4.0 by hand
    changed = connection.execute(f"UPDATE {table} SET total = 4.0 WHERE total = 3.0").rowcount
    connection.commit()
    connection.close()
    assert changed == 1

    done = orcapod("verify", "sqlite:///store.db")
    _assert_caught_s2(done)
    assert "checked 8 result(s)" in done.stdout
    scoped = orcapod("verify", "sqlite:///store.db", "--pipeline", "lab")
    _assert_caught_s2(scoped)


def test_an_output_hash_edited_in_sqlite_is_caught_in_the_result_and_in_the_records(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    _run_pipeline(tmp_path, "sqlite:///store.db")
    file = tmp_path / "store.db"
    table = _sqlite_results_table(file, "double")
    connection = sqlite3.connect(file)
    changed = connection.execute(
        f"UPDATE {table} SET __output_packet_hash = 'sha256:forged' "
        f"WHERE rowid = (SELECT min(rowid) FROM {table})"
    ).rowcount
    connection.commit()
    connection.close()
    assert changed == 1

    done = orcapod("verify", "sqlite:///store.db")
    assert done.returncode == 1
    assert "not to the stored sha256:forged" in done.stdout
    assert "MISMATCH record of node 'doubled' of pipeline 'lab'" in done.stdout
    assert "but the result holds sha256:forged" in done.stdout


def test_a_result_no_record_uses_is_still_checked(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    from orcapod.core import function_pod, open_database
    from orcapod.core.datagrams import Packet
    from orcapod.core.function_pods import ResultCache

    @function_pod(output_keys="y")
    def plus_one(x: int) -> int:
        return x + 1

    database = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    packet = Packet.from_dict({"x": 1})
    ResultCache(database).record_packet(
        plus_one.pod.packet_function, packet, Packet.from_dict({"y": 2})
    )
    database.close()
    _assert_clean(orcapod("verify", "sqlite:///store.db"), results=1)

    file = tmp_path / "store.db"
    table = _sqlite_results_table(file, "plus_one")
    connection = sqlite3.connect(file)
    connection.execute(f"UPDATE {table} SET y = 3")
    connection.commit()
    connection.close()
    done = orcapod("verify", "sqlite:///store.db")
    assert done.returncode == 1
    assert f"MISMATCH result {packet.content_hash()} at ('_results', 'plus_one'" in done.stdout
    assert "used by no node record" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sqlite:///missing/store.db"], "does not exist"),
        (["memory://"], "in-memory database"),
        (["sqlite:///store.db", "--pipeline", "nope"], "no function-node records of pipeline"),
    ],
    ids=["missing-store", "memory", "unknown-pipeline"],
)
def test_what_cannot_be_checked_is_exit_status_2_and_creates_nothing(
    tmp_path: Path,
    orcapod: Callable[..., subprocess.CompletedProcess[str]],
    args: list[str],
    message: str,
) -> None:
    if args[0] == "sqlite:///store.db":
        _run_pipeline(tmp_path, "sqlite:///store.db")
    before = sorted(p.name for p in tmp_path.iterdir())
    done = orcapod("verify", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "orcapod verify: error:" in done.stderr
    assert message in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_damaged_store_is_exit_status_1_with_the_damage_named(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    _run_pipeline(tmp_path, "sqlite:///store.db")
    file = tmp_path / "store.db"
    table = _sqlite_results_table(file, "summarise")
    connection = sqlite3.connect(file)
    connection.execute(f"UPDATE {table} SET scores = '[1.0, broken'")
    connection.commit()
    connection.close()
    done = orcapod("verify", "sqlite:///store.db")
    assert done.returncode == 1
    assert "'scores'" in done.stderr
    assert "json_valid" in done.stderr


# -- PostgreSQL ------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_value_edited_in_postgres_is_caught_with_its_node_and_tag(
    tmp_path: Path,
    orcapod: Callable[..., subprocess.CompletedProcess[str]],
    postgres: PostgresServer,
) -> None:
    import psycopg

    uri = postgres.url()
    _run_pipeline(tmp_path, uri)
    _assert_clean(orcapod("verify", uri), results=8)
    with psycopg.connect(**postgres.connect_kwargs(), autocommit=True) as connection:
        tables = connection.execute("SELECT table_name, path FROM orcapod_paths").fetchall()
        (table,) = [t for t, p in tables if json.loads(p)[:2] == ["_results", "summarise"]]
        changed = connection.execute(
            f'UPDATE "{table}" SET label = %s WHERE label = %s',  # type: ignore[arg-type]
            ("n-2 (edited)", "n-2"),
        ).rowcount
    assert changed == 1
    _assert_caught_s2(orcapod("verify", uri))
    _assert_caught_s2(orcapod("verify", uri, "--pipeline", "lab"))


# -- Delta ---------------------------------------------------------------------------------


def test_a_value_edited_in_a_delta_data_file_is_caught_with_its_node_and_tag(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    _run_pipeline(tmp_path, "delta://store")
    _assert_clean(orcapod("verify", "delta://store"), results=8)
    (table,) = (tmp_path / "store" / "_results" / "summarise").glob("*/@delta")
    edited = 0
    for file in table.glob("*.parquet"):
        data = pq.read_table(file)
        names = data.column_names
        label = next(
            n
            for n in names
            if data.column(n).type in (pa.string(), pa.large_string())
            and "n-2" in data.column(n).to_pylist()
        )
        where = pc.equal(data.column(label), "n-2")
        if pc.any(where).as_py():
            column = pc.if_else(
                where, pa.scalar("n-2 (edited)", data.column(label).type), data.column(label)
            )
            pq.write_table(data.set_column(names.index(label), label, column), file)
            edited += 1
    assert edited == 1
    _assert_caught_s2(orcapod("verify", "delta://store"))

"""``orcapod explain``: why a run computed each packet, said from a real store by a real command.

Each run of the pipeline is a process of its own, importing a module written
to a temporary directory; between runs the module or the source rows are
edited (or a results table is emptied with SQLite's own tools), as a user
would. Then ``orcapod explain`` runs as a process of its own on the store.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

STEPS = """
from orcapod.core import function_pod

K = {k}


@function_pod(output_keys="y", name="scale", version="{version}")
def scale(x: int, z: int) -> int:
    return x * K + z


@function_pod(output_keys="w", name="double")
def double(y: int) -> int:
    return 2 * y
"""

PIPELINE = """
import json
import sys

from orcapod.core import DictSource, Pipeline, open_database

from steps import double, scale

database = open_database(sys.argv[1])
rows = json.loads(open("rows.json").read())
pipeline = Pipeline("lab", database)
with pipeline:
    scaled = scale.pod(DictSource(rows, tag_columns=["id"], source_id="rows"), label="scale")
    double.pod(scaled, label="double")
result = pipeline.run()
print(result.run_id)
database.close()
"""


def _rows() -> list[dict[str, Any]]:
    return [{"id": name, "x": number, "z": 0} for number, name in enumerate("abcd")]


class Lab:
    """A pipeline's module, rows and store in a directory; each run a process of its own."""

    def __init__(self, root: Path, uri: str) -> None:
        self.root = root
        self.uri = uri
        (root / "pipeline.py").write_text(PIPELINE)
        self.write(version="v0", k=10, rows=_rows())

    def write(self, *, version: str, k: int, rows: list[dict[str, Any]]) -> None:
        (self.root / "steps.py").write_text(STEPS.format(version=version, k=k))
        (self.root / "rows.json").write_text(json.dumps(rows))
        for cached in (self.root / "__pycache__").glob("steps*"):
            cached.unlink()

    def run(self) -> str:
        done = subprocess.run(
            [sys.executable, "pipeline.py", self.uri],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.root,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def orcapod(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    script = Path(sysconfig.get_path("scripts")) / "orcapod"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "orcapod.core"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )

    return run


def _explained(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("uri", ["sqlite:///store.db", "delta://store"])
def test_explain_says_new_tag_then_what_changed_version_and_column_and_why_the_table_moved(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]], uri: str
) -> None:
    lab = Lab(tmp_path, uri)
    first = lab.run()
    done = orcapod("explain", uri, "--pipeline", "lab", "--node", "scale")
    assert done.returncode == 0, done.stderr
    assert f"node 'scale' of pipeline 'lab', run {first}" in done.stdout
    assert "4 packet(s) computed, 0 failed" in done.stdout
    assert "4  new tag" in done.stdout

    rows = _rows()
    rows[1]["z"] = 5  # b: column z
    rows[2]["x"], rows[2]["z"] = 22, 5  # c: both columns
    lab.write(version="v1", k=10, rows=[*rows, {"id": "e", "x": 9, "z": 0}])
    second = lab.run()
    data = _explained(orcapod("explain", uri, "--pipeline", "lab", "--node", "scale", "--json"))
    assert data["run_id"] == second
    assert data["previous_run_id"] == first
    assert data["moved"] == ["function changed", "version v0 → v1"]
    assert {r["reason"]: r["count"] for r in data["reasons"]} == {
        "version v0 → v1": 2,
        "version v0 → v1; input changed: column `z`": 1,
        "version v0 → v1; input changed: columns `x`, `z`": 1,
        "new tag": 1,
    }
    assert {p["tags"]["id"]: p["reason"] for p in data["packets"]}["e"] == "new tag"
    downstream = _explained(orcapod("explain", uri, "--node", "double", "--json"))  # one pipeline
    assert downstream["moved"] == ["upstream `scale` changed: version v0 → v1"]

    earlier = _explained(orcapod("explain", uri, "--node", "scale", "--run", first, "--json"))
    assert earlier["reasons"] == [{"reason": "new tag", "count": 4}]


def test_results_deleted_with_sqlites_own_tools_are_stored_result_missing(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    lab = Lab(tmp_path, "sqlite:///store.db")
    lab.run()
    connection = sqlite3.connect(tmp_path / "store.db")
    try:
        tables = [
            table
            for table, path in connection.execute("SELECT table_name, path FROM orcapod_paths")
            if json.loads(path)[:2] == ["_results", "scale"]
        ]
        assert len(tables) == 1
        connection.execute(f'DELETE FROM "{tables[0]}"')
        connection.commit()
    finally:
        connection.close()
    lab.run()
    data = _explained(orcapod("explain", "sqlite:///store.db", "--node", "scale", "--json"))
    assert data["reasons"] == [{"reason": "stored result missing", "count": 4}]
    assert data["moved"] == []


def test_unknown_node_run_and_store_are_errors_that_name_what_there_is(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    lab = Lab(tmp_path, "sqlite:///store.db")
    run = lab.run()
    done = orcapod("explain", "sqlite:///store.db", "--pipeline", "lab", "--node", "nope")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "orcapod explain: error:" in done.stderr
    assert "'double', 'scale'" in done.stderr
    done = orcapod("explain", "sqlite:///store.db", "--node", "scale", "--run", "r-0")
    assert done.returncode == 1
    assert run in done.stderr
    done = orcapod("explain", "sqlite:///store.db", "--pipeline", "other", "--node", "scale")
    assert done.returncode == 1
    assert "'lab'" in done.stderr
    done = orcapod("explain", "sqlite:///missing/store.db", "--node", "scale")
    assert done.returncode == 1
    assert "does not exist" in done.stderr
    assert not (tmp_path / "missing").exists()


def _tracks_globals(root: Path) -> bool:
    """Whether function identities cover module globals yet (issue 18, parts 1 to 3)."""
    probe = root / "probe_steps.py"
    probe.write_text(
        textwrap.dedent(
            """
            from orcapod.core import function_pod

            K = 10


            @function_pod(output_keys="y")
            def probe(x: int) -> int:
                return x * K
            """
        )
    )
    sys.path.insert(0, str(root))
    try:
        import probe_steps  # type: ignore[import-not-found]

        return bool(getattr(probe_steps.probe.pod.packet_function, "code_dependencies", ()))
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("probe_steps", None)


def test_an_edited_global_is_named_with_its_old_and_new_value(
    tmp_path: Path, orcapod: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    if not _tracks_globals(tmp_path):
        pytest.skip("function identities do not cover module globals yet")
    lab = Lab(tmp_path, "sqlite:///store.db")
    lab.run()
    lab.write(version="v0", k=20, rows=_rows())
    lab.run()
    data = _explained(orcapod("explain", "sqlite:///store.db", "--node", "scale", "--json"))
    assert data["moved"] == ["function changed", "global `K`: 10 → 20"]
    assert data["reasons"] == [{"reason": "global `K`: 10 → 20", "count": 4}]

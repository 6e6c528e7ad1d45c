"""File and Directory values on every store and on a real local Ray cluster.

Protects: an input file edited between runs in fresh processes recomputes
exactly its packet on Delta, SQLite and PostgreSQL; returned files are kept
in each store's documented file store (``<delta root>/.files``,
``<sqlite file>.files``); ``orcapod verify`` finds a stored file deleted
behind the store's back; and a function returning a File runs on Ray workers
(which write into the same file store on this machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from orcapod.protocols.testing.postgres import PostgresServer

os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"

PIPELINE = """
import sys
from pathlib import Path
from orcapod.core import DictSource, File, Pipeline, function_pod, scratch_dir

@function_pod(output_keys="value")
def read_value(data: File) -> int:
    return int(data.read_text())

@function_pod(output_keys="report")
def report(value: int) -> File:
    out = scratch_dir() / "report.txt"
    out.write_text(f"value {value}")
    return File(out)

folder = Path(sys.argv[2])
pipeline = Pipeline("files", sys.argv[1])
with pipeline:
    rows = [{"name": n, "data": File(folder / f"{n}.txt")} for n in ("a", "b", "c")]
    values = read_value.pod(DictSource(rows, tag_columns=["name"]), label="read")
    report.pod(values, label="report")
result = pipeline.run()
stored = pipeline.nodes["report"].as_table().column("report").to_pylist()
print(result.nodes["read"].computed, result.nodes["report"].computed)
print(" ".join(Path(v["path"]).read_text().replace(" ", "=") for v in stored))
print(Path(stored[0]["path"]).parent.parent.parent)
"""


def _old(path: Path, text: str) -> None:
    path.write_text(text)
    then = time.time() - 60
    os.utime(path, (then, then))


def _check_store(uri: str, tmp_path: Path, files_root: Path | None) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, value in (("a", "1"), ("b", "2"), ("c", "3")):
        _old(data / f"{name}.txt", value)
    script = tmp_path / "pipeline.py"
    script.write_text(PIPELINE)

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, str(script), uri, str(data)],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.splitlines()

    first = run()
    assert first[:2] == ["3 3", "value=1 value=2 value=3"]
    if files_root is not None:
        assert Path(first[2]) == files_root
    _old(data / "b.txt", "8")
    second = run()
    assert second[:2] == ["1 1", "value=1 value=8 value=3"]
    assert run()[:2] == ["0 0", "value=1 value=8 value=3"]
    verify = subprocess.run(
        [sys.executable, "-m", "orcapod.core", "verify", uri],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "stored file(s)" in verify.stdout
    victim = Path(first[2]) / "sha256"
    stored = sorted(p for p in victim.rglob("*") if p.is_file())
    os.chmod(stored[0], 0o644)
    stored[0].unlink()
    verify = subprocess.run(
        [sys.executable, "-m", "orcapod.core", "verify", uri],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 1
    assert "MISSING OR ALTERED file" in verify.stdout
    assert run()[:2] == ["0 1", "value=1 value=8 value=3"]  # recomputed, not stale


def test_delta_store(tmp_path: Path) -> None:
    _check_store(f"delta://{tmp_path / 'store'}", tmp_path, tmp_path / "store" / ".files")


def test_sqlite_store(tmp_path: Path) -> None:
    _check_store(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, tmp_path / "store.db.files")


@pytest.mark.postgres
def test_postgres_store(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _check_store(postgres.url(), tmp_path, None)
    assert any((tmp_path / "cache" / "orcapod" / "files").iterdir())


def test_file_outputs_on_a_local_ray_cluster(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from orcapod.core import DictSource, File, InMemoryArrowDatabase, Pipeline
    from orcapod.executors.ray import RayExecutor

    sys.path.insert(0, str(tmp_path))
    (tmp_path / "ray_files_module.py").write_text(
        "import os\n"
        "from orcapod.core import File, function_pod, scratch_dir\n"
        "@function_pod(output_keys='out')\n"
        "def stamp(data: File) -> File:\n"
        "    out = scratch_dir() / 'stamped.txt'\n"
        "    out.write_text(data.read_text() + ' stamped')\n"
        "    return File(out)\n"
    )
    try:
        from ray_files_module import stamp  # type: ignore[import-not-found]

        ray.init(
            num_cpus=2,
            include_dashboard=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(tmp_path)}},
        )
        for i in range(4):
            _old(tmp_path / f"{i}.txt", f"input {i}")
        pipeline = Pipeline("ray-files", InMemoryArrowDatabase(), file_store=tmp_path / "files")
        with pipeline:
            rows = [{"i": i, "data": File(tmp_path / f"{i}.txt")} for i in range(4)]
            stamp.pod(DictSource(rows, tag_columns=["i"]), label="out")
        pipeline.nodes["out"].executor = RayExecutor()
        result = pipeline.run()
        assert result.nodes["out"].computed == 4, result.failures
        stored = [
            Path(v["path"]) for v in pipeline.nodes["out"].as_table().column("out").to_pylist()
        ]
        assert [p.read_text() for p in stored] == [f"input {i} stamped" for i in range(4)]
        assert all(p.is_relative_to(tmp_path / "files") for p in stored)
        assert not any((tmp_path / "files" / "scratch").iterdir())
    finally:
        ray.shutdown()
        sys.path.remove(str(tmp_path))


@pytest.mark.parametrize("store", ["sqlite", "delta"])
def test_a_second_process_reads_no_file_content(tmp_path: Path, store: str) -> None:
    """The digest cache lives in the store: a second run, in another process, reads
    none of the unchanged input files (counted, not timed)."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        _old(data / f"{i}.txt", str(i))
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "from orcapod.core import DictSource, File, Pipeline, function_pod\n"
        "from orcapod.core.files import _digests\n"
        "reads = []\n"
        "original = _digests.FileHasher._read\n"
        "def counting(self, path, info):\n"
        "    reads.append(path)\n"
        "    return original(self, path, info)\n"
        "_digests.FileHasher._read = counting\n"
        "@function_pod(output_keys='n')\n"
        "def size(f: File) -> int:\n"
        "    return len(f.read_bytes())\n"
        f"folder = Path({str(data)!r})\n"
        "pipeline = Pipeline('p', sys.argv[1])\n"
        "with pipeline:\n"
        "    rows = [{'i': i, 'f': File(folder / f'{i}.txt')} for i in range(5)]\n"
        "    size.pod(DictSource(rows, tag_columns=['i']))\n"
        "result = pipeline.run()\n"
        "print(result.n_computed, result.n_cached, len(reads))\n"
    )
    uri = f"sqlite:///{tmp_path / 'store.db'}" if store == "sqlite" else f"delta://{tmp_path / 'd'}"
    runs = [
        subprocess.run(
            [sys.executable, str(script), uri], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs == [["5", "0", "5"], ["0", "5", "0"]]


def test_a_moved_sqlite_store_keeps_its_file_results(tmp_path: Path) -> None:
    """Moving the folder of ``results.db`` and ``results.db.files`` recomputes nothing,
    and ``orcapod verify`` finds the files at their new place."""
    project = tmp_path / "project"
    data = tmp_path / "data"
    project.mkdir()
    data.mkdir()
    for name, value in (("a", "1"), ("b", "2"), ("c", "3")):
        _old(data / f"{name}.txt", value)
    script = tmp_path / "pipeline.py"
    script.write_text(PIPELINE)

    def run(folder: Path) -> list[str]:
        uri = f"sqlite:///{folder / 'results.db'}"
        done = subprocess.run(
            [sys.executable, str(script), uri, str(data)],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.splitlines()

    assert run(project)[0] == "3 3"
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    project.rename(moved)
    again = run(moved)
    assert again[:2] == ["0 0", "value=1 value=2 value=3"]
    assert Path(again[2]) == moved / "results.db.files"
    verify = subprocess.run(
        [sys.executable, "-m", "orcapod.core", "verify", f"sqlite:///{moved / 'results.db'}"],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr

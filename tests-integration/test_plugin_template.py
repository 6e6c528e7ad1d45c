"""examples/plugin-template, built and installed as a user would: a fresh environment
holding only its wheel and the workspace's own wheels of orcapod-protocols,
orcapod-capture and orcapod-core.

There ``orcapod plugins`` lists its store and observer, its own tests (the
database and observer contracts) pass against the installed wheel, and a
pipeline stores its results in ``blobstore://`` while ``run-summary`` records
its runs, computing only new rows in a later process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "examples" / "plugin-template"
DISTRIBUTION = "orcapod-plugin-template"
WORKSPACE = ("orcapod-protocols", "orcapod-capture", "orcapod-core")


def _run(command: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    # Nothing of this workspace's environment leaks in: only the fresh one is used.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the template installed from its wheel, tests extra too."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("building the plugin template needs uv on PATH (pip install uv)")
    work = tmp_path_factory.mktemp("template")
    wheels = work / "wheels"
    for project in [TEMPLATE, *(ROOT / "packages" / name for name in WORKSPACE)]:
        _run([uv, "build", "--wheel", "--out-dir", str(wheels), str(project)], cwd=work)
    venv = work / "venv"
    _run([uv, "venv", "--python", sys.executable, str(venv)], cwd=work)
    (template,) = wheels.glob("orcapod_plugin_template-*.whl")
    others = [str(wheel) for wheel in wheels.glob("*.whl") if wheel != template]
    requirement = f"{DISTRIBUTION}[test] @ {template.as_uri()}"
    python = str(venv / "bin" / "python")
    _run([uv, "pip", "install", "--python", python, *others, requirement], cwd=work)
    return venv


def test_the_orcapod_command_lists_the_template_s_store_and_observer(
    fresh: Path, tmp_path: Path
) -> None:
    listed = _run([str(fresh / "bin" / "orcapod"), "plugins", "--json"], cwd=tmp_path)
    report = json.loads(listed.stdout)
    assert report["failed"] == []
    mine = {(p["kind"], p["name"]) for p in report["plugins"] if p["distribution"] == DISTRIBUTION}
    assert mine == {("database", "blobstore"), ("observer", "run-summary")}


def test_the_template_s_own_tests_pass_against_the_installed_wheel(
    fresh: Path, tmp_path: Path
) -> None:
    # Only the tests are copied: the code under test is the installed wheel's.
    shutil.copytree(TEMPLATE / "tests", tmp_path / "tests")
    shutil.copy(TEMPLATE / "pyproject.toml", tmp_path)
    result = _run(
        [str(fresh / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    assert "failed" not in summary
    assert "error" not in summary


PIPELINE = textwrap.dedent(
    """
    import sys

    from orcapod.core import DictSource, Pipeline, function_pod
    from orcapod.core.plugins import get_observer


    @function_pod(output_keys="y")
    def double(x: int) -> int:
        return 2 * x


    rows = [{"id": f"r{n}", "x": n} for n in range(int(sys.argv[1]))]
    observer = get_observer("run-summary", path="runs.jsonl")
    pipeline = Pipeline("doubling", database="blobstore://store.db")
    with pipeline:
        double.pod(DictSource(rows, tag_columns=["id"], source_id="numbers"), label="double")
    result = pipeline.run(observer=observer)
    print(result.n_computed, result.n_cached)
    print(sorted(pipeline.nodes["double"].as_table().column("y").to_pylist()))
    pipeline.database.close()
    """
)


def test_a_pipeline_stores_in_blobstore_and_run_summary_records_each_run(
    fresh: Path, tmp_path: Path
) -> None:
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    python = str(fresh / "bin" / "python")
    first = _run([python, "pipeline.py", "3"], cwd=tmp_path)
    assert first.stdout.splitlines() == ["3 0", "[0, 2, 4]"]
    second = _run([python, "pipeline.py", "5"], cwd=tmp_path)
    assert second.stdout.splitlines() == ["2 3", "[0, 2, 4, 6, 8]"]
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [run["state"] for run in runs] == ["SUCCESS", "SUCCESS"]
    assert [run["nodes"]["double"] for run in runs] == [
        {"computed": 3},
        {"cached": 3, "computed": 2},
    ]

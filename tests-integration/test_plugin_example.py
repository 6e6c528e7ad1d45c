"""The worked third-party plugin (plugin_example/, ``arrowdir://DIR``), installed from its wheel.

It passes orcapod's conformance kit, and once installed, orcapod-core finds it
through its entry point: ``open_database("arrowdir://...")``, the ``orcapod``
command and a pipeline stored in it, without the plugin ever importing core.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.protocols.testing import load_distribution_plugins
from orcapod.protocols.testing.database import PersistentArrowDatabaseContract

if TYPE_CHECKING:
    from collections.abc import Iterator

    from orcapod.protocols.database import ArrowDatabase

DISTRIBUTION = "orcapod-arrowdir-example"


@pytest.fixture(scope="module", autouse=True)
def installed(plugin_example_site: Path) -> Iterator[Path]:
    """The plugin importable in this process for this module's tests, and gone afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(plugin_example_site))
        importlib.invalidate_caches()
        yield plugin_example_site
    for name in [n for n in sys.modules if n == "arrowdir" or n.startswith("arrowdir.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


class TestArrowDirConformance(PersistentArrowDatabaseContract):
    """The whole conformance kit of orcapod-protocols, run against the plugin's database."""

    __test__ = True
    property_examples = 25

    def make_database(self, tmp_path: Path) -> ArrowDatabase:
        from arrowdir import ArrowDirDatabase

        return ArrowDirDatabase(tmp_path / "store")

    def reopen_database(self, database: ArrowDatabase, tmp_path: Path) -> ArrowDatabase:
        from arrowdir import ArrowDirDatabase

        return ArrowDirDatabase(tmp_path / "store")


def test_the_entry_point_provides_the_arrowdir_scheme_and_nothing_else() -> None:
    provided = load_distribution_plugins(DISTRIBUTION)
    assert {kind: sorted(names) for kind, names in provided.items()} == {"database": ["arrowdir"]}


def test_core_opens_an_arrowdir_uri_through_the_installed_plugin(tmp_path: Path) -> None:
    from orcapod.core.plugins import PluginRegistry

    registry = PluginRegistry()
    assert registry.failures == []
    (provision,) = [p for p in registry.provisions() if p.name == "arrowdir"]
    assert provision.distribution == DISTRIBUTION
    database = registry.open_database(f"arrowdir://{tmp_path / 'store'}")
    assert type(database).__name__ == "ArrowDirDatabase"
    database.close()


def test_an_arrowdir_uri_without_a_directory_is_refused_naming_the_uri() -> None:
    from orcapod.core.plugins import PluginRegistry

    with pytest.raises(ValueError, match=r"'arrowdir://' names no directory"):
        PluginRegistry().open_database("arrowdir://")


def test_a_store_that_is_a_file_is_refused_naming_it(tmp_path: Path) -> None:
    from arrowdir import ArrowDirDatabase

    from orcapod.protocols.errors import DatabaseError

    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(DatabaseError, match="is a file, not a directory"):
        ArrowDirDatabase(tmp_path / "file")


def test_a_data_column_named_like_the_id_column_is_kept_apart_from_the_ids(
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    from arrowdir import ArrowDirDatabase

    database = ArrowDirDatabase(tmp_path / "store")
    database.add_records(("p",), pa.table({"id": ["a"], "@id": [1]}), "id", flush=True)
    database.close()
    reopened = ArrowDirDatabase(tmp_path / "store")
    assert reopened.get_all_records(("p",), record_id_column="id").to_pylist() == [  # type: ignore[union-attr]
        {"id": "a", "@id": 1}
    ]
    reopened.close()


def test_the_store_s_uri_opens_it_again_and_its_files_live_inside_it(tmp_path: Path) -> None:
    from arrowdir import ArrowDirDatabase

    from orcapod.core.plugins import PluginRegistry

    database = ArrowDirDatabase(tmp_path / "store")
    assert database.files_location == str(tmp_path / "store" / "@files")
    reopened = PluginRegistry().open_database(database.uri)
    assert isinstance(reopened, ArrowDirDatabase)
    assert reopened.root == tmp_path / "store"
    reopened.close()


def test_each_flush_is_one_file_whatever_the_number_of_records(tmp_path: Path) -> None:
    import pyarrow as pa
    from arrowdir import ArrowDirDatabase

    database = ArrowDirDatabase(tmp_path / "store")
    for start in (0, 1000):
        ids = [f"r{n}" for n in range(start, start + 1000)]
        database.add_records(("p", "q"), pa.table({"id": ids, "n": range(1000)}), "id")
        database.flush()
    database.close()
    files = sorted(f.name[:7] for f in (tmp_path / "store" / "p" / "q").iterdir())
    assert files == ["@batch-", "@batch-", "@schema"]


def _run(site: Path, cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    paths = [str(site), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def _orcapod() -> list[str]:
    script = Path(sysconfig.get_path("scripts")) / "orcapod"
    return [str(script)] if script.exists() else [sys.executable, "-m", "orcapod.core"]


def test_the_orcapod_command_lists_the_plugin(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, tmp_path, *_orcapod(), "plugins", "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["failed"] == []
    rows = {(p["kind"], p["name"], p["distribution"]) for p in report["plugins"]}
    assert ("database", "arrowdir", DISTRIBUTION) in rows


PIPELINE_SCRIPT = textwrap.dedent(
    """
    import sys

    from orcapod.core import DictSource, Pipeline, function_pod


    @function_pod(output_keys="y")
    def double(x: int) -> int:
        return 2 * x


    rows = [{"id": f"r{n}", "x": n} for n in range(int(sys.argv[1]))]
    pipeline = Pipeline("doubling", database="arrowdir://store")
    with pipeline:
        double.pod(DictSource(rows, tag_columns=["id"], source_id="numbers"), label="double")
    result = pipeline.run()
    print(result.n_computed, result.n_cached)
    print(sorted(pipeline.nodes["double"].as_table().column("y").to_pylist()))
    pipeline.database.close()
    """
)


def test_a_pipeline_stored_in_arrowdir_computes_only_new_rows_in_a_later_process(
    installed: Path, tmp_path: Path
) -> None:
    (tmp_path / "pipeline.py").write_text(PIPELINE_SCRIPT)

    first = _run(installed, tmp_path, sys.executable, "pipeline.py", "3")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["3 0", "[0, 2, 4]"]
    second = _run(installed, tmp_path, sys.executable, "pipeline.py", "5")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == ["2 3", "[0, 2, 4, 6, 8]"]
    assert (tmp_path / "store" / "doubling").is_dir()


def test_the_plugin_works_without_importing_orcapod_core(installed: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import pyarrow as pa
        from arrowdir import ArrowDirDatabase
        from orcapod.protocols.testing import load_distribution_plugins

        opener = load_distribution_plugins("orcapod-arrowdir-example")["database"]["arrowdir"]
        database = opener("arrowdir://store")
        assert isinstance(database, ArrowDirDatabase)
        database.add_records(("p",), pa.table({"id": ["a"], "v": [1]}), "id", flush=True)
        print(database.get_all_records(("p",)).to_pylist())
        print(sorted(m for m in sys.modules if m.startswith("orcapod.core")))
        """
    )
    result = _run(installed, tmp_path, sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[{'v': 1}]", "[]"]

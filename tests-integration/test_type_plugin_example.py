"""The worked logical-type plugin (type_plugin_example/, ``fractions.Fraction``), from its wheel.

It passes orcapod's ``LogicalTypeContract`` (without orcapod-core, as its
author would run it), and once installed orcapod-core finds it through its
entry point: ``orcapod plugins`` lists it, and a pipeline whose function pod
takes and returns a ``Fraction`` stores, reads back and caches fractions on
Delta Lake and SQLite, in processes that never register anything themselves.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import strategies as st

from orcapod.protocols.testing import load_distribution_logical_types, load_distribution_plugins
from orcapod.protocols.testing.logical_types import LogicalTypeContract

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from hypothesis.strategies import SearchStrategy

    from orcapod.protocols.logical_types import LogicalTypeDefinition

DISTRIBUTION = "orcapod-fraction-example"
NAME = "fractiontype.fraction"


@pytest.fixture(scope="module", autouse=True)
def installed(type_plugin_example_site: Path) -> Iterator[Path]:
    """The plugin importable in this process for this module's tests, and gone afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(type_plugin_example_site))
        importlib.invalidate_caches()
        yield type_plugin_example_site
    for name in [n for n in sys.modules if n == "fractiontype" or n.startswith("fractiontype.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


class TestFractionConformance(LogicalTypeContract):
    """The logical-type contract of orcapod-protocols, run against the plugin's Fraction."""

    __test__ = True
    expected_name = NAME
    distribution = DISTRIBUTION

    def make_logical_type(self) -> LogicalTypeDefinition:
        from fractiontype import FRACTION

        return FRACTION

    def sample_values(self) -> Sequence[Any]:
        return [
            Fraction(0),
            Fraction(1, 3),
            Fraction(-7, 2),
            Fraction(10**40, 3),  # beyond int64
            Fraction(1, 10**400),  # its float is 0.0
            Fraction(10**400),  # no float at all
        ]

    def same_identity(self) -> Sequence[Sequence[Any]]:
        return [[Fraction(1, 2), Fraction(2, 4), Fraction("0.5")]]

    def refused_values(self) -> Sequence[Any]:
        return [0.5, 1, "1/2", None]

    def value_strategy(self) -> SearchStrategy[Any]:
        return st.fractions()


def test_the_entry_point_provides_the_fraction_type_and_nothing_else() -> None:
    assert load_distribution_plugins(DISTRIBUTION) == {}
    assert sorted(load_distribution_logical_types(DISTRIBUTION)) == [NAME]


def _run(site: Path, cwd: Path, *command: str) -> Any:
    paths = [str(site), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


AUTHORS_TEST = textwrap.dedent(
    """
    from fractions import Fraction

    from orcapod.protocols.testing.logical_types import LogicalTypeContract


    class TestFraction(LogicalTypeContract):
        __test__ = True
        expected_name = "fractiontype.fraction"
        distribution = "orcapod-fraction-example"

        def make_logical_type(self):
            from fractiontype import FRACTION

            return FRACTION

        def sample_values(self):
            return [Fraction(0), Fraction(1, 3), Fraction(10**40, 3)]
    """
)

WITHOUT_CORE = textwrap.dedent(
    """
    import sys

    import pytest

    sys.modules["orcapod.core"] = None  # importing orcapod.core now fails
    status = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "test_fraction.py"])
    print(sorted(m for m in sys.modules if m.startswith("orcapod.core.")))
    sys.exit(status)
    """
)


def test_the_contract_runs_without_orcapod_core(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "test_fraction.py").write_text(AUTHORS_TEST)
    result = _run(installed, tmp_path, sys.executable, "-c", WITHOUT_CORE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout
    assert "failed" not in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"


def _orcapod() -> list[str]:
    script = Path(sysconfig.get_path("scripts")) / "orcapod"
    return [str(script)] if script.exists() else [sys.executable, "-m", "orcapod.core"]


def test_the_orcapod_command_lists_the_type_with_its_distribution(
    installed: Path, tmp_path: Path
) -> None:
    result = _run(installed, tmp_path, *_orcapod(), "plugins", "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["failed"] == []
    types = {t["name"]: t for t in report["logical_types"]}
    assert types[NAME]["class"] == "fractions.Fraction"
    assert types[NAME]["distribution"] == DISTRIBUTION
    assert types[NAME]["identity_fields"] == ["numerator", "denominator"]
    assert (types["file"]["distribution"], types["directory"]["distribution"]) == (
        "orcapod-core",
        "orcapod-core",
    )

    table = _run(installed, tmp_path, *_orcapod(), "plugins")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()]
    assert [NAME, "fractions.Fraction", DISTRIBUTION, "0.1.0"] in rows


PIPELINE_SCRIPT = textwrap.dedent(
    """
    import sys
    from fractions import Fraction

    from orcapod.core import DictSource, Pipeline, function_pod
    from orcapod.core.types import table_to_rows


    @function_pod(output_keys=("half", "bigger"))
    def halve(x: Fraction, times: int) -> tuple[Fraction, Fraction]:
        return x / 2, x * 10**times


    count, uri = int(sys.argv[1]), sys.argv[2]
    rows = [{"id": f"r{n}", "x": Fraction(n, 3), "times": 30 * n} for n in range(count)]
    pipeline = Pipeline("fractions", database=uri)
    with pipeline:
        halve.pod(DictSource(rows, tag_columns=["id"], source_id="numbers"), label="halve")
    result = pipeline.run()
    print(result.n_computed, result.n_cached)
    results = sorted(table_to_rows(pipeline.nodes["halve"].as_table()), key=lambda r: r["id"])
    print(all(type(r["half"]) is Fraction and type(r["bigger"]) is Fraction for r in results))
    print([str(r["half"]) for r in results])
    print(results[-1]["bigger"] == Fraction(count - 1, 3) * 10 ** (30 * (count - 1)))
    pipeline.database.close()
    """
)


@pytest.mark.parametrize("scheme", ["delta", "sqlite"])
def test_a_pipeline_of_fractions_round_trips_and_a_later_process_reuses_its_results(
    installed: Path, tmp_path: Path, scheme: str
) -> None:
    (tmp_path / "pipeline.py").write_text(PIPELINE_SCRIPT)
    uri = f"delta://{tmp_path / 'store'}" if scheme == "delta" else f"sqlite:///{tmp_path}/f.db"

    first = _run(installed, tmp_path, sys.executable, "pipeline.py", "3", uri)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["3 0", "True", "['0', '1/6', '1/3']", "True"]

    again = _run(installed, tmp_path, sys.executable, "pipeline.py", "3", uri)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == "0 3"

    more = _run(installed, tmp_path, sys.executable, "pipeline.py", "4", uri)
    assert more.returncode == 0, more.stderr
    assert more.stdout.splitlines() == ["1 3", "True", "['0', '1/6', '1/3', '1/2']", "True"]


HASH_SCRIPT = textwrap.dedent(
    """
    from fractions import Fraction

    import pyarrow as pa

    from orcapod.core.hashing import hash_table_rows
    from orcapod.core.types import arrow_field

    field = arrow_field("x", Fraction)
    print(dict(field.metadata))
    rows = [
        {"numerator": "1", "denominator": "2", "approx": 0.5},
        {"numerator": "1", "denominator": "2", "approx": None},  # the float is no identity
        {"numerator": "1", "denominator": "3", "approx": 0.5},
    ]
    table = pa.table({"x": pa.array(rows, field.type)}, schema=pa.schema([field]))
    hashes = hash_table_rows(table)
    print(hashes[0] == hashes[1], hashes[0] != hashes[2])
    """
)


def test_core_hashes_a_fraction_by_its_identity_fields_only(
    installed: Path, tmp_path: Path
) -> None:
    result = _run(installed, tmp_path, sys.executable, "-c", HASH_SCRIPT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "{b'orcapod.logical_type': b'fractiontype.fraction', "
        "b'orcapod.identity': b'numerator,denominator'}",
        "True True",
    ]

"""``explain``: what function nodes record of each run, and why each computed packet was computed.

Every test makes real runs of a real pipeline on an in-memory store, changes
one thing between them (a source's rows, the function's version or body, the
store), and asks the store alone why the last run computed what it computed.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import textwrap
from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.errors import ExplainError, OrcapodError
from orcapod.core.function_pods import function_pod
from orcapod.core.operators import Filter
from orcapod.core.pipeline import Explanation, Pipeline, explain
from orcapod.core.pipeline._records import computed_packets
from orcapod.core.sources import DictSource

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

    from orcapod.core.pipeline import RunResult


@function_pod(output_keys="y", name="scale")
def scale(x: int) -> int:
    return 10 * x


@function_pod(output_keys="y", name="scale", version="v1")
def scale_v1(x: int) -> int:
    return 10 * x


@function_pod(output_keys="y", name="scale")
def scale_edited(x: int) -> int:
    return x * 10 + 0


@function_pod(output_keys="y", name="add")
def add(x: int, z: int) -> int:
    return x + z


@function_pod(output_keys="y", name="flaky")
def flaky(x: int) -> int:
    if os.environ.get("ORCAPOD_TEST_EXPLAIN_FAIL") == str(x):
        raise RuntimeError(f"no luck for {x}")
    return x


@function_pod(output_keys="w", name="double")
def double(y: int) -> int:
    return 2 * y


def _run(
    database: Any,
    rows: list[dict[str, Any]],
    pod: Any,
    *,
    then: Any = None,
    orchestrator: str = "sync",
) -> tuple[Pipeline, RunResult]:
    pipeline = Pipeline("lab", database)
    with pipeline:
        stream = pod.pod(DictSource(rows, tag_columns=["id"], source_id="rows"), label="node")
        if then is not None:
            then.pod(stream, label="after")
    return pipeline, pipeline.run(orchestrator=orchestrator)


def _xs(*values: int) -> list[dict[str, Any]]:
    return [{"id": i, "x": x} for i, x in enumerate(values)]


def _reasons(explanation: Explanation) -> dict[str, int]:
    return dict(explanation.reasons)


def _by_tag(explanation: Explanation) -> dict[Any, str]:
    return {row["id"]: row["__reason"] for row in explanation.packets.to_pylist()}


# -- what is recorded ---------------------------------------------------------------


def test_a_run_records_the_identity_once_its_start_and_each_computed_packet() -> None:
    database = InMemoryArrowDatabase()
    pipeline, first = _run(database, _xs(1, 2, 2), scale)
    node = pipeline.nodes["node"]
    identities = database.get_all_records(("lab", "_identities"), record_id_column="__record_id")
    assert identities is not None
    [identity] = identities.to_pylist()
    assert identity["__record_id"] == f"node|{node.node_hash}"
    assert identity["__function"] == "scale"
    assert identity["__version"] == "v0"
    assert identity["__identity"] == node.function.content_hash()
    assert identity["__input_columns"] == ["x"]
    assert identity["__upstream_labels"] == ["rows"]
    assert identity["__upstream_hashes"] == [node.upstreams[0].node_hash]
    assert identity["__recorded_at"] is not None
    components = identity["__components"]
    assert components == [
        {"name": d.name, "kind": d.kind, "digest": d.digest, "shown": d.shown}
        for d in getattr(node.function, "code_dependencies", ())
    ]

    stored = database.get_all_records(node.computed_path, record_id_column="__record_id")
    assert stored is not None
    assert stored.num_rows == 1  # one record of lists per batch, not a row per packet
    assert stored.column("__record_id").to_pylist() == [f"{first.run_id}:0"]
    computed = computed_packets(stored.drop_columns(["__record_id"]))
    assert computed is not None
    # Rows 1 and 2 share a packet: it is computed once, and the repeat is cached.
    assert computed.num_rows == 3
    assert computed.column_names == [
        "id",
        "__run_id",
        "__input_packet_hash",
        "__outcome",
        "__input_column_hashes",
    ]
    assert set(computed.column("__run_id").to_pylist()) == {first.run_id}
    assert computed.column("__outcome").to_pylist() == ["computed", "computed", "cached"]
    assert computed.column("id").to_pylist() == [0, 1, 2]
    assert computed.column("__input_column_hashes").null_count == 3  # one column: none kept

    pipeline, second = _run(database, _xs(1, 2, 2), scale)  # everything cached
    assert second.nodes["node"].cached == 3
    # A run that finds everything stored records each packet's input, as cached.
    again = computed_packets(database.get_all_records(node.computed_path))
    assert (
        again.filter(pc.equal(again["__run_id"], second.run_id))["__outcome"].to_pylist()
        == ["cached"] * 3
    )
    assert database.get_all_records(("lab", "_identities")).num_rows == 1  # once per version
    runs = database.get_all_records(("lab", "_node_runs"), record_id_column="__record_id")
    assert sorted(runs.column("__record_id").to_pylist()) == sorted(
        [f"{first.run_id}|node", f"{second.run_id}|node"]
    )
    assert set(runs.column("__node_hash").to_pylist()) == {node.node_hash}


def test_packets_of_several_columns_record_each_columns_hash() -> None:
    database = InMemoryArrowDatabase()
    pipeline, _ = _run(database, [{"id": 0, "x": 1, "z": 2}], add)
    stored = database.get_all_records(pipeline.nodes["node"].computed_path)
    [row] = computed_packets(stored).to_pylist()
    from orcapod.core.hashing import hash_table_rows

    expected = [
        hash_table_rows(pa.table({"x": [1]}))[0],
        hash_table_rows(pa.table({"z": [2]}))[0],
    ]
    assert row["__input_column_hashes"] == ";".join(expected)


def test_the_new_paths_are_written_and_flushed_with_the_results() -> None:
    database = InMemoryArrowDatabase()
    pipeline, _ = _run(database, _xs(1), scale)
    node = pipeline.nodes["node"]
    paths = node.written_paths()
    assert paths[0] == node.pipeline_path
    assert paths[-1] == node.result_cache.path_for(node.function)  # the results: last
    assert {node.computed_path, ("lab", "_identities"), ("lab", "_node_runs")} <= set(paths)
    assert node.computed_path == ("lab", "_computed", "node", node.pipeline_path[2])


def test_failed_packets_are_recorded_failed_and_the_async_orchestrator_records_the_same() -> None:
    database = InMemoryArrowDatabase()
    os.environ["ORCAPOD_TEST_EXPLAIN_FAIL"] = "2"
    try:
        pipeline, result = _run(database, _xs(1, 2, 3), flaky, orchestrator="async")
    finally:
        del os.environ["ORCAPOD_TEST_EXPLAIN_FAIL"]
    assert (result.nodes["node"].computed, result.nodes["node"].failed) == (2, 1)
    computed = computed_packets(database.get_all_records(pipeline.nodes["node"].computed_path))
    outcomes = dict(zip(computed["id"].to_pylist(), computed["__outcome"].to_pylist(), strict=True))
    assert outcomes == {0: "computed", 1: "failed", 2: "computed"}
    explanation = pipeline.explain("node")
    assert (explanation.computed, explanation.failed) == (2, 1)


# -- the reasons --------------------------------------------------------------------


def test_a_first_run_computes_new_tags_and_a_cached_run_computes_nothing() -> None:
    database = InMemoryArrowDatabase()
    pipeline, first = _run(database, _xs(1, 2, 3), scale)
    explanation = pipeline.explain("node")
    assert explanation.run_id == first.run_id
    assert explanation.previous_run_id is None
    assert explanation.moved == ()
    assert explanation.reasons == (("new tag", 3),)
    assert (explanation.computed, explanation.failed) == (3, 0)
    assert explanation.packets.column_names == ["id", "__outcome", "__reason"]
    assert "no earlier run of this node is recorded" in str(explanation)
    assert "3  new tag" in str(explanation)

    pipeline, second = _run(database, _xs(1, 2, 3), scale)
    explanation = pipeline.explain("node")
    assert explanation.run_id == second.run_id
    assert explanation.previous_run_id == first.run_id
    assert explanation.reasons == ()
    assert explanation.computed == 0
    assert "nothing was computed" in str(explanation)


def test_an_edited_row_is_input_changed_naming_its_column_and_an_added_row_a_new_tag() -> None:
    database = InMemoryArrowDatabase()
    _run(database, _xs(1, 2, 3), scale)
    pipeline, result = _run(database, [*_xs(1, 20, 3), {"id": 3, "x": 4}], scale)
    assert result.nodes["node"].computed == 2
    explanation = pipeline.explain("node")
    assert _reasons(explanation) == {"input changed: column `x`": 1, "new tag": 1}
    assert _by_tag(explanation) == {1: "input changed: column `x`", 3: "new tag"}
    assert explanation.moved == ()  # the same node version: the same table


def test_input_changed_names_exactly_the_columns_that_changed() -> None:
    database = InMemoryArrowDatabase()
    rows = [{"id": i, "x": i, "z": 0} for i in range(4)]
    _run(database, rows, add)
    rows[1] = {"id": 1, "x": 1, "z": 5}
    rows[2] = {"id": 2, "x": 7, "z": 5}
    rows[3] = {"id": 3, "x": 9, "z": 0}
    pipeline, _ = _run(database, rows, add)
    explanation = pipeline.explain("node")
    assert _by_tag(explanation) == {
        1: "input changed: column `z`",
        2: "input changed: columns `x`, `z`",
        3: "input changed: column `x`",
    }


def test_a_packet_that_failed_before_is_earlier_attempt_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = InMemoryArrowDatabase()
    monkeypatch.setenv("ORCAPOD_TEST_EXPLAIN_FAIL", "2")
    _, first = _run(database, _xs(1, 2, 3), flaky)
    assert first.nodes["node"].failed == 1
    monkeypatch.delenv("ORCAPOD_TEST_EXPLAIN_FAIL")
    pipeline, second = _run(database, _xs(1, 2, 3), flaky)
    assert second.nodes["node"].computed == 1
    explanation = pipeline.explain("node")
    assert explanation.reasons == (("earlier attempt failed", 1),)
    assert _by_tag(explanation) == {1: "earlier attempt failed"}
    # The first run, asked by its id, still says why it computed what it did.
    earlier = pipeline.explain("node", run_id=first.run_id)
    assert (earlier.computed, earlier.failed) == (2, 1)
    assert earlier.reasons == (("new tag", 3),)
    assert _by_tag(earlier) == {0: "new tag", 1: "new tag", 2: "new tag"}
    outcomes = {row["id"]: row["__outcome"] for row in earlier.packets.to_pylist()}
    assert outcomes == {0: "computed", 1: "failed", 2: "computed"}


def _without_results(database: InMemoryArrowDatabase) -> InMemoryArrowDatabase:
    """A copy of ``database`` without its results tables: as if they were deleted."""
    copy = InMemoryArrowDatabase()
    for path in database.list_paths():
        if path[0] == "_results":
            continue
        table = database.get_all_records(path, record_id_column="__id")
        copy.add_records(path, table, "__id")
    return copy


def test_a_packet_whose_stored_result_is_gone_is_stored_result_missing() -> None:
    database = InMemoryArrowDatabase()
    _run(database, _xs(1, 2), scale)
    database = _without_results(database)
    pipeline, result = _run(database, _xs(1, 2, 3), scale)
    assert result.nodes["node"].computed == 3
    explanation = pipeline.explain("node")
    assert _reasons(explanation) == {"stored result missing": 2, "new tag": 1}


def test_a_version_bump_moves_the_table_and_names_the_version_for_every_packet() -> None:
    database = InMemoryArrowDatabase()
    _, first = _run(database, _xs(1, 2), scale)
    pipeline, _ = _run(database, _xs(1, 5, 3), scale_v1)
    explanation = pipeline.explain("node")
    assert explanation.previous_run_id == first.run_id
    assert explanation.moved == ("function changed", "version v0 → v1")
    assert _by_tag(explanation) == {
        0: "version v0 → v1",
        1: "version v0 → v1; input changed: column `x`",
        2: "new tag",
    }
    assert sorted(explanation.reasons) == [
        ("new tag", 1),
        ("version v0 → v1", 1),
        ("version v0 → v1; input changed: column `x`", 1),
    ]
    text = str(explanation)
    assert "its table moved since the previous run" in text
    assert "version v0 → v1" in text


def test_an_edited_body_is_function_changed_naming_the_function() -> None:
    database = InMemoryArrowDatabase()
    _run(database, _xs(1, 2), scale)
    pipeline, _ = _run(database, _xs(1, 2), scale_edited)
    explanation = pipeline.explain("node")
    assert explanation.moved == ("function changed", "function changed: body of `scale`")
    assert explanation.reasons == (("function changed: body of `scale`", 2),)


def test_a_table_moved_by_its_upstream_says_which_upstream_and_why() -> None:
    database = InMemoryArrowDatabase()
    _run(database, _xs(1, 2), scale, then=double)
    pipeline, result = _run(database, _xs(1, 2), scale_v1, then=double)
    # The upstream's results are computed again and are the same: nothing downstream is.
    assert result.nodes["after"].computed == 0
    explanation = pipeline.explain("after")
    assert explanation.moved == ("upstream `node` changed: version v0 → v1",)
    assert explanation.reasons == ()
    pipeline, _ = _run(database, _xs(1, 2), scale_edited, then=double)
    assert pipeline.explain("after").moved == (
        "upstream `node` changed: version v1 → v0",
        "upstream `node` changed: function changed: body of `scale`",
    )


def test_a_tag_first_seen_through_the_cache_is_compared_with_the_nodes_records() -> None:
    database = InMemoryArrowDatabase()
    other = Pipeline("other", database)  # computes the results the lab pipeline then finds
    with other:
        scale.pod(DictSource(_xs(1, 2), tag_columns=["id"], source_id="rows"), label="node")
    other.run()
    _, first = _run(database, _xs(1, 2), scale)
    assert first.nodes["node"].cached == 2
    pipeline, _ = _run(database, _xs(1, 7), scale)
    assert _by_tag(pipeline.explain("node")) == {1: "input changed: column `x`"}


def test_an_input_that_came_back_is_compared_with_the_run_that_found_it_stored() -> None:
    """x: 1, then 2, then 1 again (found stored): a version bump after it is the only
    reason, not "input changed" against the run that computed 2."""
    database = InMemoryArrowDatabase()
    _run(database, _xs(1), scale)
    _run(database, _xs(2), scale)
    _, third = _run(database, _xs(1), scale)
    assert third.nodes["node"].cached == 1
    pipeline, _ = _run(database, _xs(1), scale_v1)
    assert _reasons(pipeline.explain("node")) == {"version v0 → v1": 1}


def test_a_result_only_ever_found_stored_and_then_lost_is_stored_result_missing() -> None:
    database = InMemoryArrowDatabase()
    _run(database, _xs(1), scale)
    _run(database, _xs(2), scale)
    _run(database, _xs(1), scale)  # found stored
    database = _without_results(database)
    pipeline, _ = _run(database, _xs(1), scale)
    assert _reasons(pipeline.explain("node")) == {"stored result missing": 1}


def test_an_older_run_is_explained_without_what_later_runs_recorded() -> None:
    database = InMemoryArrowDatabase()
    _, first = _run(database, _xs(1), scale)
    pipeline, _ = _run(database, _xs(2), scale)
    assert _reasons(pipeline.explain("node", first.run_id)) == {"new tag": 1}
    assert _reasons(pipeline.explain("node")) == {"input changed: column `x`": 1}


def test_a_stream_without_tags_tells_packets_apart_by_their_input() -> None:
    database = InMemoryArrowDatabase()

    def run(xs: list[int]) -> Pipeline:
        pipeline = Pipeline("lab", database)
        with pipeline:
            scale.pod(DictSource([{"x": x} for x in xs], tag_columns=[]), label="node")
        pipeline.run()
        return pipeline

    assert run([1, 2]).explain("node").reasons == (("new packet", 2),)
    explanation = run([1, 5]).explain("node")
    assert explanation.reasons == (("new packet", 1),)
    assert explanation.packets.column_names == ["__outcome", "__reason"]
    assert "e.g." not in str(explanation)


def test_the_text_report_shows_counts_and_example_tags() -> None:
    database = InMemoryArrowDatabase()
    _run(database, _xs(*range(5)), scale)
    pipeline, _ = _run(database, _xs(*range(10, 20)), scale)
    text = str(pipeline.explain("node"))
    assert "10 packet(s) computed, 0 failed" in text
    assert " 5  input changed: column `x`" in text
    assert " 5  new tag" in text
    assert "e.g. (id=0), (id=1), (id=2) and 2 more" in text


def test_to_dict_is_plain_data() -> None:
    database = InMemoryArrowDatabase()
    pipeline, result = _run(database, _xs(1), scale)
    data = pipeline.explain("node").to_dict()
    assert data["run_id"] == result.run_id
    assert data["reasons"] == [{"reason": "new tag", "count": 1}]
    assert data["packets"] == [{"tags": {"id": 0}, "outcome": "computed", "reason": "new tag"}]
    assert "packets" not in pipeline.explain("node").to_dict(packets=False)


def test_explain_reads_only_the_store() -> None:
    database = InMemoryArrowDatabase()
    _run(database, _xs(1), scale)
    _, second = _run(database, _xs(2), scale)
    explanation = explain(database, "lab", "node")
    assert explanation.run_id == second.run_id
    assert explanation.reasons == (("input changed: column `x`", 1),)


# -- what cannot be explained ---------------------------------------------------------


def test_unknown_pipeline_node_and_run_are_errors_naming_what_is_recorded() -> None:
    database = InMemoryArrowDatabase()
    pipeline, result = _run(database, _xs(1, 2), scale)
    with pytest.raises(ExplainError, match=r"no function-node runs of pipeline 'nope'.*'lab'"):
        explain(database, "nope", "node")
    with pytest.raises(ExplainError, match=r"no run of a function node 'other'.*'node'"):
        pipeline.explain("other")
    with pytest.raises(ExplainError, match=rf"run 'r-1' did not run node 'node'.*{result.run_id}"):
        pipeline.explain("node", run_id="r-1")


def test_an_operator_node_is_named_as_such() -> None:
    database = InMemoryArrowDatabase()
    pipeline = Pipeline("lab", database)
    with pipeline:
        stream = scale.pod(DictSource(_xs(1, 2), tag_columns=["id"]), label="node")
        Filter(pc.field("y") > 10, label="big")(stream)
    pipeline.run()
    with pytest.raises(ExplainError, match=r"'big'; it has stored rows, so it is an operator"):
        pipeline.explain("big")


# -- what the function depends on -------------------------------------------------------

_MODULES = itertools.count()


def _load(directory: Path, source: str) -> ModuleType:
    """Import ``source`` as a fresh module from a file of its own (as a later process would)."""
    name = f"orcapod_explain_steps_{next(_MODULES)}"
    path = directory / f"{name}.py"
    path.write_text("from orcapod.core import function_pod\n" + textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


STEPS = """
K = {k}


def helper(x):
    return {helper}


@function_pod(output_keys="y", name="scale")
def scale(x: int) -> int:
    return x * K + helper(x)
"""


def test_an_edited_global_is_named_with_its_old_and_new_value(tmp_path: Path) -> None:
    database = InMemoryArrowDatabase()
    _run(database, _xs(1, 2), _load(tmp_path, STEPS.format(k=10, helper="0")).scale)
    pipeline, result = _run(
        database, _xs(1, 2), _load(tmp_path, STEPS.format(k=20, helper="0")).scale
    )
    assert result.nodes["node"].computed == 2
    explanation = pipeline.explain("node")
    assert explanation.moved == ("function changed", "global `K`: 10 → 20")
    assert explanation.reasons == (("global `K`: 10 → 20", 2),)


def test_an_edited_helper_is_named_as_a_changed_helper(tmp_path: Path) -> None:
    database = InMemoryArrowDatabase()
    _run(database, _xs(1, 2), _load(tmp_path, STEPS.format(k=10, helper="0")).scale)
    edited = _load(tmp_path, STEPS.format(k=10, helper="100"))
    pipeline, _ = _run(database, _xs(1, 2), edited.scale)
    [helper] = [d for d in edited.scale.pod.packet_function.code_dependencies if d.name == "helper"]
    explanation = pipeline.explain("node")
    assert explanation.moved == (
        "function changed",
        f"function changed: helper `helper` ({helper.shown})",
    )
    assert explanation.reasons == ((f"function changed: helper `helper` ({helper.shown})", 2),)


def test_closure_values_are_named_and_a_new_dependency_is_said_to_be_new(tmp_path: Path) -> None:
    module = _load(
        tmp_path,
        """
        def make(k):
            @function_pod(output_keys="y", name="scale")
            def scale(x: int) -> int:
                return x * k
            return scale
        """,
    )
    database = InMemoryArrowDatabase()
    _run(database, _xs(1), module.make(2))
    pipeline, _ = _run(database, _xs(1), module.make(3))
    assert pipeline.explain("node").reasons == (("closure `k`: 2 → 3", 1),)
    pipeline, _ = _run(database, _xs(1), _load(tmp_path, STEPS.format(k=1, helper="0")).scale)
    assert pipeline.explain("node").moved == (
        "function changed",
        "function changed: body of `scale`",
        "new dependency `K`",
        "new dependency `helper`",
        "dependency `k` removed",
    )


class _CountingDatabase(InMemoryArrowDatabase):
    """Counts the writes to each path."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: Counter[tuple[str, ...]] = Counter()

    def add_records(self, path: Any, records: Any, *args: Any, **kwargs: Any) -> None:
        self.writes[tuple(path)] += 1
        super().add_records(path, records, *args, **kwargs)


def test_a_run_records_its_nodes_in_one_write_per_table_however_many_nodes() -> None:
    """A write per node would be a commit per node on a store like Delta."""
    database = _CountingDatabase()
    source = DictSource(_xs(1, 2), tag_columns=["id"], source_id="rows")
    pipeline = Pipeline("lab", database)
    with pipeline:
        for index in range(5):
            scale.pod(source, label=f"scale{index}")
    pipeline.run()
    assert database.writes[("lab", "_node_runs")] == 1
    assert database.writes[("lab", "_identities")] == 1
    assert database.get_all_records(("lab", "_node_runs")).num_rows == 5


def test_a_run_id_already_recorded_is_refused_and_nothing_is_written() -> None:
    database = InMemoryArrowDatabase()
    pipeline, first = _run(database, _xs(1, 2), scale)
    before = database.get_all_records(("lab", "_node_runs")).num_rows
    with pytest.raises(OrcapodError, match=rf"run id '{first.run_id}' is already recorded"):
        pipeline.run(run_id=first.run_id)
    assert database.get_all_records(("lab", "_node_runs")).num_rows == before
    assert pipeline.run(run_id="a-new-one").run_id == "a-new-one"


def test_tags_named_like_the_report_and_nan_tags_stay_apart_and_valid_json() -> None:
    import json

    database = InMemoryArrowDatabase()
    rows = [{"reason": "a", "outcome": float("nan"), "x": 1}]
    pipeline = Pipeline("lab", database)
    with pipeline:
        scale.pod(DictSource(rows, tag_columns=["reason", "outcome"], source_id="r"), label="n")
    pipeline.run()
    explanation = pipeline.explain("n")
    assert explanation.packets.column_names == ["reason", "outcome", "__outcome", "__reason"]
    text = json.dumps(explanation.to_dict(), allow_nan=False)  # strict JSON
    [packet] = json.loads(text)["packets"]
    assert packet == {
        "tags": {"reason": "a", "outcome": "nan"},
        "outcome": "computed",
        "reason": "new tag",
    }

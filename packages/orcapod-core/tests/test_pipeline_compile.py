"""Pipeline compilation: recorded calls become labelled nodes in topological order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow.compute as pc
import pytest

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.errors import InvalidRecordPathError, OrcapodError, SchemaError
from orcapod.core.executors import LocalExecutor
from orcapod.core.function_pods import FunctionPod, PythonPacketFunction, function_pod
from orcapod.core.operators import Filter, Join
from orcapod.core.pipeline import FunctionNode, OperatorNode, Pipeline, SourceNode
from orcapod.core.sources import DictSource, ListSource

if TYPE_CHECKING:
    from orcapod.protocols.pods import PacketFunction


@function_pod(output_keys="y")
def double(x: int) -> int:
    return 2 * x


@function_pod(output_keys="z")
def increment(y: int) -> int:
    return y + 1


def triple(x: int) -> int:
    return 3 * x


class PickyExecutor:
    """An executor that runs no function at all."""

    executor_type = "picky"

    def supports(self, packet_function: PacketFunction) -> bool:
        return False


def _source() -> DictSource:
    return DictSource(
        [{"id": "a", "x": 1}, {"id": "b", "x": 2}], tag_columns=["id"], source_id="subjects"
    )


def _weights() -> DictSource:
    return DictSource(
        [{"id": "a", "w": 0.5}, {"id": "b", "w": 1.5}], tag_columns=["id"], source_id="weights"
    )


def test_calls_inside_the_block_become_nodes_in_topological_order() -> None:
    source, weights = _source(), _weights()
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        doubled = double.pod(source)
        joined = Join()(doubled, weights)
        kept = Filter(pc.field("y") > 2)(joined)
        increment.pod(kept)

    assert list(pipeline.nodes) == ["subjects", "double", "weights", "join", "filter", "increment"]
    kinds = {label: type(node) for label, node in pipeline.nodes.items()}
    assert kinds == {
        "subjects": SourceNode,
        "double": FunctionNode,
        "weights": SourceNode,
        "join": OperatorNode,
        "filter": OperatorNode,
        "increment": FunctionNode,
    }
    nodes = pipeline.nodes
    assert nodes["double"].upstreams == (nodes["subjects"],)
    assert nodes["join"].upstreams == (nodes["double"], nodes["weights"])
    assert nodes["filter"].upstreams == (nodes["join"],)
    assert nodes["increment"].upstreams == (nodes["filter"],)
    position = {label: index for index, label in enumerate(nodes)}
    for node in nodes.values():
        assert all(position[up.label] < position[node.label] for up in node.upstreams)
    assert nodes["join"].stream is joined


def test_a_given_label_is_used_as_the_node_label() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        doubled = double.pod(_source(), label="twice")
        Filter(pc.field("y") > 0, label="positive")(doubled)
    assert list(pipeline.nodes) == ["subjects", "twice", "positive"]


def test_derived_labels_come_from_function_name_operator_kind_and_source_id() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        Join()(double.pod(_source()), _weights())
    assert set(pipeline.nodes) == {"subjects", "double", "weights", "join"}


def test_a_source_without_source_id_is_labelled_by_its_derived_source_id() -> None:
    source = ListSource([1, 2], packet_column="x")
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        double.pod(source)
    assert list(pipeline.nodes) == [source.source_id, "double"]
    assert source.source_id.startswith("list-")


def test_derived_duplicate_labels_are_numbered() -> None:
    source = _source()
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        double.pod(source)
        double.pod(source)
        double.pod(source)
    assert list(pipeline.nodes) == ["subjects", "double", "double_2", "double_3"]
    assert all(isinstance(pipeline.nodes[f], FunctionNode) for f in ("double_2", "double_3"))


def test_two_identical_given_labels_are_refused() -> None:
    source, database = _source(), InMemoryArrowDatabase()

    def record_twice() -> None:
        with Pipeline("demo", database):
            double.pod(source, label="twice")
            double.pod(source, label="twice")

    with pytest.raises(SchemaError, match="labelled 'twice'"):
        record_twice()


@pytest.mark.parametrize("name", ["a/b", "..", "", "a\x00b", "it's"])
def test_an_invalid_pipeline_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidRecordPathError):
        Pipeline(name, InMemoryArrowDatabase())


@pytest.mark.parametrize("label", ["a/b", "..", "x\x00"])
def test_an_invalid_node_label_is_refused(label: str) -> None:
    source = _source()
    with pytest.raises(InvalidRecordPathError), Pipeline("demo", InMemoryArrowDatabase()):
        double.pod(source, label=label)


def test_pipeline_path_is_name_label_and_pipeline_hash_without_colons() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        doubled = double.pod(_source(), label="twice")
    node = pipeline.nodes["twice"]
    assert ":" in doubled.pipeline_hash()
    assert node.node_hash == doubled.pipeline_hash()
    assert node.pipeline_path == ("demo", "twice", doubled.pipeline_hash().replace(":", "-"))
    assert all(":" not in part for node in pipeline.nodes.values() for part in node.pipeline_path)
    assert pipeline.nodes["subjects"].pipeline_path[:2] == ("demo", "subjects")


def test_nodes_are_reached_by_key_and_by_attribute() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        double.pod(_source(), label="twice")
    assert pipeline.twice is pipeline.nodes["twice"]
    assert pipeline.subjects is pipeline.nodes["subjects"]
    with pytest.raises(AttributeError, match="nope"):
        _ = pipeline.nope


def test_function_nodes_without_an_executor_get_a_local_executor() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        double.pod(_source())
    assert double.pod.executor is None  # the pod itself is left alone
    node = pipeline.nodes["double"]
    assert isinstance(node, FunctionNode)
    assert isinstance(node.executor, LocalExecutor)
    assert node.executor.capture == "sys"


def test_a_pod_with_its_own_executor_keeps_it() -> None:
    own = LocalExecutor(capture="fd")
    pod = FunctionPod(PythonPacketFunction(triple, "t"))
    pod.executor = own
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        pod(_source())
    node = pipeline.nodes["triple"]
    assert isinstance(node, FunctionNode)
    assert node.executor is own


def test_a_node_executor_can_be_replaced() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        double.pod(_source())
    node = pipeline.nodes["double"]
    assert isinstance(node, FunctionNode)
    replacement = LocalExecutor(capture="fd")
    node.executor = replacement
    assert node.executor is replacement
    node.executor = None
    assert node.executor is None


def test_an_executor_that_cannot_run_the_function_is_refused() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        double.pod(_source())
    node = pipeline.nodes["double"]
    assert isinstance(node, FunctionNode)
    before = node.executor
    with pytest.raises(TypeError, match="double"):
        node.executor = PickyExecutor()  # type: ignore[assignment]
    assert node.executor is before


def test_streams_made_outside_the_block_become_source_nodes() -> None:
    outside = double.pod(_source(), label="made_outside")
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        increment.pod(outside)
    assert list(pipeline.nodes) == ["made_outside", "increment"]
    node = pipeline.nodes["made_outside"]
    assert isinstance(node, SourceNode)
    assert node.upstreams == ()
    assert pipeline.nodes["increment"].upstreams == (node,)


def test_calls_outside_any_pipeline_are_not_recorded() -> None:
    source = _source()
    double.pod(source, label="before")
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        double.pod(source, label="inside")
    double.pod(source, label="after")
    assert list(pipeline.nodes) == ["subjects", "inside"]
    pipeline.compile()
    assert list(pipeline.nodes) == ["subjects", "inside"]


def test_an_exception_inside_the_block_compiles_nothing_and_stops_recording() -> None:
    source = _source()
    pipeline = Pipeline("demo", InMemoryArrowDatabase())

    def record_then_fail() -> None:
        with pipeline:
            double.pod(source)
            raise RuntimeError("user code failed")

    with pytest.raises(RuntimeError, match="user code"):
        record_then_fail()
    assert pipeline.nodes == {}
    other = Pipeline("other", InMemoryArrowDatabase())
    double.pod(source)  # not inside any block now: recorded nowhere
    with other:
        increment.pod(double.pod(source))
    assert list(other.nodes) == ["subjects", "double", "increment"]
    with pytest.raises(OrcapodError, match="no nodes"):
        pipeline.run()


def test_running_an_empty_pipeline_is_an_error() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        pass
    with pytest.raises(OrcapodError, match="no nodes"):
        pipeline.run()


def test_a_pipeline_cannot_record_twice_at_once() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline, pytest.raises(OrcapodError, match="already recording"), pipeline:
        pass

"""Function pods: declaration, identity, schema checks, lazy application and per-packet errors."""

from __future__ import annotations

import importlib.util
import textwrap
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.datagrams import Packet
from orcapod.core.errors import (
    FunctionDeclarationError,
    HashingError,
    ReturnValueError,
    SchemaError,
    UnsupportedTypeError,
)
from orcapod.core.function_pods import (
    FunctionPod,
    FunctionPodStream,
    PythonPacketFunction,
    ResultCache,
    function_pod,
)
from orcapod.core.function_pods._packet_function import accepts
from orcapod.core.sources import ArrowTableSource, DictSource, ListSource
from orcapod.core.system_columns import PROVENANCE
from orcapod.core.types import Schema, normalize_type

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

BATCH_ROWS = 8192  # FunctionPod processes rows in batches of this many


class Widget:
    """A class orcapod has no column type for."""


# module-level state read by functions whose code must stay the same between runs
FAILING_VALUES: set[int] = set()
CALLS: list[int] = []


@function_pod(output_keys="y")
def twice_plus_one(x: int) -> int:
    CALLS.append(x)
    return x * 2 + 1


@function_pod(output_keys="y")
def fails_on_flagged(x: int) -> int:
    CALLS.append(x)
    if x in FAILING_VALUES:
        raise KeyError(f"no calibration for {x}")
    return x * 10


@pytest.fixture(autouse=True)
def _reset_module_state() -> None:
    FAILING_VALUES.clear()
    CALLS.clear()


def _import_module(tmp_path: Path, name: str, source: str) -> ModuleType:
    """Write ``source`` to ``tmp_path/name.py`` and import it under a unique name."""
    file = tmp_path / f"{name}.py"
    file.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(f"orcapod_test_{tmp_path.name}_{name}", file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# declaration ----------------------------------------------------------------


def test_decorated_function_stays_callable_and_gains_a_pod() -> None:
    @function_pod(output_keys="total", version="v3", label="adder")
    def add(x: int, y: int) -> int:
        return x + y

    assert add(2, 3) == 5
    assert add(x=4, y=1) == 5
    assert isinstance(add.pod, FunctionPod)
    assert add.pod.label == "adder"
    function = add.pod.packet_function
    assert function.name == "add"
    assert function.version == "v3"
    assert function.output_keys == ("total",)
    assert function.input_schema() == Schema(x=int, y=int)
    assert function.output_schema() == Schema(total=int)


def test_tuple_outputs_declare_one_column_per_key_in_order() -> None:
    @function_pod(output_keys=["count", "label"])
    def describe(x: int) -> tuple[int, str]:
        return x, f"n{x}"

    assert describe.pod.packet_function.output_schema() == Schema(count=int, label=str)
    table = describe.pod(ListSource([1, 2], "x")).as_table()
    assert table.column_names == ["index", "count", "label"]
    assert table.column("count").to_pylist() == [1, 2]
    assert table.column("label").to_pylist() == ["n1", "n2"]


def test_call_returns_the_output_packet_of_a_packet() -> None:
    function = PythonPacketFunction(lambda_free_double, "y")
    out = function.call(Packet.from_dict({"x": 21}))
    assert isinstance(out, Packet)
    assert out.as_dict() == {"y": 42}


def lambda_free_double(x: int) -> int:
    return 2 * x


def test_parameter_without_annotation_is_refused_naming_it() -> None:
    def f(x, y: int) -> int:  # type: ignore[no-untyped-def]
        return y

    with pytest.raises(FunctionDeclarationError, match=r"function 'f': parameter 'x' has no type"):
        PythonPacketFunction(f, "y")


def test_missing_return_annotation_is_refused() -> None:
    def f(x: int):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(FunctionDeclarationError, match=r"function 'f' has no return annotation"):
        PythonPacketFunction(f, "y")


@pytest.mark.parametrize(
    ("kind", "source_kind"),
    [("args", "variadic positional"), ("kwargs", "variadic keyword")],
)
def test_variadic_parameters_are_refused(kind: str, source_kind: str) -> None:
    def with_args(x: int, *args: int) -> int:
        return x

    def with_kwargs(x: int, **kwargs: int) -> int:
        return x

    fn = with_args if kind == "args" else with_kwargs
    with pytest.raises(
        FunctionDeclarationError, match=rf"parameter '{kind}' is {source_kind}.*named parameters"
    ):
        PythonPacketFunction(fn, "y")


def test_positional_only_parameter_is_refused() -> None:
    def f(x: int, /) -> int:
        return x

    with pytest.raises(FunctionDeclarationError, match=r"parameter 'x' is positional-only"):
        function_pod(output_keys="y")(f)


def test_object_annotation_is_an_unsupported_type_naming_the_parameter() -> None:
    def f(blob: object) -> int:
        return 1

    with pytest.raises(
        UnsupportedTypeError, match=r"object is not a supported type for parameter 'blob'"
    ) as info:
        PythonPacketFunction(f, "y")
    assert "function 'f'" in str(info.value)


def test_custom_class_annotation_is_an_unsupported_type_naming_parameter_and_class() -> None:
    def f(x: int, gadget: Widget) -> int:
        return x

    with pytest.raises(
        UnsupportedTypeError, match=r"Widget is not a supported type for parameter 'gadget'"
    ):
        PythonPacketFunction(f, "y")


def test_unsupported_return_annotation_is_refused() -> None:
    def f(x: int) -> Widget:
        return Widget()

    with pytest.raises(UnsupportedTypeError, match=r"Widget.*return annotation of function 'f'"):
        PythonPacketFunction(f, "y")


@pytest.mark.parametrize("keys", [["a", "b"], ["a", "b", "c", "d"]])
def test_return_annotation_must_have_one_type_per_output_key(keys: list[str]) -> None:
    def f(x: int) -> tuple[int, int, int]:
        return x, x, x

    with pytest.raises(
        FunctionDeclarationError,
        match=rf"declares {len(keys)} output keys .* tuple\[\.\.\.\] of {len(keys)} types",
    ):
        PythonPacketFunction(f, keys)


def test_several_output_keys_need_a_tuple_annotation() -> None:
    def f(x: int) -> int:
        return x

    with pytest.raises(FunctionDeclarationError, match=r"2 output keys \['a', 'b'\]"):
        PythonPacketFunction(f, ["a", "b"])


def test_empty_output_keys_are_refused() -> None:
    def f(x: int) -> int:
        return x

    with pytest.raises(FunctionDeclarationError, match=r"function 'f' declares no output_keys"):
        PythonPacketFunction(f, [])


def test_output_key_with_system_prefix_is_refused() -> None:
    def f(x: int) -> int:
        return x

    with pytest.raises(FunctionDeclarationError, match=r"output key '__y' starts with '__'"):
        PythonPacketFunction(f, "__y")


def test_duplicate_output_keys_are_refused() -> None:
    def f(x: int) -> tuple[int, int]:
        return x, x

    with pytest.raises(FunctionDeclarationError, match=r"output_keys \('a', 'a'\) repeat a name"):
        PythonPacketFunction(f, ["a", "a"])


def _annotated_lambda() -> Any:
    lambdas = [lambda x: x + 1]
    fn = lambdas[0]
    fn.__annotations__ = {"x": int, "return": int}
    return fn


def test_lambda_is_refused_without_code_identity() -> None:
    with pytest.raises(HashingError, match=r"lambda.*code_identity"):
        PythonPacketFunction(_annotated_lambda(), "y")


def test_lambda_with_code_identity_is_accepted_and_identified_by_it() -> None:
    first = PythonPacketFunction(_annotated_lambda(), "y", code_identity="plus-one")
    again = PythonPacketFunction(_annotated_lambda(), "y", code_identity="plus-one")
    other = PythonPacketFunction(_annotated_lambda(), "y", code_identity="plus-one-v2")
    assert first.call(Packet.from_dict({"x": 1})).as_dict() == {"y": 2}
    assert first.content_hash() == again.content_hash()
    assert first.content_hash() != other.content_hash()
    table = FunctionPod(first)(ListSource([1, 5], "x")).as_table()
    assert table.column("y").to_pylist() == [2, 6]


# identity -------------------------------------------------------------------

BASE = """
from orcapod.core.function_pods import function_pod

@function_pod(output_keys="y")
def f(x: int) -> int:
    return x + 1
"""


def _identity(tmp_path: Path, name: str, source: str) -> str:
    module = _import_module(tmp_path, name, source)
    identity: str = module.f.pod.content_hash()
    return identity


def test_identity_is_stable_for_the_same_code(tmp_path: Path) -> None:
    assert _identity(tmp_path, "a", BASE) == _identity(tmp_path, "b", BASE)


def test_identity_ignores_comments_docstrings_and_whitespace(tmp_path: Path) -> None:
    reformatted = '''
    from orcapod.core.function_pods import function_pod

    # a comment before
    @function_pod(output_keys="y")
    def f(
        x: int,
    ) -> int:
        """Add one; the docstring is not part of the identity."""
        # explain the arithmetic
        return (x   +   1)  # trailing comment
    '''
    assert _identity(tmp_path, "base", BASE) == _identity(tmp_path, "reformatted", reformatted)


def test_identity_changes_when_the_body_changes(tmp_path: Path) -> None:
    changed = BASE.replace("x + 1", "x + 2")
    assert changed != BASE
    assert _identity(tmp_path, "base", BASE) != _identity(tmp_path, "changed", changed)


def test_identity_changes_when_the_version_changes(tmp_path: Path) -> None:
    bumped = BASE.replace('output_keys="y"', 'output_keys="y", version="v1"')
    assert _identity(tmp_path, "base", BASE) != _identity(tmp_path, "bumped", bumped)


def test_identity_changes_when_output_keys_change(tmp_path: Path) -> None:
    renamed = BASE.replace('output_keys="y"', 'output_keys="z"')
    assert _identity(tmp_path, "base", BASE) != _identity(tmp_path, "renamed", renamed)


def test_identity_changes_when_a_type_changes(tmp_path: Path) -> None:
    as_float = BASE.replace("-> int", "-> float")
    param_float = BASE.replace("x: int", "x: float")
    hashes = {
        _identity(tmp_path, "base", BASE),
        _identity(tmp_path, "as_float", as_float),
        _identity(tmp_path, "param_float", param_float),
    }
    assert len(hashes) == 3


def test_identity_of_a_pod_is_its_function_identity() -> None:
    function = twice_plus_one.pod.packet_function
    assert twice_plus_one.pod.content_hash() == function.content_hash()
    assert function.content_hash().startswith("orcapod-v1-sha256:")


# schema checks at application time -----------------------------------------


def test_parameter_without_column_fails_when_applied_naming_function_and_column() -> None:
    @function_pod(output_keys="y")
    def scale(x: int, factor: int) -> int:
        return x * factor

    with pytest.raises(
        SchemaError,
        match=r"function 'scale' has parameter 'factor' \(int\).*no column 'factor'",
    ):
        scale.pod(ListSource([1, 2], "x"))


def test_column_of_wrong_type_fails_when_applied_naming_function_column_and_types() -> None:
    @function_pod(output_keys="y")
    def scale(x: int) -> int:
        return x

    with pytest.raises(
        SchemaError, match=r"function 'scale' parameter 'x' is int but column 'x' is str"
    ):
        scale.pod(ListSource(["a", "b"], "x"))


def test_float_parameter_accepts_an_int_column() -> None:
    @function_pod(output_keys="half")
    def halve(x: float) -> float:
        return x / 2

    table = halve.pod(ListSource([1, 3], "x")).as_table()
    assert table.column("half").to_pylist() == [0.5, 1.5]
    assert table.schema.field("half").type == pa.float64()


def test_optional_parameter_accepts_a_plain_column() -> None:
    @function_pod(output_keys="y")
    def maybe(x: int | None) -> int:
        return -1 if x is None else x

    assert maybe.pod(ListSource([4, 5], "x")).as_table().column("y").to_pylist() == [4, 5]


def test_optional_parameter_receives_nulls_of_an_optional_column() -> None:
    @function_pod(output_keys="y")
    def maybe(x: int | None) -> int:
        return -1 if x is None else x

    source = ListSource([4, None, 6], "x", value_type=int | None)
    assert maybe.pod(source).as_table().column("y").to_pylist() == [4, -1, 6]


def test_optional_column_is_refused_for_a_plain_parameter() -> None:
    @function_pod(output_keys="y")
    def strict(x: int) -> int:
        return x

    source = ListSource([4, None], "x", value_type=int | None)
    with pytest.raises(SchemaError, match=r"parameter 'x' is int but column 'x' is int \| None"):
        strict.pod(source)


def test_accepts_follows_the_numeric_tower_and_optionality() -> None:
    def fits(parameter: Any, column: Any) -> bool:
        return accepts(normalize_type(parameter), normalize_type(column))

    assert fits(float, int)
    assert not fits(int, float)
    assert fits(int | None, int)
    assert not fits(int, int | None)
    assert fits(list[float], list[int])
    assert not fits(list[int], list[str])
    assert fits(dict[str, int | None], dict[str, int])
    assert not fits(dict[str, int], dict[str, int | None])


def test_parameter_with_default_needs_no_column() -> None:
    @function_pod(output_keys="y")
    def shift(x: int, offset: int = 100) -> int:
        return x + offset

    assert shift.pod(ListSource([1, 2], "x")).as_table().column("y").to_pylist() == [101, 102]


def test_column_overrides_a_parameter_default() -> None:
    @function_pod(output_keys="y")
    def shift(x: int, offset: int = 100) -> int:
        return x + offset

    source = DictSource([{"id": "a", "x": 1, "offset": 5}], tag_columns="id")
    assert shift.pod(source).as_table().column("y").to_pylist() == [6]


def test_output_key_that_is_a_tag_column_is_refused() -> None:
    @function_pod(output_keys="index")
    def clash(x: int) -> int:
        return x

    with pytest.raises(SchemaError, match=r"output key 'index' is also a tag column"):
        clash.pod(ListSource([1], "x"))


@pytest.mark.parametrize("count", [0, 2])
def test_pod_takes_exactly_one_input_stream(count: int) -> None:
    streams = [ListSource([1], "x") for _ in range(count)]
    with pytest.raises(SchemaError, match=rf"exactly one input stream, got {count}"):
        twice_plus_one.pod(*streams)


# lazy application -----------------------------------------------------------


def test_nothing_runs_until_the_stream_is_read() -> None:
    stream = twice_plus_one.pod(ListSource([1, 2, 3], "x"))
    assert isinstance(stream, FunctionPodStream)
    assert stream.output_schema() == (Schema(index=int), Schema(y=int))
    assert stream.keys() == (("index",), ("y",))
    assert CALLS == []
    table = stream.as_table()
    assert CALLS == [1, 2, 3]
    assert table.column("y").to_pylist() == [3, 5, 7]


def test_reading_a_stream_twice_computes_once() -> None:
    stream = twice_plus_one.pod(ListSource([1, 2], "x"))
    first = stream.as_table()
    second = stream.as_table()
    assert CALLS == [1, 2]
    assert first.equals(second)


def test_iter_packets_yields_tags_and_output_packets() -> None:
    source = DictSource(
        [{"subject": "s1", "x": 4}, {"subject": "s2", "x": 9}], tag_columns="subject"
    )
    rows = [(tag["subject"], packet.as_dict()) for tag, packet in twice_plus_one.pod(source)]
    assert rows == [("s1", {"y": 9}), ("s2", {"y": 19})]


def test_tags_and_provenance_pass_through() -> None:
    source = DictSource(
        [{"subject": "s1", "trial": 1, "x": 4}, {"subject": "s2", "trial": 7, "x": 9}],
        tag_columns=["subject", "trial"],
        source_id="trials",
    )
    out = twice_plus_one.pod(source).as_table(include_system_columns=True)
    given_ = source.as_table(include_system_columns=True)
    assert out.column_names == ["subject", "trial", "y", PROVENANCE]
    assert out.column("subject").equals(given_.column("subject"))
    assert out.column("trial").equals(given_.column("trial"))
    assert out.column(PROVENANCE).to_pylist() == given_.column(PROVENANCE).to_pylist()
    assert out.column(PROVENANCE).to_pylist() == [["trials:0"], ["trials:1"]]
    assert out.column("y").to_pylist() == [9, 19]


def test_user_table_hides_system_columns() -> None:
    out = twice_plus_one.pod(ListSource([1], "x")).as_table()
    assert out.column_names == ["index", "y"]


def test_two_pods_chain() -> None:
    @function_pod(output_keys="label")
    def name_it(y: int) -> str:
        return f"v{y}"

    source = ListSource([0, 10, 20], "x", source_id="chain")
    stream = name_it.pod(twice_plus_one.pod(source))
    assert stream.output_schema() == (Schema(index=int), Schema(label=str))
    table = stream.as_table(include_system_columns=True)
    assert table.column("label").to_pylist() == ["v1", "v21", "v41"]
    assert table.column("index").to_pylist() == [0, 1, 2]
    assert table.column(PROVENANCE).to_pylist() == [["chain:0"], ["chain:1"], ["chain:2"]]


def test_arrow_table_source_input_with_string_tags() -> None:
    @function_pod(output_keys=["scaled", "big"])
    def scale(dose: float, weight: float) -> tuple[float, bool]:
        return dose * weight, dose * weight > 10

    table = pa.table(
        {
            "subject": ["a", "b", "c"],
            "dose": [1.0, 2.5, 4.0],
            "weight": [2.0, 4.0, 3.0],
        }
    )
    out = scale.pod(ArrowTableSource(table, "subject")).as_table()
    assert out.column("subject").to_pylist() == ["a", "b", "c"]
    assert out.column("scaled").to_pylist() == [2.0, 10.0, 12.0]
    assert out.column("big").to_pylist() == [False, False, True]


def test_empty_source_gives_an_empty_stream_with_the_output_schema() -> None:
    out = twice_plus_one.pod(ListSource([], "x", value_type=int)).as_table()
    assert out.num_rows == 0
    assert out.column_names == ["index", "y"]
    assert out.schema.field("y").type == pa.int64()
    assert CALLS == []


def test_datetime_output_keeps_its_instant() -> None:
    @function_pod(output_keys="at")
    def stamp(x: int) -> datetime:
        return datetime.fromtimestamp(x, UTC)

    out = stamp.pod(ListSource([0, 86_400], "x")).as_table()
    values = out.column("at").to_pylist()
    assert values == [datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 2, tzinfo=UTC)]


def test_many_rows_past_a_batch_with_partly_cached_packets_keep_row_order() -> None:
    n = 2 * BATCH_ROWS + 500
    values = [(i * 7919) % 12_000 for i in range(n)]  # repeats within and across batches
    database = InMemoryArrowDatabase()
    pod = FunctionPod(twice_plus_one.pod.packet_function, result_cache=ResultCache(database))
    precomputed = sorted({v for v in values if v % 3 == 0})
    pod(ListSource(precomputed, "x")).as_table()
    assert sorted(CALLS) == precomputed
    CALLS.clear()

    source = ListSource(values, "x")
    out = pod(source).as_table()

    assert out.num_rows == n
    assert out.column("index").to_pylist() == list(range(n))
    assert out.column("y").to_pylist() == [v * 2 + 1 for v in values]
    # each distinct uncached packet is computed exactly once, across batches too
    assert sorted(CALLS) == sorted({v for v in values if v % 3 != 0})


def test_many_rows_without_cache_keep_row_order() -> None:
    n = BATCH_ROWS + 10
    values = [(i * 31) % 1000 for i in range(n)]
    out = twice_plus_one.pod(ListSource(values, "x")).as_table()
    assert out.column("index").to_pylist() == list(range(n))
    assert out.column("y").to_pylist() == [v * 2 + 1 for v in values]


# per-packet errors ----------------------------------------------------------


def test_wrong_arity_fails_the_packet_naming_tag_and_expected_types() -> None:
    @function_pod(output_keys=["a", "b"])
    def pair(x: int) -> tuple[int, str]:
        return (x, str(x), "extra")  # type: ignore[return-value]

    stream = pair.pod(DictSource([{"sample": "s-17", "x": 3}], tag_columns="sample"))
    with pytest.raises(ReturnValueError) as info:
        stream.as_table()
    message = str(info.value)
    assert "'sample': 's-17'" in message
    assert "a: int, b: str" in message
    assert "got 3 values" in message


def test_non_tuple_for_several_keys_fails_naming_its_type() -> None:
    @function_pod(output_keys=["a", "b"])
    def pair(x: int) -> tuple[int, str]:
        return x  # type: ignore[return-value]

    with pytest.raises(ReturnValueError, match=r"tuple of 2 values .*got int.*'index': 0"):
        pair.pod(ListSource([5], "x")).as_table()


def test_wrong_value_type_fails_naming_tag_expected_and_actual_type() -> None:
    @function_pod(output_keys="y")
    def bad(x: int) -> int:
        return "text" if x == 2 else x  # type: ignore[return-value]

    with pytest.raises(ReturnValueError) as info:
        bad.pod(ListSource([1, 2, 3], "x")).as_table()
    message = str(info.value)
    assert "function 'bad'" in message
    assert "output 'y' must be int" in message
    assert "got str 'text'" in message
    assert "'index': 1" in message


def test_wrong_value_type_through_process_packet_names_the_tag() -> None:
    @function_pod(output_keys="y")
    def bad(x: int) -> int:
        return "text"  # type: ignore[return-value]

    tag, packet = next(iter(DictSource([{"id": "r9", "x": 1}], tag_columns="id")))
    with pytest.raises(ReturnValueError, match=r"must be int, got str 'text'.*'id': 'r9'"):
        bad.pod.process_packet(tag, packet)


def test_user_exception_propagates_unchanged_with_a_note_naming_the_tag() -> None:
    FAILING_VALUES.add(30)
    source = DictSource([{"well": f"w{i}", "x": i * 10} for i in range(6)], tag_columns="well")
    with pytest.raises(KeyError) as info:
        fails_on_flagged.pod(source).as_table()
    assert type(info.value) is KeyError
    assert info.value.args == ("no calibration for 30",)
    notes = getattr(info.value, "__notes__", [])
    assert any("'fails_on_flagged'" in note and "'well': 'w3'" in note for note in notes)
    assert CALLS == [0, 10, 20, 30]  # stopped at the failure


def test_results_computed_before_a_failure_are_stored() -> None:
    FAILING_VALUES.add(3)
    database = InMemoryArrowDatabase()
    cache = ResultCache(database)
    function = fails_on_flagged.pod.packet_function
    pod = FunctionPod(function, result_cache=cache)
    source = ListSource([0, 1, 2, 3, 4], "x")

    with pytest.raises(KeyError):
        pod(source).as_table()
    assert CALLS == [0, 1, 2, 3]

    hashes = [packet.content_hash() for _, packet in source]
    lookup = cache.lookup_hashes(function, hashes)
    assert lookup.hits == [True, True, True, False, False]
    assert lookup.outputs.column("y").to_pylist()[:3] == [0, 10, 20]

    FAILING_VALUES.clear()  # same code, now it succeeds
    CALLS.clear()
    out = pod(source).as_table()
    assert CALLS == [3, 4]
    assert out.column("y").to_pylist() == [0, 10, 20, 30, 40]


def test_results_before_a_wrong_value_are_stored_and_the_misfit_is_not() -> None:
    @function_pod(output_keys="y")
    def bad(x: int) -> int:
        return "text" if x == 2 else x  # type: ignore[return-value]

    database = InMemoryArrowDatabase()
    cache = ResultCache(database)
    pod = FunctionPod(bad.pod.packet_function, result_cache=cache)
    source = ListSource([1, 2, 3], "x")
    with pytest.raises(ReturnValueError):
        pod(source).as_table()
    hashes = [packet.content_hash() for _, packet in source]
    assert cache.lookup_hashes(bad.pod.packet_function, hashes).hits == [True, False, True]


# property -------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=40))
def test_pod_output_equals_python_and_a_cached_rerun_computes_nothing(values: list[int]) -> None:
    CALLS.clear()
    pod = FunctionPod(
        twice_plus_one.pod.packet_function,
        result_cache=ResultCache(InMemoryArrowDatabase()),
    )
    source = ListSource(values, "x", value_type=int)
    first = pod(source).as_table()
    assert first.column("y").to_pylist() == [x * 2 + 1 for x in values]
    assert sorted(CALLS) == sorted(set(values))

    CALLS.clear()
    second = pod(ListSource(values, "x", value_type=int)).as_table()
    assert CALLS == []
    assert second.equals(first)

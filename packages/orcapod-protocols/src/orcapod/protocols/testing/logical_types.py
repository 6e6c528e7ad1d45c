"""The conformance suite every logical type a plugin provides passes.

A plugin author subclasses :class:`LogicalTypeContract`, sets ``__test__ =
True``, pins the type's name and gives sample values; every inherited test
then checks the type::

    from fractions import Fraction

    from orcapod.protocols.testing.logical_types import LogicalTypeContract

    class TestFraction(LogicalTypeContract):
        __test__ = True
        expected_name = "mylab.fraction"
        distribution = "mylab-orcapod"   # optional: the type comes from its entry point

        def make_logical_type(self):
            from mylab import FRACTION

            return FRACTION

        def sample_values(self):
            return [Fraction(0), Fraction(1, 3), Fraction(-7, 2), Fraction(10**30, 7)]

The suite needs pyarrow, pytest and hypothesis only, never orcapod-core: it
checks the type the way orcapod uses it (Arrow columns carrying the type's
name in field metadata, content identity from the identity fields) without
running orcapod's pipelines. What it cannot check without core (that a
function pod taking the class runs, caches and reads back from a store) is
worth one end-to-end test of your own.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pytest
from hypothesis import given, settings

from orcapod.protocols.logical_types import IDENTITY_KEY, LOGICAL_TYPE_KEY, LogicalTypeDefinition
from orcapod.protocols.testing.plugins import load_distribution_logical_types

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hypothesis.strategies import SearchStrategy

__all__ = ["LOGICAL_TYPE_KEY", "NAME_PATTERN", "LogicalTypeContract", "identity_key"]


NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_][a-z0-9_-]*)+")
"""A plugin's logical type name: lower-case, dot-separated, the first part naming the plugin."""

_RESERVED = frozenset({"path", "file", "directory"})


def _stored_type_problem(dtype: pa.DataType) -> str | None:
    """Why orcapod cannot store and hash ``dtype``, or ``None`` if it can."""
    types = pa.types
    if types.is_struct(dtype):
        children = [dtype.field(i) for i in range(dtype.num_fields)]
        names = [child.name for child in children]
        if len(set(names)) != len(names):
            return f"the struct {dtype} has two fields of one name"
        return next((p for c in children if (p := _stored_type_problem(c.type))), None)
    if types.is_map(dtype):
        return _stored_type_problem(dtype.key_type) or _stored_type_problem(dtype.item_type)
    if types.is_list(dtype) or types.is_large_list(dtype):
        return _stored_type_problem(dtype.value_type)
    if types.is_dictionary(dtype):
        return _stored_type_problem(dtype.value_type)
    simple = (
        types.is_null,
        types.is_boolean,
        types.is_integer,
        types.is_floating,
        types.is_string,
        types.is_large_string,
        types.is_binary,
        types.is_large_binary,
        types.is_date,
        types.is_timestamp,
    )
    if any(check(dtype) for check in simple):
        return None
    return (
        f"{dtype} is not a type orcapod stores and hashes; build the storage type of "
        "null, bool, integers, floats, (large) strings, (large) binary, date, timestamp, "
        "lists, maps and structs"
    )


def _canonical(value: Any, dtype: pa.DataType) -> Any:
    """``value`` (from ``to_pylist``) as orcapod's content hash sees it: comparable with ``==``.

    NaNs are one value and -0.0 is 0.0; map entries are unordered.
    """
    if value is None:
        return None
    types = pa.types
    if types.is_floating(dtype):
        return ("NaN",) if math.isnan(value) else float(value) + 0.0
    if types.is_struct(dtype):
        return tuple(
            (dtype.field(i).name, _canonical(value[dtype.field(i).name], dtype.field(i).type))
            for i in range(dtype.num_fields)
        )
    if types.is_map(dtype):
        entries = [
            (_canonical(k, dtype.key_type), _canonical(v, dtype.item_type)) for k, v in value
        ]
        return ("map", tuple(sorted(entries, key=repr)))
    if types.is_list(dtype) or types.is_large_list(dtype):
        return tuple(_canonical(item, dtype.value_type) for item in value)
    if types.is_dictionary(dtype):
        return _canonical(value, dtype.value_type)
    return value


def identity_key(definition: LogicalTypeDefinition, value: Any) -> Any:
    """What orcapod's content hash of ``value`` covers, as a comparable Python value.

    The value is converted with ``to_storage`` into an Arrow array of the
    storage type, narrowed to the identity fields (all of it when they are
    ``None``) and canonicalised as the hash canonicalises (one NaN, -0.0 as
    0.0, map entries unordered). Two values orcapod identifies alike have
    equal keys.
    """
    array = pa.array([definition.to_storage(value)], type=definition.storage_type)
    fields = definition.identity_fields
    if fields is not None:
        array = pa.StructArray.from_arrays(
            [array.field(name) for name in fields],
            fields=[definition.storage_type.field(name) for name in fields],
        )
    return _canonical(array.to_pylist()[0], array.type)


def _field_metadata(definition: LogicalTypeDefinition) -> dict[bytes, bytes]:
    metadata = {LOGICAL_TYPE_KEY: definition.name.encode()}
    if definition.identity_fields is not None:
        metadata[IDENTITY_KEY] = ",".join(definition.identity_fields).encode()
    return metadata


def _through_ipc(table: pa.Table) -> pa.Table:
    """``table`` written as an Arrow IPC stream and read back, as a store would keep it."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return pa.ipc.open_stream(sink.getvalue()).read_all()


class LogicalTypeContract:
    """What every logical type a plugin provides must do; subclass it and describe the type.

    Set ``__test__ = True``, ``expected_name`` (the name, pinned: a renamed type
    changes the hash of all data holding it) and override
    :meth:`make_logical_type` and :meth:`sample_values`. Override the other
    methods to say more: values identified alike (:meth:`same_identity`),
    values that must be told apart (:meth:`distinct_values`), values
    ``to_storage`` must refuse (:meth:`refused_values`), a hypothesis strategy
    of values (:meth:`value_strategy`), how to compare a restored value with
    the original (:meth:`assert_same_value`). Set ``distribution`` to check
    that the installed distribution's entry point provides the type.
    """

    __test__: ClassVar[bool] = False
    expected_name: ClassVar[str] = ""
    """The type's name, as stored in field metadata; the suite checks it is this one."""
    distribution: ClassVar[str | None] = None
    """The distribution whose ``orcapod`` entry point provides the type, if checked."""
    property_examples: ClassVar[int] = 50

    # -- what the author supplies -------------------------------------------------

    def make_logical_type(self) -> LogicalTypeDefinition:
        """The logical type under test (a ``LogicalTypeSpec``, as the hook returns it)."""
        raise NotImplementedError(
            f"{type(self).__name__} must override make_logical_type() to return the logical "
            "type under test"
        )

    def sample_values(self) -> Sequence[Any]:
        """At least two values of the class, as varied as the type allows (edge cases too)."""
        raise NotImplementedError(
            f"{type(self).__name__} must override sample_values() to return values of the "
            "logical type's class"
        )

    def same_identity(self) -> Sequence[Sequence[Any]]:
        """Groups of values orcapod must identify alike (beyond values that are ``==``).

        For a type whose identity fields leave something out: two ``File`` values
        of one content at different paths, say.
        """
        return []

    def distinct_values(self) -> Sequence[Any]:
        """Values of which any two that are not ``==`` must be identified apart.

        By default the sample values; narrow it for a type whose identity
        deliberately leaves out a part that makes values unequal.
        """
        return self.sample_values()

    def refused_values(self) -> Sequence[Any]:
        """Values ``to_storage`` must refuse with ``TypeError`` or ``ValueError``."""
        return []

    def value_strategy(self) -> SearchStrategy[Any] | None:
        """A hypothesis strategy of values for a property test of the round trip, if any."""
        return None

    def assert_same_value(self, original: Any, restored: Any) -> None:
        """Fail unless ``restored`` (read back from storage) is the value ``original``.

        By default: the same class and ``==``. Override for a class whose ``==``
        is not a plain bool (a numpy array, a pandas DataFrame).
        """
        assert type(restored) is type(original), (
            f"{original!r} came back as a {type(restored).__qualname__}, "
            f"not a {type(original).__qualname__}"
        )
        assert restored == original, f"{original!r} came back as {restored!r}"

    # -- fixtures -----------------------------------------------------------------

    @pytest.fixture
    def logical_type(self) -> LogicalTypeDefinition:
        """The type under test."""
        return self.make_logical_type()

    @pytest.fixture
    def samples(self) -> list[Any]:
        """The sample values; at least two."""
        values = list(self.sample_values())
        assert len(values) >= 2, "sample_values() must give at least two values"
        return values

    # -- the definition -----------------------------------------------------------

    def test_it_has_every_attribute_of_a_logical_type(
        self, logical_type: LogicalTypeDefinition
    ) -> None:
        assert isinstance(logical_type, LogicalTypeDefinition), (
            f"{logical_type!r} lacks some of name, python_class, storage_type, to_storage, "
            "from_storage, identity_fields and description"
        )
        assert isinstance(logical_type.python_class, type), "python_class must be a class"
        assert isinstance(logical_type.storage_type, pa.DataType), (
            f"storage_type must be a pyarrow DataType, not {logical_type.storage_type!r}"
        )
        assert callable(logical_type.to_storage), "to_storage must be callable"
        assert callable(logical_type.from_storage), "from_storage must be callable"
        description = logical_type.description
        assert isinstance(description, str), "description must be a str"
        assert "\n" not in description, "description must be one line (orcapod plugins shows it)"

    def test_the_name_is_namespaced(self, logical_type: LogicalTypeDefinition) -> None:
        name = logical_type.name
        assert isinstance(name, str), f"the name must be a str, not {name!r}"
        assert NAME_PATTERN.fullmatch(name), (
            f"logical type name {name!r} is not namespaced: write it lower-case and "
            "dot-separated, its first part naming your plugin, e.g. 'mylab.fraction'"
        )
        assert name not in _RESERVED

    def test_the_name_is_the_pinned_one_and_stable(
        self, logical_type: LogicalTypeDefinition
    ) -> None:
        assert self.expected_name, (
            f"set {type(self).__name__}.expected_name to the type's name, so that renaming "
            "it (which changes the hash of every stored value) fails this test"
        )
        assert logical_type.name == self.expected_name, (
            f"the logical type is named {logical_type.name!r}, not {self.expected_name!r}"
        )
        again = self.make_logical_type()
        made_twice = [
            (t.name, t.python_class, t.storage_type, t.identity_fields)
            for t in (logical_type, again)
        ]
        assert made_twice[0] == made_twice[1], (
            "make_logical_type() gave two different types; name, class, storage type and "
            "identity fields must not change between calls or processes"
        )

    def test_the_storage_type_is_one_orcapod_stores_and_hashes(
        self, logical_type: LogicalTypeDefinition
    ) -> None:
        problem = _stored_type_problem(logical_type.storage_type)
        assert problem is None, f"storage type {logical_type.storage_type}: {problem}"

    def test_identity_fields_name_distinct_fields_of_the_struct_storage_type(
        self, logical_type: LogicalTypeDefinition
    ) -> None:
        fields = logical_type.identity_fields
        if fields is None:
            return
        storage = logical_type.storage_type
        assert isinstance(fields, tuple), (
            f"identity_fields must be a tuple of field names or None, not {fields!r}"
        )
        assert fields, "identity_fields must name at least one field (or be None for all)"
        assert all(isinstance(f, str) for f in fields), f"identity_fields {fields!r}"
        assert len(set(fields)) == len(fields), f"identity_fields {fields!r} repeat a field"
        assert pa.types.is_struct(storage), (
            f"identity_fields {fields!r} need a struct storage type, not {storage}"
        )
        names = {storage.field(i).name for i in range(storage.num_fields)}
        missing = [f for f in fields if f not in names]
        assert not missing, f"identity_fields {missing} are not fields of {storage}"

    # -- values -------------------------------------------------------------------

    def test_sample_values_are_of_the_class(
        self, logical_type: LogicalTypeDefinition, samples: list[Any]
    ) -> None:
        for value in samples:
            assert isinstance(value, logical_type.python_class), (
                f"sample {value!r} is not a {logical_type.python_class.__qualname__}"
            )

    def test_every_value_converts_to_the_storage_type(
        self, logical_type: LogicalTypeDefinition, samples: list[Any]
    ) -> None:
        for value in samples:
            stored = logical_type.to_storage(value)
            try:
                array = pa.array([stored], type=logical_type.storage_type)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as error:
                pytest.fail(
                    f"to_storage({value!r}) gave {stored!r}, which is no "
                    f"{logical_type.storage_type}: {error}"
                )
            assert array.type == logical_type.storage_type
            array.validate(full=True)

    def test_every_value_round_trips_through_an_arrow_column(
        self, logical_type: LogicalTypeDefinition, samples: list[Any]
    ) -> None:
        self._check_round_trip(logical_type, samples)

    def test_a_restored_value_is_identified_as_the_original(
        self, logical_type: LogicalTypeDefinition, samples: list[Any]
    ) -> None:
        for value in samples:
            stored = pa.array([logical_type.to_storage(value)], type=logical_type.storage_type)
            restored = logical_type.from_storage(stored.to_pylist()[0])
            assert identity_key(logical_type, restored) == identity_key(logical_type, value), (
                f"{value!r}, stored and read back, is identified differently: a re-run would "
                "not find its cached results"
            )

    def test_conversion_is_deterministic(
        self, logical_type: LogicalTypeDefinition, samples: list[Any]
    ) -> None:
        for value in samples:
            assert identity_key(logical_type, value) == identity_key(logical_type, value), (
                f"to_storage({value!r}) gives a different identity each time"
            )

    def test_equal_values_are_identified_alike(
        self, logical_type: LogicalTypeDefinition, samples: list[Any]
    ) -> None:
        groups = [
            *([a, b] for a, b in itertools.combinations(samples, 2) if _equal(a, b)),
            *(list(group) for group in self.same_identity()),
        ]
        for group in groups:
            keys = [identity_key(logical_type, value) for value in group]
            assert all(key == keys[0] for key in keys), (
                f"values {group!r} must be identified alike, but their identity fields "
                f"differ: {keys!r}"
            )

    def test_distinct_values_are_identified_apart(
        self, logical_type: LogicalTypeDefinition
    ) -> None:
        values = list(self.distinct_values())
        for a, b in itertools.combinations(values, 2):
            if _equal(a, b):
                continue
            assert identity_key(logical_type, a) != identity_key(logical_type, b), (
                f"{a!r} and {b!r} are different values but are identified alike: orcapod "
                "would take the results of one for the other; put what tells them apart in "
                "the identity fields (or narrow distinct_values())"
            )

    def test_refused_values_raise_type_or_value_error(
        self, logical_type: LogicalTypeDefinition
    ) -> None:
        for value in self.refused_values():
            with pytest.raises((TypeError, ValueError)):
                logical_type.to_storage(value)

    def test_property_values_round_trip(self, logical_type: LogicalTypeDefinition) -> None:
        strategy = self.value_strategy()
        if strategy is None:
            pytest.skip("value_strategy() gives no hypothesis strategy")

        @settings(max_examples=self.property_examples, deadline=None)
        @given(value=strategy)
        def round_trips(value: Any) -> None:
            self._check_round_trip(logical_type, [value])
            stored = pa.array([logical_type.to_storage(value)], type=logical_type.storage_type)
            restored = logical_type.from_storage(stored.to_pylist()[0])
            assert identity_key(logical_type, restored) == identity_key(logical_type, value)

        round_trips()

    # -- the plugin ---------------------------------------------------------------

    def test_the_distribution_provides_this_type(self, logical_type: LogicalTypeDefinition) -> None:
        if self.distribution is None:
            pytest.skip("distribution is not set")
        provided = load_distribution_logical_types(self.distribution)
        assert logical_type.name in provided, (
            f"{self.distribution}'s orcapod_logical_types gives {sorted(provided)}, "
            f"not {logical_type.name!r}"
        )
        hooked = provided[logical_type.name]
        assert (hooked.python_class, hooked.storage_type, hooked.identity_fields) == (
            logical_type.python_class,
            logical_type.storage_type,
            logical_type.identity_fields,
        ), "the entry point provides another type of this name than make_logical_type()"

    # -- helpers ------------------------------------------------------------------

    def _check_round_trip(self, logical_type: LogicalTypeDefinition, values: list[Any]) -> None:
        """Value -> storage -> Arrow column (with its metadata, through IPC) -> storage -> value."""
        field = pa.field("value", logical_type.storage_type, metadata=_field_metadata(logical_type))
        column = pa.array(
            [logical_type.to_storage(value) for value in values], type=logical_type.storage_type
        )
        table = _through_ipc(pa.Table.from_arrays([column], schema=pa.schema([field])))
        assert table.schema.field("value").equals(field, check_metadata=True)
        for original, stored in zip(values, table.column("value").to_pylist(), strict=True):
            self.assert_same_value(original, logical_type.from_storage(stored))


def _equal(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):  # an == that is no plain bool (arrays, frames)
        return False

"""LogicalTypeContract: a sound type passes it, and each kind of unsound type fails it, saying why.

Runs without orcapod-core, as a plugin author's tests would.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from hypothesis import strategies as st

from orcapod.protocols import LogicalTypeDefinition, LogicalTypeSpec
from orcapod.protocols.testing import LogicalTypeContract
from orcapod.protocols.testing.logical_types import identity_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hypothesis.strategies import SearchStrategy


@dataclass(frozen=True)
class Point:
    x: int
    y: int
    label: str = ""
    """A name for people; not part of a point's identity."""


def _point_to_storage(value: Any) -> dict[str, Any]:
    if not isinstance(value, Point):
        raise TypeError(f"expected a Point, got {type(value).__name__}")
    return {"x": value.x, "y": value.y, "label": value.label}


POINT = LogicalTypeSpec(
    name="geometry.point",
    python_class=Point,
    storage_type=pa.struct([("x", pa.int64()), ("y", pa.int64()), ("label", pa.large_string())]),
    to_storage=_point_to_storage,
    from_storage=lambda stored: Point(**stored),
    identity_fields=["x", "y"],  # type: ignore[arg-type]  # a list is kept as a tuple
    description="a point of the integer plane",
)


class TestPointPassesTheContract(LogicalTypeContract):
    __test__ = True
    expected_name = "geometry.point"

    def make_logical_type(self) -> LogicalTypeDefinition:
        return POINT

    def sample_values(self) -> Sequence[Any]:
        return [Point(0, 0), Point(-(2**63), 2**63 - 1), Point(3, 4, "corner")]

    def same_identity(self) -> Sequence[Sequence[Any]]:
        return [[Point(1, 2), Point(1, 2, "a"), Point(1, 2, "b")]]

    def distinct_values(self) -> Sequence[Any]:
        return [Point(0, 0), Point(0, 1), Point(1, 0)]

    def refused_values(self) -> Sequence[Any]:
        return [(1, 2), None, "1,2"]

    def value_strategy(self) -> SearchStrategy[Any]:
        coordinate = st.integers(-(2**63), 2**63 - 1)
        return st.builds(Point, coordinate, coordinate, st.text())


def test_a_list_of_identity_fields_is_kept_as_a_tuple() -> None:
    assert POINT.identity_fields == ("x", "y")
    assert isinstance(POINT, LogicalTypeDefinition)


def test_identity_key_covers_only_the_identity_fields() -> None:
    assert identity_key(POINT, Point(1, 2, "a")) == identity_key(POINT, Point(1, 2, "b"))
    assert identity_key(POINT, Point(1, 2)) != identity_key(POINT, Point(2, 1))


def test_identity_key_sees_nan_as_one_value_and_negative_zero_as_zero() -> None:
    number = LogicalTypeSpec("t.number", float, pa.float64(), float, float)
    assert identity_key(number, float("nan")) == identity_key(number, -float("nan"))
    assert identity_key(number, -0.0) == identity_key(number, 0.0)


# -- unsound types fail, each for its reason ------------------------------------------


class _Decimals(LogicalTypeContract):
    """A contract of ``Decimal`` stored as text; variants below break one rule each."""

    expected_name = "money.decimal"
    logical: LogicalTypeSpec = LogicalTypeSpec(
        name="money.decimal",
        python_class=Decimal,
        storage_type=pa.large_string(),
        to_storage=lambda d: str(d.normalize()),
        from_storage=Decimal,
    )
    samples: tuple[Any, ...] = (Decimal("1.5"), Decimal("-2"), Decimal("1e-30"))

    def make_logical_type(self) -> LogicalTypeDefinition:
        return self.logical

    def sample_values(self) -> Sequence[Any]:
        return self.samples


def _failure(contract: LogicalTypeContract, test: str) -> str:
    """The message of the AssertionError (or pytest failure) the contract's ``test`` raises."""
    logical = contract.make_logical_type()
    samples = list(contract.sample_values())
    method = getattr(contract, test)
    arguments = {"logical_type": logical, "samples": samples}
    names = method.__code__.co_varnames[1 : method.__code__.co_argcount]
    with pytest.raises((AssertionError, pytest.fail.Exception)) as caught:
        method(**{name: arguments[name] for name in names})
    return str(caught.value)


def _passes(contract: LogicalTypeContract, test: str) -> None:
    logical = contract.make_logical_type()
    method = getattr(contract, test)
    arguments = {"logical_type": logical, "samples": list(contract.sample_values())}
    names = method.__code__.co_varnames[1 : method.__code__.co_argcount]
    method(**{name: arguments[name] for name in names})


def _variant(**changes: Any) -> _Decimals:
    contract = _Decimals()
    for name, value in changes.items():
        setattr(contract, name, value)
    return contract


def test_the_sound_decimal_passes_what_its_variants_fail() -> None:
    sound = _Decimals()
    for test in [
        "test_it_has_every_attribute_of_a_logical_type",
        "test_the_name_is_namespaced",
        "test_the_name_is_the_pinned_one_and_stable",
        "test_the_storage_type_is_one_orcapod_stores_and_hashes",
        "test_every_value_converts_to_the_storage_type",
        "test_every_value_round_trips_through_an_arrow_column",
        "test_equal_values_are_identified_alike",
        "test_distinct_values_are_identified_apart",
        "test_conversion_is_deterministic",
    ]:
        _passes(sound, test)


def test_a_name_without_a_namespace_fails() -> None:
    contract = _variant(logical=dataclasses.replace(_Decimals.logical, name="decimal"))
    assert "is not namespaced" in _failure(contract, "test_the_name_is_namespaced")


def test_a_renamed_type_fails_against_the_pinned_name() -> None:
    contract = _variant(logical=dataclasses.replace(_Decimals.logical, name="money.dec"))
    message = _failure(contract, "test_the_name_is_the_pinned_one_and_stable")
    assert "named 'money.dec', not 'money.decimal'" in message


def test_an_unpinned_name_fails_asking_for_expected_name() -> None:
    contract = _variant(expected_name="")
    message = _failure(contract, "test_the_name_is_the_pinned_one_and_stable")
    assert "expected_name" in message


def test_a_storage_type_orcapod_cannot_hash_fails() -> None:
    contract = _variant(
        logical=dataclasses.replace(
            _Decimals.logical, storage_type=pa.decimal128(38, 10), to_storage=lambda d: d
        )
    )
    message = _failure(contract, "test_the_storage_type_is_one_orcapod_stores_and_hashes")
    assert "decimal128(38, 10) is not a type orcapod stores and hashes" in message


def test_identity_fields_that_are_no_fields_fail() -> None:
    contract = _variant(logical=dataclasses.replace(_Decimals.logical, identity_fields=("digits",)))
    message = _failure(
        contract, "test_identity_fields_name_distinct_fields_of_the_struct_storage_type"
    )
    assert "need a struct storage type" in message


def test_a_lossy_round_trip_fails() -> None:
    lossy = dataclasses.replace(
        _Decimals.logical,
        storage_type=pa.float64(),
        to_storage=float,
        from_storage=lambda f: Decimal(repr(f)),
    )
    contract = _variant(logical=lossy, samples=(Decimal("0.1"), Decimal("1e-400")))
    message = _failure(contract, "test_every_value_round_trips_through_an_arrow_column")
    assert "Decimal('1E-400') came back as Decimal('0.0')" in message


def test_a_value_restored_as_another_class_fails() -> None:
    contract = _variant(logical=dataclasses.replace(_Decimals.logical, from_storage=str))
    message = _failure(contract, "test_every_value_round_trips_through_an_arrow_column")
    assert "came back as a str, not a Decimal" in message


def test_storage_of_the_wrong_arrow_type_fails() -> None:
    contract = _variant(logical=dataclasses.replace(_Decimals.logical, to_storage=lambda d: d))
    message = _failure(contract, "test_every_value_converts_to_the_storage_type")
    assert "which is no large_string" in message


def test_equal_values_stored_differently_fail() -> None:
    unnormalized = dataclasses.replace(_Decimals.logical, to_storage=str)
    contract = _variant(logical=unnormalized, samples=(Decimal("1.0"), Decimal("1.00")))
    message = _failure(contract, "test_equal_values_are_identified_alike")
    assert "must be identified alike" in message


def test_different_values_identified_alike_fail() -> None:
    rounded = dataclasses.replace(_Decimals.logical, to_storage=lambda d: str(round(d)))
    contract = _variant(logical=rounded, samples=(Decimal("1.2"), Decimal("1.4")))
    message = _failure(contract, "test_distinct_values_are_identified_apart")
    assert "are different values but are identified alike" in message


def test_a_conversion_that_changes_each_time_fails() -> None:
    random = dataclasses.replace(_Decimals.logical, to_storage=lambda d: f"{d}:{uuid.uuid4()}")
    contract = _variant(logical=random)
    message = _failure(contract, "test_conversion_is_deterministic")
    assert "gives a different identity each time" in message


def test_a_value_to_storage_accepts_but_should_refuse_fails() -> None:
    class Refusing(_Decimals):
        def refused_values(self) -> Sequence[Any]:
            return [1.5]

    contract = Refusing()
    contract.logical = dataclasses.replace(_Decimals.logical, to_storage=str)
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        contract.test_refused_values_raise_type_or_value_error(contract.make_logical_type())

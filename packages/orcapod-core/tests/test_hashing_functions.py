"""A function's identity follows its code, not its comments, docstrings or formatting."""

from __future__ import annotations

import functools
import textwrap

import pyarrow as pa
import pytest

from orcapod.core.hashing import (
    HashingError,
    function_identity_hash,
    function_source_hash,
    hash_schema,
    source_code_hash,
)

BASE = '''
def normalise(values: list[float], *, scale: float = 1.0) -> list[float]:
    """Scale values so they sum to ``scale``."""
    total = sum(values)
    return [scale * v / total for v in values]
'''

SAME_CODE = {
    "comment": '''
def normalise(values: list[float], *, scale: float = 1.0) -> list[float]:
    """Scale values so they sum to ``scale``."""
    # the sum is never zero for our data
    total = sum(values)  # one pass
    return [scale * v / total for v in values]
''',
    "docstring": '''
def normalise(values: list[float], *, scale: float = 1.0) -> list[float]:
    """A completely different docstring.

    Spanning lines.
    """
    total = sum(values)
    return [scale * v / total for v in values]
''',
    "no docstring": """
def normalise(values: list[float], *, scale: float = 1.0) -> list[float]:
    total = sum(values)
    return [scale * v / total for v in values]
""",
    "formatting": """
def normalise(
    values: list[float],
    *,
    scale: float = 1.0,
) -> list[float]:

    total = sum(
        values
    )
    return [ scale*v/total
             for v in values ]
""",
    "indented and decorated": '''
    @functools.cache
    @other(version="2")
    def normalise(values: list[float], *, scale: float = 1.0) -> list[float]:
        """Scale values so they sum to ``scale``."""
        total = sum(values)
        return [scale * v / total for v in values]
''',
    "renamed function": '''
def rescale(values: list[float], *, scale: float = 1.0) -> list[float]:
    """Scale values so they sum to ``scale``."""
    total = sum(values)
    return [scale * v / total for v in values]
''',
}

DIFFERENT_CODE = {
    "body": BASE.replace("scale * v / total", "scale * v / (total + 1)"),
    "local variable": BASE.replace("total", "denominator"),
    "default": BASE.replace("scale: float = 1.0", "scale: float = 2.0"),
    "annotation": BASE.replace("-> list[float]", "-> list[int]"),
    "parameter": BASE.replace("*, scale", "scale"),
    "constant type": BASE.replace("1.0", "1"),
    "string constant": BASE.replace("sum(values)", 'sum(values, start=0) if "a" else 0'),
    "async": BASE.replace("def normalise", "async def normalise"),
}


@pytest.mark.parametrize("edit", sorted(SAME_CODE))
def test_edits_that_do_not_change_the_code_keep_the_source_hash(edit: str) -> None:
    assert source_code_hash(SAME_CODE[edit]) == source_code_hash(BASE)


@pytest.mark.parametrize("edit", sorted(DIFFERENT_CODE))
def test_edits_to_the_code_change_the_source_hash(edit: str) -> None:
    assert source_code_hash(DIFFERENT_CODE[edit]) != source_code_hash(BASE)


def test_docstrings_of_nested_functions_and_classes_are_ignored_but_their_code_is_not() -> None:
    outer = '''
def outer(x: int) -> int:
    def inner(y: int) -> int:
        """{doc}"""
        return y {op} 1

    class Helper:
        """{doc}"""

        def method(self) -> int:
            """{doc}"""
            return 2

    return inner(x) + Helper().method()
'''
    first = source_code_hash(outer.format(doc="first", op="+"))
    assert source_code_hash(outer.format(doc="second\n\n    words", op="+")) == first
    assert source_code_hash(outer.format(doc="first", op="-")) != first


def test_a_function_whose_body_is_only_a_docstring_differs_from_one_that_passes() -> None:
    only_doc = 'def f():\n    """Nothing."""\n'
    assert source_code_hash(only_doc) == source_code_hash('def f():\n    """Other."""\n')
    assert source_code_hash(only_doc) != source_code_hash("def f():\n    pass\n")


def scaled(values: list[float], scale: float = 1.0) -> list[float]:
    """Module-level function read back with inspect."""
    total = sum(values)
    return [scale * v / total for v in values]


def test_a_live_function_hashes_like_its_source_text_and_wrappers_are_unwrapped() -> None:
    text = textwrap.dedent(
        """
        def scaled(values: list[float], scale: float = 1.0) -> list[float]:
            total = sum(values)
            return [scale * v / total for v in values]
        """
    )
    cached = functools.lru_cache(scaled)
    assert function_source_hash(scaled) == source_code_hash(text)
    assert function_source_hash(cached) == source_code_hash(text)


def test_a_method_is_hashed_from_its_own_indented_source() -> None:
    class Pod:
        def run(self, x: int) -> int:
            return x * 2

    expected = source_code_hash("def run(self, x: int) -> int:\n    return x * 2\n")
    assert function_source_hash(Pod.run) == function_source_hash(Pod().run) == expected


def test_a_lambda_is_refused_with_the_way_out() -> None:
    with pytest.raises(HashingError, match=r"lambda.*code_identity"):
        function_source_hash(lambda x: x)


def test_a_builtin_without_source_is_refused_with_the_way_out() -> None:
    with pytest.raises(HashingError, match=r"cannot read the source of 'len'.*code_identity"):
        function_source_hash(len)


def test_source_that_is_not_a_single_def_is_refused() -> None:
    with pytest.raises(HashingError, match="not a single def"):
        source_code_hash("x = 1\n")
    with pytest.raises(HashingError, match="cannot parse"):
        source_code_hash("def broken(:\n")


SCHEMA_IN = hash_schema(pa.schema([("values", pa.large_list(pa.float64()))]))
SCHEMA_OUT = hash_schema(pa.schema([("scaled", pa.large_list(pa.float64()))]))


def identity(**overrides: object) -> str:
    arguments: dict[str, object] = {
        "name": "scaled",
        "version": "1.0",
        "input_schema_hash": SCHEMA_IN,
        "output_schema_hash": SCHEMA_OUT,
    }
    arguments.update(overrides)
    return function_identity_hash(scaled, **arguments)  # type: ignore[arg-type]


def test_function_identity_changes_with_each_of_its_parts() -> None:
    base = identity()
    assert identity() == base
    variants = [
        identity(name="other"),
        identity(version="1.1"),
        identity(input_schema_hash=SCHEMA_OUT),
        identity(output_schema_hash=SCHEMA_IN),
        identity(code_identity="scaled-v1"),
        identity(code_identity="scaled-v2"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_an_explicit_code_identity_replaces_reading_the_source() -> None:
    def of(fn: object, code: str) -> str:
        return function_identity_hash(
            fn,  # type: ignore[arg-type]
            name="f",
            version="1",
            input_schema_hash=SCHEMA_IN,
            output_schema_hash=SCHEMA_OUT,
            code_identity=code,
        )

    assert of(len, "builtins.len") == of(print, "builtins.len")
    assert of(len, "builtins.len") != of(len, "builtins.len v2")


def test_function_identity_rejects_a_schema_hash_that_is_not_a_hash() -> None:
    with pytest.raises(HashingError, match="input_schema_hash must be a rendered hash"):
        identity(input_schema_hash="values: list[float]")

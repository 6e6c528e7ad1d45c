"""Golden vectors: fixed inputs and the hashes they must keep forever.

If one of these fails, the encoding changed. Never update a digest here to
make a test pass: a changed encoding is a new method (``orcapod-v2-...``),
and every stored result keyed by the old hashes would silently be orphaned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import subprocess
import sys
import textwrap
import uuid
from decimal import Decimal
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.core.hashing import (
    Dependency,
    class_source_hash,
    combine_hashes,
    function_identity_hash,
    function_source_hash,
    hash_label,
    hash_schema,
    hash_table,
    hash_table_rows,
    hash_table_unordered,
    source_code_hash,
    value_hash,
)
from orcapod.core.hashing._functions import code_with_dependencies_hash

if TYPE_CHECKING:
    from pathlib import Path

PATH = {b"orcapod.logical_type": b"path"}
MAP = pa.map_(pa.large_string(), pa.int64())

# name -> (value, Arrow field of the single column "x", expected hex digest of the row)
ROWS: dict[str, tuple[Any, pa.Field, str]] = {
    "int": (
        42,
        pa.field("x", pa.int64()),
        "6f97c835addc3849d700a130e81003478de69fb07ebd9576505e4229ddc5867d",
    ),
    "int_minimum": (
        -(2**63),
        pa.field("x", pa.int64()),
        "a9b5fad89b2713162d888b2d4455931ff1bc8e234d9a9b8d62862cd4d7cc36e5",
    ),
    "float": (
        1.5,
        pa.field("x", pa.float64()),
        "376db2ce5c354304bc725d486b30292a7274289b50543225e5147bd4c7440489",
    ),
    "float_nan": (
        float("nan"),
        pa.field("x", pa.float64()),
        "9ed938118647f9b4b6272544c9b7efcd2d76f96867438a0bba5d61d200e1db49",
    ),
    "bool": (
        True,
        pa.field("x", pa.bool_()),
        "16714d62eadb0d17faaf6b8a22ae4074eb3f7152cfc06ad4b2d26db1156fca39",
    ),
    "str": (
        "héllo",
        pa.field("x", pa.large_string()),
        "0aad5dda0170a32a7b11d7d13bb6adc07995a7a8ad979568b4f63bf3ef9898d4",
    ),
    "str_as_small_string": (
        "héllo",
        pa.field("x", pa.string()),
        "0aad5dda0170a32a7b11d7d13bb6adc07995a7a8ad979568b4f63bf3ef9898d4",
    ),
    "str_empty": (
        "",
        pa.field("x", pa.large_string()),
        "ee833d40750ea67e9224aced97ee971d0f22b031fff5038f3ecefb3d4abf477d",
    ),
    "str_null": (
        None,
        pa.field("x", pa.large_string()),
        "0d9ada39662698d15ff9eaddaac6a180a320137b63d9480f278a1483dc3d9590",
    ),
    "path": (
        "data/a.csv",
        pa.field("x", pa.large_string(), metadata=PATH),
        "6b6ae7bcda5101d256e7c6c97d16c184c676cbada917acdeeaac0fb2b05327b6",
    ),
    "bytes": (
        b"\x00\xff",
        pa.field("x", pa.large_binary()),
        "50de7cd13ffb82fc553f866822bc677905719609c340925ee45a60a5864b1c6c",
    ),
    "date": (
        dt.date(2024, 2, 29),
        pa.field("x", pa.date32()),
        "8132f700674a113f634371e6e9233ceff7068e2d268c4def73d32c44ca58f67c",
    ),
    "date_as_date64": (
        dt.date(2024, 2, 29),
        pa.field("x", pa.date64()),
        "8132f700674a113f634371e6e9233ceff7068e2d268c4def73d32c44ca58f67c",
    ),
    "datetime_naive": (
        dt.datetime(2024, 2, 29, 13, 14, 15, 161718),
        pa.field("x", pa.timestamp("us")),
        "564d6c93aa16350465ab59296b7fd796f2401aa82e4304508cbaeb789a400af2",
    ),
    "datetime_utc": (
        dt.datetime(2024, 2, 29, 13, 14, 15, tzinfo=dt.UTC),
        pa.field("x", pa.timestamp("us", tz="UTC")),
        "575114e465fd54889b69c1517d4c1ad5bf024a7b4f95844b311e1d42864a356a",
    ),
    "datetime_utc_in_seconds": (
        dt.datetime(2024, 2, 29, 13, 14, 15, tzinfo=dt.UTC),
        pa.field("x", pa.timestamp("s", tz="UTC")),
        "575114e465fd54889b69c1517d4c1ad5bf024a7b4f95844b311e1d42864a356a",
    ),
    "list": (
        [1, None, 3],
        pa.field("x", pa.large_list(pa.int64())),
        "db9ac7b84d294015be13afff7497dcdbd0336bc3228f982043f82ea267a0e1c6",
    ),
    "list_empty": (
        [],
        pa.field("x", pa.large_list(pa.int64())),
        "c63d889f0e3a653ba55bb0ae25594c2a8d751b4d0897ef3214e7e2c944856e80",
    ),
    "map": (
        [("b", 2), ("a", 1)],
        pa.field("x", MAP),
        "e89ca5ce68f840a6deec49ba91837d6628ce0ff43a8eac6c4da3ca4e2966f6b0",
    ),
    "map_other_entry_order": (
        [("a", 1), ("b", 2)],
        pa.field("x", MAP),
        "e89ca5ce68f840a6deec49ba91837d6628ce0ff43a8eac6c4da3ca4e2966f6b0",
    ),
    "struct": (
        {"n": 1, "s": "a"},
        pa.field("x", pa.struct([("n", pa.int64()), ("s", pa.large_string())])),
        "91d003b0fdd9a1b1ef6261a943f9f9d16bbd8e16e05ea396b01c57d0c0e613b1",
    ),
    "nested": (
        [[("k", [1.0, None])]],
        pa.field("x", pa.large_list(pa.map_(pa.large_string(), pa.large_list(pa.float64())))),
        "e9be67469053dc2f3d6b47854f8aabb937c49089865f2696102129d47380561c",
    ),
}

SCHEMA = pa.schema(
    [
        pa.field("subject", pa.large_string(), nullable=False),
        pa.field("score", pa.float64()),
        pa.field("file", pa.large_string(), metadata=PATH),
        pa.field("labels", pa.map_(pa.large_string(), pa.large_string())),
        pa.field("when", pa.timestamp("us", tz="Europe/Paris")),
    ]
)
TABLE = pa.table({"i": [1, 2, 3], "s": ["a", None, "c"]})
SOURCE = '''
def add_one(x: int, *, step: int = 1) -> int:
    """Add ``step`` to ``x``."""
    total = x + step
    return total
'''


class GoldenColour(enum.Enum):
    RED = 1


@dataclasses.dataclass(frozen=True)
class GoldenPoint:
    """A point."""

    x: int
    y: float = 0.0  # a comment

    def norm(self) -> float:
        return abs(self.x) + abs(self.y)


PLAIN = {
    "b": [1, 2.5, None, True],
    "a": (b"\x00", "\u00e9", -0.0, float("nan"), 3 + 1j),
    "s": {3, 1, 2},
    "f": frozenset({"x"}),
}
OBJECTS = (
    GoldenColour.RED,
    GoldenPoint(1, 2.0),
    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.timedelta(days=1),
    Decimal("1.10"),
    PurePosixPath("/a/b"),
    uuid.UUID(int=1),
)

GOLDEN = {
    "schema": "orcapod-v1-sha256:d998a3e4e1a0f6232c14bff1d427334837f895ee73236063505ed56c61d08dcd",
    "empty_schema": (
        "orcapod-v1-sha256:7b6c62254c7bdce5023d2d350e267f9b88748567063f19c847f354cf5c1d6d65"
    ),
    "table": "orcapod-v1-sha256:ba164ff668d22ff4dc789861f8af6dd61ed0a8d758d0e67c81755fbd413ba8b0",
    "table_unordered": (
        "orcapod-v1-sha256:08122f989acdebc11de4e90354db45c4720c46dd2926f4f7019d703dec4475a4"
    ),
    "table_empty": (
        "orcapod-v1-sha256:c6db9b9c264877379dd326e23d43759a01e5b028b3af61abb5a71a4b691d0e8b"
    ),
    "combine": "orcapod-v1-sha256:1f7d8c6128288f396bb067d8f9e38f810a85d711f737a746eae18c3ec6322e55",
    "combine_nothing": (
        "orcapod-v1-sha256:e3db86324632d7f0230b915773c90b81141306c180d411ebd9ece917e4965f23"
    ),
    "label": "orcapod-v1-sha256:9f93b282ccb8b5fd6911e897ed7a64c5c266865df1c3366beab6dc8d30d056ca",
    "source": "orcapod-v1-sha256:2f1dadf97fb9e9dae45cbffe2723d1063e5f67ed0b849fbfbc557abb355adf55",
    "function": (
        "orcapod-v1-sha256:31080435b488431d6c86a541445a932c3c95986c22fd6320ce7329e61e88605c"
    ),
    "value_plain": (
        "orcapod-v1-sha256:b7ac4b84790f3f3ba9c73524a490710aaf3e3cbbf9e58b9c7c5ce658f558f2ca"
    ),
    "value_objects": (
        "orcapod-v1-sha256:066ad1aff50626da947c6b9d37d532e9a1c50909e9e366b8ec832e2adef524d9"
    ),
    "class_source": (
        "orcapod-v1-sha256:86230404f39861517fcd9926fe1ab91754a2d788d00b5cc51123d5a7ebf5bcfc"
    ),
    "code_with_dependencies": (
        "orcapod-v1-sha256:888632e9e78370e56ee6f49a7a941bb2a60b2a75e4b1f001c00d5a17cc658f33"
    ),
}
GOLDEN_DEPENDENT = (
    "orcapod-v1-sha256:f13e067da1510f865adeca974f1ff13cc940376c2399fff0d8db5c7e99579fbc"
)


def compute_golden() -> dict[str, str]:
    """Every non-row golden hash, computed afresh (also run in subprocesses below)."""
    x_schema = hash_schema(pa.schema([("x", pa.int64())]))
    total_schema = hash_schema(pa.schema([("total", pa.int64())]))
    return {
        "schema": hash_schema(SCHEMA),
        "empty_schema": hash_schema(pa.schema([])),
        "table": hash_table(TABLE),
        "table_unordered": hash_table_unordered(TABLE),
        "table_empty": hash_table(TABLE.slice(0, 0)),
        "combine": combine_hashes("pipeline-node", hash_schema(SCHEMA), hash_table(TABLE)),
        "combine_nothing": combine_hashes("empty"),
        "label": hash_label("source-id", "trials"),
        "source": source_code_hash(SOURCE),
        "value_plain": value_hash(PLAIN),
        "value_objects": value_hash(OBJECTS),
        "class_source": class_source_hash(GoldenPoint),
        "code_with_dependencies": code_with_dependencies_hash(
            source_code_hash(SOURCE),
            [
                Dependency("numpy", "distribution", value_hash(("numpy", "2.1.0")), "numpy 2.1.0"),
                Dependency("K", "global", value_hash(10), "10"),
            ],
        ),
        "function": function_identity_hash(
            print,
            name="add_one",
            version="1.0",
            input_schema_hash=x_schema,
            output_schema_hash=total_schema,
            code_identity="numpy.add",
        ),
    }


def compute_rows() -> dict[str, str]:
    return {
        name: hash_table_rows(pa.table([pa.array([value], f.type)], schema=pa.schema([f])))[0]
        for name, (value, f, _) in ROWS.items()
    }


@pytest.mark.parametrize("name", sorted(ROWS))
def test_row_hash_matches_its_golden_vector(name: str) -> None:
    value, field, expected = ROWS[name]
    table = pa.table([pa.array([value], field.type)], schema=pa.schema([field]))
    assert hash_table_rows(table) == [f"orcapod-v1-sha256:{expected}"]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_hash_matches_its_golden_vector(name: str) -> None:
    assert compute_golden()[name] == GOLDEN[name]


def test_function_source_hash_of_a_function_in_a_file_matches_its_golden_vector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "golden_add_one.py").write_text("import functools\n\n@functools.cache" + SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__("golden_add_one")
    assert function_source_hash(module.add_one) == GOLDEN["source"]


SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import test_hashing_golden as golden
    print(json.dumps({**golden.compute_golden(), **golden.compute_rows()}, sort_keys=True))
    """
)


def test_hashes_are_identical_in_fresh_processes_with_different_hash_seeds() -> None:
    here = os.path.dirname(__file__)
    expected = {**compute_golden(), **compute_rows()}
    for seed in ("0", "1", "4242", "random"):
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, here],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
            check=True,
        )
        assert json.loads(result.stdout) == expected, seed


def test_the_value_encoding_is_the_documented_bytes() -> None:
    """docs/identity.md, "Dependencies": an int is ``u8(2) || str(decimal digits)``."""
    import hashlib

    def text(value: str) -> bytes:
        return len(value.encode()).to_bytes(8, "little") + value.encode()

    message = text("orcapod-v1:value") + b"\x02" + text("10")
    assert value_hash(10) == f"orcapod-v1-sha256:{hashlib.sha256(message).hexdigest()}"
    nested = text("orcapod-v1:value") + b"\x07" + (2).to_bytes(8, "little")
    nested += b"\x00" + b"\x05" + text("a")
    assert value_hash((None, "a")) == f"orcapod-v1-sha256:{hashlib.sha256(nested).hexdigest()}"


DEPENDENT = """\
import functools
import math

from orcapod.core import function_pod

K = 10


def helper(x):
    \"\"\"Not part of the identity.\"\"\"
    return x + K  # nor is this comment


def scale(k):
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs) * k

        return wrapper

    return decorator


def make(offset):
    @function_pod("y", name="dependent", version="1.0")
    @scale(2)
    def dependent(x: int) -> float:
        return helper(x) + offset + math.floor(0.5)

    return dependent


dependent = make(3)
"""


def test_the_identity_of_a_function_with_dependencies_matches_its_golden_vector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A global, a helper, a closure, a decorator with an argument, the standard library."""
    (tmp_path / "golden_dependent.py").write_text(DEPENDENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__("golden_dependent")
    function = module.dependent.pod.packet_function
    assert sorted((d.name, d.kind, d.shown) for d in function.code_dependencies) == [
        ("K", "global", "10"),
        ("helper", "function", "body"),
        ("math", "stdlib", "math"),
        ("offset", "closure", "3"),
        ("scale.decorator.wrapper", "wrapper", "body"),
        ("scale.decorator.wrapper.k", "closure", "2"),
    ]
    assert function.content_hash() == GOLDEN_DEPENDENT


CLASSES_AND_DATA = """\
import collections, dataclasses, enum, functools, typing, math, re
from orcapod.core import function_pod

class Mode(enum.Enum):
    A = 1

@dataclasses.dataclass(frozen=True)
class Cal:
    gain: float
    def apply(self, x):
        return x * self.gain

class Range(typing.NamedTuple):
    lo: float
    hi: float

P = collections.namedtuple("P", "a b")
CAL = Cal(2.0)
R = Range(0.0, 1.0)
PAT = re.compile(r"\\d+")
TABLE = {"b": [1, 2.5], "a": frozenset({"x"})}

def helper(x):
    return x + len(TABLE)

@function_pod("y")
def f(x: float) -> float:
    return CAL.apply(helper(x)) + R.hi + P(1, 2).a + Mode.A.value + math.pi + bool(PAT.match("1"))
"""


def test_the_identity_of_a_function_reading_classes_and_data_matches_its_golden_vector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An enum, a frozen dataclass with a method, a typing.NamedTuple, a namedtuple, a
    regex and a dict: the same on Python 3.11, 3.12 and 3.13 (checked by hand on each;
    3.13 adds ``__replace__`` to dataclasses and namedtuples, machinery not identity)."""
    (tmp_path / "golden_classes.py").write_text(CLASSES_AND_DATA)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__("golden_classes")
    assert module.f.pod.content_hash() == (
        "orcapod-v1-sha256:6d7a05c61f8e7e154ed6d04ccabc4e8bfd65c3aca033a24e7165c96c7f6aedf9"
    )

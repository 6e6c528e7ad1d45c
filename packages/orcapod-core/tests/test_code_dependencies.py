"""A function's identity covers what its code depends on: closures, globals, helpers,
classes, modules, wrappers and distributions — and refuses what it cannot identify."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcapod.core.errors import FunctionDeclarationError, HashingError
from orcapod.core.hashing import Dependency, value_hash

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

_NAMES = itertools.count()


def load(directory: Path, source: str, *, name: str | None = None) -> ModuleType:
    """Import ``source`` as a fresh module from a file of its own."""
    name = name or f"orcapod_deps_{next(_NAMES)}"
    path = directory / f"{name}.py"
    header = HEADER if source.startswith(HEADER) else ""
    path.write_text(header + textwrap.dedent(source[len(header) :]))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def identity(directory: Path, source: str, attribute: str = "f") -> str:
    pod_function = getattr(load(directory, source), attribute)
    return str(pod_function.pod.content_hash())


def dependencies(module: ModuleType, attribute: str = "f") -> dict[str, Dependency]:
    found = getattr(module, attribute).pod.packet_function.code_dependencies
    return {dependency.name: dependency for dependency in found}


HEADER = """\
from orcapod.core import function_pod
"""


def test_a_closure_factory_gives_each_closure_value_its_own_identity(tmp_path: Path) -> None:
    module = load(
        tmp_path,
        HEADER
        + """
        def make(k):
            @function_pod("y", name="scale")
            def scale(x: int) -> int:
                return x * k
            return scale
        """,
    )
    two, three, two_again = module.make(2), module.make(3), module.make(2)
    assert two.pod.content_hash() != three.pod.content_hash()
    assert two.pod.content_hash() == two_again.pod.content_hash()
    found = {d.name: d for d in two.pod.packet_function.code_dependencies}
    assert found["k"].kind == "closure"
    assert found["k"].shown == "2"


MODULE_GLOBALS = (
    HEADER
    + """
K = {k}

def helper(x):
    {helper}

@function_pod("y")
def f(x: int) -> int:
    return x * K + helper(x)
"""
)


def test_a_module_global_and_a_helper_are_part_of_the_identity(tmp_path: Path) -> None:
    base = identity(tmp_path, MODULE_GLOBALS.format(k=10, helper="return 0"))
    assert identity(tmp_path, MODULE_GLOBALS.format(k=10, helper="return 0")) == base
    assert identity(tmp_path, MODULE_GLOBALS.format(k=20, helper="return 0")) != base
    assert identity(tmp_path, MODULE_GLOBALS.format(k=10, helper="return 100")) != base
    # A comment or a docstring in the helper changes nothing.
    commented = MODULE_GLOBALS.format(k=10, helper='"""Nothing."""\n    return 0  # zero')
    assert identity(tmp_path, commented) == base
    found = dependencies(load(tmp_path, MODULE_GLOBALS.format(k=10, helper="return 0")))
    assert (found["K"].kind, found["K"].shown) == ("global", "10")
    assert (found["helper"].kind, found["helper"].shown) == ("function", "body")


DECORATED = (
    HEADER
    + """
import functools

def scale(k):
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs) * k
        return wrapper
    return decorator

@function_pod("y")
@scale({k})
def f(x: int) -> int:
    return x
"""
)


def test_decorator_arguments_beneath_function_pod_are_part_of_the_identity(
    tmp_path: Path,
) -> None:
    base = identity(tmp_path, DECORATED.format(k=2))
    assert identity(tmp_path, DECORATED.format(k=2)) == base
    assert identity(tmp_path, DECORATED.format(k=3)) != base
    found = dependencies(load(tmp_path, DECORATED.format(k=3)))
    assert found["scale.decorator.wrapper"].kind == "wrapper"
    assert found["scale.decorator.wrapper.k"].shown == "3"
    # The wrapper's own body is covered too.
    changed = DECORATED.replace("* k", "+ k")
    assert identity(tmp_path, changed.format(k=2)) != base


def test_helpers_are_followed_recursively_and_cycles_end(tmp_path: Path) -> None:
    source = (
        HEADER
        + """
LIMIT = {limit}

def even(n):
    return n == 0 or odd(n - 1)

def odd(n):
    return n != 0 and even(n - 1) and n < LIMIT

@function_pod("y")
def f(x: int) -> bool:
    return even(x)
"""
    )
    base = identity(tmp_path, source.format(limit=5))
    assert identity(tmp_path, source.format(limit=6)) != base  # read two calls deep
    found = dependencies(load(tmp_path, source.format(limit=5)))
    assert {"even", "odd", "LIMIT"} <= set(found)


def test_a_helper_defined_below_the_pod_is_found_once_the_module_has_run(
    tmp_path: Path,
) -> None:
    source = (
        HEADER
        + """
@function_pod("y")
def f(x: int) -> int:
    return later(x)

def later(x):
    return x + {n}
"""
    )
    base = identity(tmp_path, source.format(n=1))
    assert identity(tmp_path, source.format(n=2)) != base
    assert "later" in dependencies(load(tmp_path, source.format(n=1)))


def test_classes_user_modules_and_attribute_chains(tmp_path: Path) -> None:
    load(tmp_path, "SCALE = 3\n\ndef normalize(x):\n    return x / SCALE\n", name="deps_utils")
    source = (
        HEADER
        + """
import deps_utils

class Model:
    def predict(self, x):
        return x * {w}

@function_pod("y")
def f(x: float) -> float:
    return Model().predict(deps_utils.normalize(x))
"""
    )
    base = identity(tmp_path, source.format(w=2))
    assert identity(tmp_path, source.format(w=3)) != base  # a method's body
    found = dependencies(load(tmp_path, source.format(w=2)))
    assert found["Model"].kind == "class"
    assert found["deps_utils.normalize"].kind == "function"
    assert found["deps_utils.SCALE"].shown == "3"  # the helper module's own global
    load(tmp_path, "SCALE = 4\n\ndef normalize(x):\n    return x / SCALE\n", name="deps_utils")
    assert identity(tmp_path, source.format(w=2)) != base


def test_installed_distributions_and_the_standard_library_by_name(tmp_path: Path) -> None:
    module = load(
        tmp_path,
        HEADER
        + """
import math
import pyarrow as pa
from pyarrow import compute

@function_pod("y")
def f(x: float) -> float:
    return math.sqrt(x) + pa.scalar(1).as_py() + compute.add(1, 1).as_py()
""",
    )
    found = dependencies(module)
    import pyarrow

    assert found["pyarrow"].kind == "distribution"
    assert found["pyarrow"].shown == f"pyarrow {pyarrow.__version__}"
    assert found["math"].kind == "stdlib"
    assert set(found) == {"math", "pyarrow"}


def test_a_function_with_no_dependencies_keeps_its_source_only_identity(tmp_path: Path) -> None:
    """Identities of self-contained functions are those of the first release."""
    module = load(tmp_path, HEADER + '\n@function_pod("y")\ndef f(x: int) -> int:\n    return x\n')
    function = module.f.pod.packet_function
    assert function.code_dependencies == ()
    from orcapod.core.hashing import function_identity_hash

    expected = function_identity_hash(
        module.f,
        name="f",
        version="v0",
        input_schema_hash=function.input_schema_hash,
        output_schema_hash=function.output_schema_hash,
    )
    assert module.f.pod.content_hash() == expected


UNIDENTIFIABLE = (
    HEADER
    + """
import threading

class Connection:
    def __init__(self, host):
        self.host = host

DB = Connection("db.example.org")

@function_pod("y"{options})
def f(x: int) -> int:
    return x if DB else 0
"""
)


def test_an_object_that_cannot_be_identified_is_refused_at_declaration(tmp_path: Path) -> None:
    with pytest.raises(HashingError) as caught:
        load(tmp_path, UNIDENTIFIABLE.format(options=""))
    message = str(caught.value)
    assert "'DB'" in message
    assert "Connection" in message
    assert "dependencies={'DB'" in message
    assert "ignore=['DB']" in message
    assert "code_identity=" in message


def test_ignore_and_dependencies_are_the_ways_out(tmp_path: Path) -> None:
    ignored = load(tmp_path, UNIDENTIFIABLE.format(options=", ignore=['DB']"))
    assert "DB" not in dependencies(ignored)
    declared = load(tmp_path, UNIDENTIFIABLE.format(options=", dependencies={'DB': 'v1'}"))
    assert dependencies(declared)["DB"] == Dependency(
        "DB", "declared", dependencies(declared)["DB"].digest, "v1"
    )
    bumped = load(tmp_path, UNIDENTIFIABLE.format(options=", dependencies={'DB': 'v2'}"))
    assert declared.f.pod.content_hash() != bumped.f.pod.content_hash()
    assert ignored.f.pod.content_hash() != declared.f.pod.content_hash()


def test_a_name_in_ignore_that_the_code_does_not_read_is_a_typo(tmp_path: Path) -> None:
    with pytest.raises(HashingError, match=r"'BD'.*does not read.*DB"):
        load(tmp_path, UNIDENTIFIABLE.format(options=", ignore=['DB', 'BD']"))


def test_code_identity_leaves_nothing_for_ignore_to_act_on(tmp_path: Path) -> None:
    with pytest.raises(FunctionDeclarationError, match="code_identity"):
        load(tmp_path, UNIDENTIFIABLE.format(options=", code_identity='c1', ignore=['DB']"))
    with pytest.raises(FunctionDeclarationError, match="ignore= must be a list"):
        load(tmp_path, UNIDENTIFIABLE.format(options=", ignore='DB'"))
    with pytest.raises(FunctionDeclarationError, match="dependencies= must map"):
        load(tmp_path, UNIDENTIFIABLE.format(options=", dependencies={'DB': 2}"))


def test_a_lambda_is_identified_by_its_own_expression(tmp_path: Path) -> None:
    source = HEADER + (
        "\nhalf = lambda x: x / 2  # noqa: E731\n\n"
        '@function_pod("y")\ndef f(x: float) -> float:\n    return half(x)\n'
    )
    found = dependencies(load(tmp_path, source))
    assert found["half"].kind == "function"
    changes(tmp_path, source, "x / 2", "x / 3")
    commented = identity(tmp_path, source.replace("# noqa: E731", "# a lambda"))
    assert commented == identity(tmp_path, source)


def test_loggers_and_locks_are_inert(tmp_path: Path) -> None:
    module = load(
        tmp_path,
        HEADER
        + """
import logging
import threading

log = logging.getLogger(__name__)
LOCK = threading.Lock()

@function_pod("y")
def f(x: int) -> int:
    with LOCK:
        log.info("x=%s", x)
    return x
""",
    )
    found = dependencies(module)
    assert found["log"].kind == "logger"
    assert found["LOCK"].kind == "inert"


PORTABLE = """\
from orcapod.core import function_pod
import dataclasses
import enum
import functools
import math

class Colour(enum.Enum):
    RED = 1

@dataclasses.dataclass(frozen=True)
class Settings:
    gain: float
    names: tuple

SETTINGS = Settings(1.5, ("a", "b"))
TABLE = {"b": [1, 2.5, None], "a": {True, False}, "c": frozenset({"x", "y"})}
MODE = Colour.RED
PARTIAL = functools.partial(max, 0)

def helper(x):
    return x + len(TABLE)

def make(k):
    @function_pod("y", name="f")
    def f(x: float) -> float:
        return helper(x) * SETTINGS.gain * k + math.pi + (MODE is Colour.RED) + PARTIAL(x)
    return f

f = make(b"\\x00k")
"""


def _identity_in_a_process(directory: Path, seed: str) -> dict[str, Any]:
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(directory)!r})\n"
        "import portable_steps as m\n"
        "pf = m.f.pod.packet_function\n"
        "print(json.dumps([pf.content_hash(), [list(map(str, (d.name, d.kind, d.digest))) "
        "for d in pf.code_dependencies]]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_identity_is_the_same_in_every_process_whatever_the_hash_seed(
    tmp_path: Path,
) -> None:
    (tmp_path / "portable_steps.py").write_text(PORTABLE)
    first = _identity_in_a_process(tmp_path, "1")
    second = _identity_in_a_process(tmp_path, "4242")
    assert first == second
    names = {name for name, _, _ in first[1]}
    assert {"SETTINGS", "TABLE", "MODE", "Colour", "Settings", "helper", "k", "math"} <= names


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.complex_numbers(allow_nan=False)
)
_PLAIN = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=4), max_size=4)
    ),
    max_leaves=12,
)
_HASH_IN_A_PROCESS = (
    "import pickle, sys\n"
    "from orcapod.core.hashing import value_hash\n"
    "print('\\n'.join(value_hash(v) for v in pickle.load(sys.stdin.buffer)))\n"
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PLAIN, min_size=1, max_size=12))
def test_a_plain_value_hashes_the_same_in_another_process_and_hash_seed(
    values: list[Any],
) -> None:
    here = [value_hash(value) for value in values]
    done = subprocess.run(
        [sys.executable, "-c", _HASH_IN_A_PROCESS],
        input=pickle.dumps(values),
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "random"},
        timeout=60,
        check=True,
    )
    assert done.stdout.decode().split() == here


@given(st.dictionaries(st.text(max_size=4), _PLAIN, max_size=6))
def test_a_dict_hashes_in_its_order_and_a_set_in_none(mapping: dict[str, Any]) -> None:
    """Iterating a dict sees its order (``",".join(FEATURES)``), so a reordered dict is
    another value; a set has no order to see."""
    reordered = dict(reversed(list(mapping.items())))
    assert (value_hash(mapping) == value_hash(reordered)) == (len(mapping) < 2)
    assert value_hash(set(mapping)) == value_hash(set(reversed(list(mapping))))
    assert value_hash(mapping) != value_hash(list(mapping.items()))


def _canonical(value: Any) -> Any:
    """What the value encoding distinguishes, written plainly: types, and values with
    -0.0 as 0.0 and every NaN one value."""
    if isinstance(value, bool) or value is None:
        return (type(value).__name__, value)
    if isinstance(value, float):
        return ("float", "nan" if value != value else value + 0.0)
    if isinstance(value, complex):
        return ("complex", struct.pack("<dd", value.real, value.imag))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_canonical(item) for item in value))
    if isinstance(value, dict):
        return ("dict", tuple((_canonical(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, frozenset):
        return ("frozenset", frozenset(_canonical(item) for item in value))
    return (type(value).__name__, value)


@given(_PLAIN, _PLAIN)
def test_two_plain_values_hash_the_same_exactly_when_the_encoding_says_they_are_equal(
    first: Any, second: Any
) -> None:
    assert (value_hash(first) == value_hash(second)) == (_canonical(first) == _canonical(second))
    assert value_hash(first) == value_hash(pickle.loads(pickle.dumps(first)))


# -- where behaviour hides: edits that must change the identity, values that must be
# accepted, values that must be refused clearly


def changes(tmp_path: Path, source: str, before: str, after: str) -> None:
    """Editing ``before`` to ``after`` in ``source`` changes the identity of ``f``."""
    assert before in source
    first = identity(tmp_path, source)
    assert identity(tmp_path, source) == first  # the same code: the same identity
    assert identity(tmp_path, source.replace(before, after)) != first


def test_an_import_inside_the_body_is_followed(tmp_path: Path) -> None:
    sys.path.insert(0, str(tmp_path))
    try:
        load(tmp_path, "def g(x):\n    return x * 2\n", name="edge_inner_helpers")
        source = HEADER + (
            '@function_pod("y")\ndef f(x: float) -> float:\n'
            "    from edge_inner_helpers import g\n    return g(x)\n"
        )
        first = identity(tmp_path, source)
        load(tmp_path, "def g(x):\n    return x * 3\n", name="edge_inner_helpers")
        assert identity(tmp_path, source) != first
    finally:
        sys.path.remove(str(tmp_path))


def test_an_import_of_a_module_not_imported_yet_is_found_without_running_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "edge_lazy.py").write_text("raise RuntimeError('must not run')\nK = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        source = HEADER + (
            '@function_pod("y")\ndef f(x: float) -> float:\n'
            "    import edge_lazy\n    return x * edge_lazy.K\n"
        )
        module = load(tmp_path, source)
        assert dependencies(module)["edge_lazy"].kind == "module"
        first = module.f.pod.content_hash()
        (tmp_path / "edge_lazy.py").write_text("raise RuntimeError('must not run')\nK = 2\n")
        assert identity(tmp_path, source) != first
    finally:
        sys.path.remove(str(tmp_path))


FACTORY_TWICE = (
    HEADER
    + """
def make(k):
    def scale(x):
        return x * k
    return scale

double = make(2)
triple = make(3)

@function_pod("y")
def f(x: float) -> float:
    return double(x) + triple(x)
"""
)


def test_two_closures_of_one_factory_are_both_part_of_the_identity(tmp_path: Path) -> None:
    changes(tmp_path, FACTORY_TWICE, "double = make(2)", "double = make(5)")
    changes(tmp_path, FACTORY_TWICE, "triple = make(3)", "triple = make(5)")


STACKED = (
    HEADER
    + """
import functools

def scale(k):
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs) * k
        return wrapper
    return decorator

@function_pod("y")
@scale(2)
@scale(3)
def f(x: float) -> float:
    return x
"""
)


def test_each_of_two_stacked_decorators_counts(tmp_path: Path) -> None:
    changes(tmp_path, STACKED, "@scale(2)", "@scale(5)")
    changes(tmp_path, STACKED, "@scale(3)", "@scale(5)")


CLASSES = (
    HEADER
    + """
import functools

BASE = 3
K = 3

def helper(x):
    return x + 1

class Ops:
    h = staticmethod(helper)
    SCALE = BASE * 2

    @functools.lru_cache
    def cached(self, x):
        return x * K

@function_pod("y")
def f(x: float) -> float:
    return Ops.h(x) * Ops.SCALE + Ops().cached(x)
"""
)


def test_what_a_class_holds_is_part_of_the_identity(tmp_path: Path) -> None:
    changes(tmp_path, CLASSES, "return x + 1", "return x + 2")  # a helper set in its body
    changes(tmp_path, CLASSES, "BASE = 3", "BASE = 4")  # a class attribute computed from it
    changes(tmp_path, CLASSES, "K = 3", "K = 4")  # read by a method under lru_cache


DATA_WITH_METHODS = (
    HEADER
    + """
import dataclasses
import typing

class Range(typing.NamedTuple):
    lo: float
    hi: float

    def width(self):
        return self.hi - self.lo

class Unit(str):
    def factor(self):
        return 1000

@dataclasses.dataclass(frozen=True)
class Cal:
    gain: float

    def apply(self, x):
        return x * self.gain

RANGE = Range(0.0, 1.0)
UNIT = Unit("km")
CALS = {"a": Cal(2.0)}
FEATURES = {"a": 1, "b": 2}

@function_pod("y")
def f(x: float) -> float:
    order = ",".join(FEATURES)
    return RANGE.width() * UNIT.factor() * CALS["a"].apply(x) + len(order)
"""
)


def test_data_whose_behaviour_lives_in_its_class_or_order(tmp_path: Path) -> None:
    changes(tmp_path, DATA_WITH_METHODS, "return self.hi - self.lo", "return self.lo - self.hi")
    changes(tmp_path, DATA_WITH_METHODS, "return 1000", "return 1")
    changes(tmp_path, DATA_WITH_METHODS, "return x * self.gain", "return x / self.gain")
    changes(tmp_path, DATA_WITH_METHODS, '{"a": 1, "b": 2}', '{"b": 2, "a": 1}')


def test_a_namedtuple_is_its_fields_and_their_order(tmp_path: Path) -> None:
    source = HEADER + (
        "import collections\n\nP = collections.namedtuple('P', 'lo hi')\nLIMITS = P(0, 1)\n\n"
        '@function_pod("y")\ndef f(x: float) -> float:\n    return x * LIMITS[0] + P(1, 2).hi\n'
    )
    changes(tmp_path, source, "'lo hi')", "'hi lo')")


LATE = (
    HEADER
    + """
def make():
    @function_pod("y")
    def f(x: float) -> float:
        return helper(x) * k

    def helper(x):
        return x * 2

    k = 1
    return f

f = make()

@function_pod("y")
def g(x: float) -> float:
    return round(x)

def round(x):
    return x + 1
"""
)


def test_names_defined_after_the_function_are_read_at_its_first_use(tmp_path: Path) -> None:
    changes(tmp_path, LATE, "return x * 2", "return x * 3")
    changes(tmp_path, LATE, "k = 1", "k = 2")
    module = load(tmp_path, LATE)
    assert dependencies(module, "g")["round"].kind == "function"  # not the builtin


def test_wrapped_helpers_are_identified_by_what_they_wrap(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    source = (
        HEADER
        + """
import functools
import numpy as np

@np.vectorize
def square(v):
    return v * v

@functools.singledispatch
def process(x):
    return x

@process.register
def _(x: float):
    return x * 2

@function_pod("y")
def f(x: float) -> float:
    return float(square(x)) + process(x)
"""
    )
    changes(tmp_path, source, "return v * v", "return v * v * v")
    changes(tmp_path, source, "return x * 2", "return x * 3")


def test_user_code_named_like_a_standard_library_module_is_user_code(tmp_path: Path) -> None:
    sys.path.insert(0, str(tmp_path))
    saved = sys.modules.pop("tabnanny", None)
    try:
        load(tmp_path, "def check(x):\n    return x + 1\n", name="tabnanny")
        source = HEADER + (
            "import tabnanny\n\n"
            '@function_pod("y")\ndef f(x: float) -> float:\n    return tabnanny.check(x)\n'
        )
        first = identity(tmp_path, source)
        load(tmp_path, "def check(x):\n    return x + 2\n", name="tabnanny")
        assert identity(tmp_path, source) != first
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("tabnanny", None)
        if saved is not None:
            sys.modules["tabnanny"] = saved


def test_a_deep_chain_of_helpers_is_walked_without_recursion(tmp_path: Path) -> None:
    helpers = "\n".join(f"def h{i}(x):\n    return h{i + 1}(x) + 1\n" for i in range(600))
    source = HEADER + helpers + "\ndef h600(x):\n    return x\n\n"
    source += '@function_pod("y")\ndef f(x: float) -> float:\n    return h0(x)\n'
    changes(tmp_path, source, "def h600(x):\n    return x\n", "def h600(x):\n    return -x\n")


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            "class Any:\n    def __getattr__(self, name):\n        return Any()\n\n"
            "V = Any()\nV.__dict__['n'] = 1",
            "Any",
        ),
        ("V = 10**5000", "too large"),
        (
            "class Unit:\n    def __init__(self):\n        self.scale = 1\n\n"
            "import typing\nV = typing.Annotated[float, Unit()]",
            "Unit",
        ),
        ("V = {'mean': 1, 'handle': open(__file__)}", "holding at ['handle']"),
    ],
)
def test_what_cannot_be_identified_is_refused_clearly(
    tmp_path: Path, definition: str, expected: str
) -> None:
    source = HEADER + definition + '\n\n@function_pod("y")\ndef f(x: float) -> float:\n'
    source += "    return x if V else 0.0\n"
    with pytest.raises(HashingError, match="'V'") as caught:
        load(tmp_path, source)
    assert expected in str(caught.value)
    assert "ignore=['V']" in str(caught.value)


def test_everyday_values_are_accepted(tmp_path: Path) -> None:
    numpy = pytest.importorskip("numpy")
    source = (
        HEADER
        + """
import collections
import enum
import functools
import json
import operator
import re
import typing
from sys import stderr

import numpy as np

Colour = enum.Enum("Colour", "RED GREEN")
Pair = collections.namedtuple("Pair", "a b")

class Codec:
    dumps = staticmethod(json.dumps)

class Mode(enum.Enum):
    FAST = 1

def mean(values):
    return sum(values) / len(values)

@np.errstate(divide="ignore")
def ratio(a, b):
    return a / b

def helper(x, key=lambda v: v * 2):
    return key(x)

EPS = np.float32(1e-6)
DTYPE = np.dtype("float64")
PATTERN = re.compile(r"\\d+", re.I)
FIRST = operator.itemgetter(0)
WINDOW = range(3)
VECTOR = list[float]
MAYBE = typing.Optional[int]
REDUCERS = {"mean": mean, "max": max}

@function_pod("y")
def f(x: float) -> float:
    print(__name__, file=stderr)
    picked = FIRST([x]) + len(WINDOW) + EPS + DTYPE.itemsize + REDUCERS["mean"]([x])
    return float(picked + ratio(1.0, 1.0) + helper(x)) + len(Codec.dumps(Pair(1, 2))) + (
        Colour.RED.value + Mode.FAST.value + bool(PATTERN.match("1"))
    )
"""
    )
    found = dependencies(load(tmp_path, source))
    assert found["numpy"].shown == f"numpy {numpy.__version__}"
    assert found["stderr"].kind == "inert"
    assert found["__name__"].kind == "location"
    assert found["helper"].kind == "function"
    assert found["mean"].kind == "function"  # held in a dict: identified as code
    assert found["EPS"].kind == "global"
    assert not any(name.startswith("enum.") for name in found)  # not enum's own machinery
    changes(tmp_path, source, "return sum(values) / len(values)", "return max(values)")


def test_a_class_in_a_type_expression_is_named_as_the_module_reads_it(tmp_path: Path) -> None:
    source = HEADER + (
        "class Pt:\n    x: float\n\nVEC = list[Pt]\n\n"
        '@function_pod("y")\ndef f(x: float) -> float:\n    return x if VEC else 0.0\n'
    )
    module = load(tmp_path, source)
    other = load(tmp_path, source)  # the same code under another module name
    assert module.f.pod.content_hash() == other.f.pod.content_hash()
    assert "Pt" in dependencies(module)


BOUND = (
    HEADER
    + """
import re

class Registry:
    @classmethod
    def make(cls, x):
        return x

IS_NUMBER = re.compile(r"^[0-9]+$").fullmatch
UNIT = {"m": 1.0, "cm": 0.01}.get
MAKE = Registry.make

@function_pod("y")
def f(x: float) -> float:
    return UNIT("cm", 0.0) * x + bool(IS_NUMBER("12")) + MAKE(x)
"""
)


def test_a_bound_method_brings_the_object_it_is_bound_to(tmp_path: Path) -> None:
    changes(tmp_path, BOUND, 'r"^[0-9]+$"', 'r"^[0-9]*$"')
    changes(tmp_path, BOUND, '"cm": 0.01', '"cm": 0.1')
    changes(tmp_path, BOUND, "return x\n", "return -x\n")


METHODS = (
    HEADER
    + """
import dataclasses
import datetime
import enum
import functools

def twice(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args) * 2
    return wrapper

def g(x):
    return x + 1

def make_list():
    return [2]

class Meta(type):
    def __call__(cls, *args):
        return 2

class Made(metaclass=Meta):
    pass

class Tool:
    op = functools.partial(g)

    @twice
    def scaled(self, x):
        return x

DEFAULT = 1

class Level(enum.Enum):
    LOW = 1

    @classmethod
    def _missing_(cls, value):
        return DEFAULT

class Quarter(datetime.date):
    def quarter(self):
        return (self.month - 1) // 3 + 1

@dataclasses.dataclass
class Settings:
    sizes: list = dataclasses.field(default_factory=make_list)

START = Quarter(2024, 5, 1)

@function_pod("y")
def f(x: float) -> float:
    tool = Tool()
    return tool.scaled(x) + tool.op(x) + Made() + Settings().sizes[0] + START.quarter() + (
        Level._missing_(0)
    )
"""
)


def test_what_classes_do_through_decorators_metaclasses_and_factories_counts(
    tmp_path: Path,
) -> None:
    changes(tmp_path, METHODS, "return fn(*args) * 2", "return fn(*args) * 3")  # method decorator
    changes(tmp_path, METHODS, "return x + 1", "return x + 2")  # a partial in a class body
    changes(tmp_path, METHODS, "return 2\n", "return 3\n")  # a metaclass's __call__
    changes(tmp_path, METHODS, "return [2]", "return [3]")  # a dataclass default factory
    changes(tmp_path, METHODS, "DEFAULT = 1", "DEFAULT = 2")  # read by a _sunder_ method
    changes(tmp_path, METHODS, "// 3 + 1", "// 3")  # a method of a date subclass


def test_an_import_in_a_body_counts_what_that_module_imports(tmp_path: Path) -> None:
    package = tmp_path / "edge_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "consts.py").write_text("K = 2\n")
    (package / "core.py").write_text("from .consts import K\n\n\ndef g(x):\n    return x * K\n")
    source = HEADER + (
        '@function_pod("y")\ndef f(x: float) -> float:\n'
        "    from edge_pkg.core import g\n    return g(x)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        before = identity(tmp_path, source)
        import edge_pkg.core  # noqa: F401  # imported or not: the same identity

        assert identity(tmp_path, source) == before
        (package / "consts.py").write_text("K = 3\n")
        assert identity(tmp_path, source) != before
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("edge_pkg", "edge_pkg.core", "edge_pkg.consts"):
            sys.modules.pop(name, None)


def test_library_wrappers_and_wrapper_objects_count_their_settings(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    source = (
        HEADER
        + """
import numpy as np

def g(v):
    return v * 2

class Scaled:
    def __init__(self, fn, k):
        self.__wrapped__ = fn
        self.k = k

    def __call__(self, x):
        return self.__wrapped__(x) * self.k

VEC = np.vectorize(g, otypes=[float])
SCALED = Scaled(g, 2)

@np.errstate(divide="ignore")
def ratio(a, b):
    return np.float64(a) / b

@function_pod("y")
@np.errstate(all="ignore")
def f(x: float) -> float:
    return float(VEC(x)) + SCALED(x) + float(ratio(x, 1.0))
"""
    )
    changes(tmp_path, source, "otypes=[float]", "otypes=[int]")
    changes(tmp_path, source, "Scaled(g, 2)", "Scaled(g, 3)")
    changes(tmp_path, source, 'divide="ignore"', 'divide="warn"')
    changes(tmp_path, source, 'all="ignore"', 'all="warn"')


def test_library_values_of_everyday_code_are_data(tmp_path: Path) -> None:
    numpy = pytest.importorskip("numpy")
    source = (
        HEADER
        + """
import numpy as np
import pyarrow as pa

SCHEMA = pa.schema([pa.field("x", pa.int64())], metadata={"unit": "m"})
KIND = pa.int64()
RECORD = np.dtype([("a", "f8")])
NOTHING = ...

@function_pod("y")
def f(x: float) -> float:
    return x if (SCHEMA, KIND, RECORD, NOTHING) else 0.0
"""
    )
    assert numpy is not None
    changes(tmp_path, source, '"unit": "m"', '"unit": "km"')
    changes(tmp_path, source, "pa.int64()\n", "pa.int32()\n")
    changes(tmp_path, source, '("a", "f8")', '("a", "i8")')


SET_OF_PARTIALS = """\
import functools
from orcapod.core import function_pod

def scale(x, k):
    return x * k

STEPS = {functools.partial(scale, k=3), functools.partial(scale, k=4)}

@function_pod("y")
def f(x: float) -> float:
    return sum(step(x) for step in STEPS)
"""


def test_a_set_of_partials_is_identified_whatever_the_set_order(tmp_path: Path) -> None:
    (tmp_path / "partial_steps.py").write_text(SET_OF_PARTIALS)
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import partial_steps\n"
        "print(partial_steps.f.pod.content_hash())\n"
    )
    seen = set()
    for seed in ("0", "1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
        seen.add(done.stdout.strip())
    assert len(seen) == 1
    changes(tmp_path, SET_OF_PARTIALS, "k=3", "k=99")


def test_a_container_holding_itself_is_refused_not_a_crash(tmp_path: Path) -> None:
    source = HEADER + "V = []\nV.append(V)\n\n"
    source += '@function_pod("y")\ndef f(x: float) -> float:\n    return x if V else 0.0\n'
    with pytest.raises(HashingError, match="'V'"):
        load(tmp_path, source)

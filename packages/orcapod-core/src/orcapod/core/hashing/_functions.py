"""Identity of a function: its name, version, schemas and normalised source code."""

from __future__ import annotations

import ast
import inspect
import struct
import textwrap
from typing import TYPE_CHECKING

from orcapod.core.errors import HashingError
from orcapod.core.hashing._encoding import (
    check_hash,
    domain,
    encode_str,
    render,
    u8,
    u64,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from orcapod.core.hashing._dependencies import Dependency

__all__ = [
    "code_identity_hash",
    "code_with_dependencies_hash",
    "drop_docstrings",
    "write_node",
    "function_identity_hash",
    "function_source_hash",
    "source_code_hash",
]

# Fields that record formatting, not behaviour, or that differ between Python versions
# without changing meaning: ``kind`` is the ``u`` string prefix; type comments are off.
_IGNORED_FIELDS = frozenset({"kind", "type_comment", "type_ignores"})
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def function_identity_hash(
    fn: Callable[..., object],
    *,
    name: str,
    version: str,
    input_schema_hash: str,
    output_schema_hash: str,
    code_identity: str | None = None,
    dependencies: Sequence[Dependency] = (),
) -> str:
    """The identity of a function pod: name, version, both schema hashes and its code.

    Args:
        fn: the function; its source is read unless ``code_identity`` is given.
        name: the function's declared name.
        version: the function's declared version.
        input_schema_hash: :func:`hash_schema` of its inputs.
        output_schema_hash: :func:`hash_schema` of its outputs.
        code_identity: a string standing in for the source code, for functions
            without readable source (builtins, lambdas, REPL definitions).
        dependencies: what the code depends on beyond its body (:func:`code_dependencies`);
            with none, the code's hash is the hash of its source alone.

    Raises:
        HashingError: the source cannot be read or parsed and no ``code_identity`` is given,
            or a schema hash is not a rendered hash.
    """
    if code_identity is None:
        code_hash = function_source_hash(fn)
    else:
        code_hash = code_identity_hash(code_identity)
    if dependencies:
        code_hash = code_with_dependencies_hash(code_hash, dependencies)
    message = [
        domain("function"),
        encode_str(name),
        encode_str(version),
        encode_str(code_hash),
        encode_str(check_hash(input_schema_hash, "input_schema_hash")),
        encode_str(check_hash(output_schema_hash, "output_schema_hash")),
    ]
    return render(b"".join(message))


def code_with_dependencies_hash(code_hash: str, dependencies: Sequence[Dependency]) -> str:
    """The hash of a body and what it depends on, each dependency by name, kind and digest."""
    ordered = sorted(dependencies, key=lambda d: (d.name, d.kind))
    message = bytearray(domain("code") + encode_str(check_hash(code_hash, "code hash")))
    message += u64(len(ordered))
    for dependency in ordered:
        message += encode_str(dependency.name) + encode_str(dependency.kind)
        message += encode_str(check_hash(dependency.digest, f"digest of {dependency.name!r}"))
    return render(bytes(message))


def code_identity_hash(code_identity: str) -> str:
    """The hash standing in for a function's code when ``code_identity`` is given."""
    return render(domain("code-identity") + encode_str(code_identity))


def function_source_hash(fn: Callable[..., object]) -> str:
    """The hash of ``fn``'s normalised source: its docstrings, comments and formatting ignored.

    Decorators and the function's own name are not part of it (see docs/identity.md).

    Raises:
        HashingError: ``fn`` is a lambda, has no readable source, or its source is not a def.
    """
    target = inspect.unwrap(fn)
    label = getattr(target, "__qualname__", repr(target))
    if getattr(target, "__name__", None) == "<lambda>":
        raise HashingError(
            f"cannot hash the source of lambda {label}: define it with def in a .py file, "
            "or pass code_identity='<a string naming this code>'"
        )
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError) as error:
        raise HashingError(
            f"cannot read the source of {label!r} ({error}): define it in a .py file, "
            "or pass code_identity='<a string naming this code>'"
        ) from None
    return source_code_hash(source, label=label)


def source_code_hash(source: str, *, label: str = "<source>") -> str:
    """The hash of the normalised source of the single function definition in ``source``.

    Raises:
        HashingError: ``source`` does not parse, or is not exactly one (async) def.
    """
    try:
        module = ast.parse(textwrap.dedent(source))
    except SyntaxError as error:
        raise HashingError(f"cannot parse the source of {label!r}: {error}") from None
    if len(module.body) != 1 or not isinstance(
        module.body[0], ast.FunctionDef | ast.AsyncFunctionDef
    ):
        raise HashingError(
            f"the source of {label!r} is not a single def statement; define the function "
            "with def, or pass code_identity='<a string naming this code>'"
        )
    definition = module.body[0]
    definition.decorator_list = []
    definition.name = ""
    drop_docstrings(definition)
    out = bytearray(domain("source"))
    write_node(definition, out)
    return render(bytes(out))


def drop_docstrings(tree: ast.AST) -> None:
    """Drop the docstring of every module, function and class in ``tree``."""
    for node in ast.walk(tree):
        if not isinstance(node, (*_DEFINITIONS, ast.Module)):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            node.body = node.body[1:]


def write_node(node: ast.AST, out: bytearray) -> None:
    """Write ``0x01 || str(type) || u64(k) || k * (str(field) || value)``, fields sorted."""
    fields = []
    for field in sorted(node._fields):
        value = getattr(node, field, None)
        if field in _IGNORED_FIELDS or value is None or value == []:
            continue
        fields.append((field, value))
    out += u8(1) + encode_str(type(node).__name__) + u64(len(fields))
    for field, value in fields:
        out += encode_str(field)
        _write_value(value, out)


def _write_value(value: object, out: bytearray) -> None:
    if isinstance(value, ast.AST):
        write_node(value, out)
    elif isinstance(value, list):
        out += u8(2) + u64(len(value))
        for item in value:
            _write_value(item, out)
    elif value is None:
        out += u8(0)
    else:
        _write_constant(value, out)


def _write_constant(value: object, out: bytearray) -> None:
    if isinstance(value, str):
        out += u8(3) + encode_str(value)
    elif isinstance(value, bytes):
        out += u8(4) + u64(len(value)) + value
    elif isinstance(value, bool):
        out += u8(5) + u8(int(value))
    elif isinstance(value, int):
        out += u8(6) + encode_str(str(value))
    elif isinstance(value, float):
        out += u8(7) + struct.pack("<d", value)
    elif isinstance(value, complex):
        out += u8(8) + struct.pack("<dd", value.real, value.imag)
    elif value is Ellipsis:
        out += u8(9)
    else:
        raise HashingError(f"cannot hash the source constant {value!r} of type {type(value)}")

"""Record paths: the only names that may reach a file path or a SQL identifier."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcapod.protocols.database import MAX_PATH_COMPONENT_LENGTH, validate_record_path
from orcapod.protocols.errors import InvalidRecordPathError

SAFE_FIRST = string.ascii_letters + string.digits + "_"
SAFE_REST = SAFE_FIRST + ".=-"


@pytest.mark.parametrize(
    "component",
    [
        "..",
        ".",
        "",
        "a/b",
        "a\\b",
        "'",
        '"',
        "a\x00b",
        " spaced",
        "tab\t",
        "-rf",
        ".hidden",
        "semi;colon",
        "a:b",
        "naïve",
        "x" * (MAX_PATH_COMPONENT_LENGTH + 1),
    ],
)
def test_hostile_component_is_rejected_naming_it(component: str) -> None:
    with pytest.raises(InvalidRecordPathError) as caught:
        validate_record_path(("pipeline", component))
    assert repr(component[:20]) in str(caught.value)


@pytest.mark.parametrize("path", [(), "pipeline/node", b"x", ["ok", 3], None])
def test_path_that_is_not_a_tuple_of_names_is_rejected(path: object) -> None:
    with pytest.raises(InvalidRecordPathError):
        validate_record_path(path)  # type: ignore[arg-type]


def test_everyday_names_are_accepted_and_returned_as_a_tuple() -> None:
    path = ["demo", "double_v1", "sha256-ab12", "run=3", "v1.2"]
    assert validate_record_path(path) == tuple(path)


@given(
    st.lists(
        st.builds(
            lambda first, rest: first + rest,
            st.sampled_from(SAFE_FIRST),
            st.text(SAFE_REST, max_size=MAX_PATH_COMPONENT_LENGTH - 1),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_every_component_of_safe_characters_is_accepted(components: list[str]) -> None:
    assert validate_record_path(components) == tuple(components)


@given(st.text(min_size=1, max_size=40))
def test_accepted_components_never_contain_separators_quotes_or_control_characters(
    component: str,
) -> None:
    try:
        validate_record_path((component,))
    except InvalidRecordPathError:
        return
    assert not set(component) & set("/\\'\"\x00 \t\n;:`$")
    assert component not in (".", "..")
    assert not component.startswith((".", "-"))

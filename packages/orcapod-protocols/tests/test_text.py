"""orcapod.protocols.text.escape_control: what every ``orcapod`` text printer shows."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from orcapod.protocols.text import escape_control


def test_control_characters_are_escaped_as_repr_writes_them() -> None:
    assert escape_control("a\x00b\x1b[31mc\rd\ne\tf\x7f") == "a\\x00b\\x1b[31mc\\rd\\ne\\tf\\x7f"
    assert escape_control("zero\u200bwidth, rtl\u202eoverride") == (
        "zero\\u200bwidth, rtl\\u202eoverride"
    )


def test_printable_text_is_unchanged() -> None:
    text = "plain ascii, Grüße, 日本語, emoji 🧪, a path C:\\data\\x00.csv"
    assert escape_control(text) == text


def test_keep_leaves_the_characters_named() -> None:
    assert escape_control("a\tb\x00", keep="\t") == "a\tb\\x00"


@given(st.text())
def test_the_result_holds_no_control_character_and_escaping_again_changes_nothing(
    text: str,
) -> None:
    shown = escape_control(text)
    assert shown.isprintable()
    assert not [char for char in shown if unicodedata.category(char).startswith("C")]
    assert escape_control(shown) == shown


@given(st.text(st.characters(codec="utf-8").filter(str.isprintable)))
def test_printable_text_is_returned_as_it_is(text: str) -> None:
    assert escape_control(text) == text


@given(st.text())
def test_only_characters_that_are_not_printable_are_rewritten(text: str) -> None:
    expected = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    assert escape_control(text) == expected

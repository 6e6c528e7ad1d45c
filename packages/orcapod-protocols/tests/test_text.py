"""orcapod.protocols.text: what every ``orcapod`` printer shows, core's and plugins'."""

from __future__ import annotations

import io
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcapod.protocols.text import (
    colour_enabled,
    escape_control,
    format_table,
    paint_state,
    print_table,
)

_SGR_CODE = re.compile(r"\x1b\[[0-9;]*m")


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


# -- tables ----------------------------------------------------------------------------


def test_a_table_aligns_its_columns_two_spaces_apart_without_trailing_spaces() -> None:
    lines = format_table(["NAME", "N", "NOTE"], [["a", 1, ""], ["longer", 22, "x"]])

    assert lines == ["NAME    N   NOTE", "a       1", "longer  22  x"]


def test_a_table_escapes_every_cell_so_a_row_stays_one_line() -> None:
    lines = format_table(["TAG"], [["a\nb\x00"], ["\x1b[31mred"]], indent="  ")

    assert lines == ["  TAG", "  a\\nb\\x00", "  \\x1b[31mred"]


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="row 1 has 1 cells, the table 2 columns"):
        format_table(["A", "B"], [["only one"]])


def test_with_colour_headers_are_bold_and_states_coloured_widths_unchanged() -> None:
    plain = format_table(["NODE", "STATE"], [["clean", "SUCCESS"], ["measure", "FAILED"]])
    coloured = format_table(
        ["NODE", "STATE"], [["clean", "SUCCESS"], ["measure", "FAILED"]], colour=True
    )

    assert coloured[0] == "\x1b[1mNODE\x1b[0m     \x1b[1mSTATE\x1b[0m"
    assert coloured[1] == "clean    \x1b[32mSUCCESS\x1b[0m"
    assert coloured[2] == "measure  \x1b[31mFAILED\x1b[0m"
    assert [_SGR_CODE.sub("", line) for line in coloured] == plain


def test_only_the_state_columns_are_coloured_by_state() -> None:
    lines = format_table(["NODE", "STATE"], [["FAILED", "RUNNING"]], colour=True)

    assert lines[1] == "FAILED  \x1b[36mRUNNING\x1b[0m"
    assert format_table(["STATE"], [["FAILED"]], colour=True, state_columns=())[1] == "FAILED"


def test_a_state_is_escaped_before_it_is_painted() -> None:
    assert paint_state("FAILED", colour=True) == "\x1b[31mFAILED\x1b[0m"
    assert paint_state("FAILED", colour=False) == "FAILED"
    assert paint_state("odd\x1b", colour=True) == "odd\\x1b"


# -- colour only on a terminal ---------------------------------------------------------


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, as a real one does (closed: ValueError)."""

    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        return True


@pytest.fixture
def colour_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    return monkeypatch


def test_a_terminal_gets_colour_a_pipe_or_file_does_not(colour_env: pytest.MonkeyPatch) -> None:
    assert colour_enabled(_Terminal())
    assert not colour_enabled(io.StringIO())


@pytest.mark.parametrize("value", ["1", "0", "false", "yes"])
def test_no_color_set_to_anything_turns_colour_off(
    colour_env: pytest.MonkeyPatch, value: str
) -> None:
    colour_env.setenv("NO_COLOR", value)

    assert not colour_enabled(_Terminal())


def test_an_empty_no_color_and_a_dumb_terminal(colour_env: pytest.MonkeyPatch) -> None:
    colour_env.setenv("NO_COLOR", "")
    assert colour_enabled(_Terminal())  # no-color.org: set *and not empty*
    colour_env.setenv("TERM", "dumb")
    assert not colour_enabled(_Terminal())


def test_a_closed_stream_gets_no_colour(colour_env: pytest.MonkeyPatch) -> None:
    stream = _Terminal()
    stream.close()

    assert not colour_enabled(stream)


def test_print_table_colours_a_terminal_unless_no_color(colour_env: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    print_table(["STATE"], [["LOST"]], file=terminal)
    assert terminal.getvalue() == "\x1b[1mSTATE\x1b[0m\n\x1b[31mLOST\x1b[0m\n"

    colour_env.setenv("NO_COLOR", "1")
    terminal = _Terminal()
    print_table(["STATE"], [["LOST"]], file=terminal)
    assert terminal.getvalue() == "STATE\nLOST\n"
    assert "\x1b" not in terminal.getvalue()

"""Every code block of the documentation runs, and every output it shows is what it prints.

Each page of ``docs/`` runs in a fresh process, in an empty temporary working
directory, with the worked plugin of ``plugin_example/`` and the plugin template
of ``examples/plugin-template/`` installed (as the reader of the plugin page does
with ``pip install``). The blocks of a page run
in order:

- ```` ```python ```` blocks in one namespace, like one script;
- ```` ```bash ```` / ```` ```console ```` blocks line by line: a line that is an
  ``orcapod ...`` command (after an optional ``$ ``) runs through the installed
  console script and must exit with 0; ``pip install`` and ``uv ...`` lines, comments
  and blank lines are skipped; any other line fails the test, so nothing shown
  as a command goes unchecked;
- a ```` ```text title="Output" ```` block right after a block is what that block
  must print: compared line by line, trailing spaces aside, where ``...`` inside a
  line stands for any text and a line of only ``...`` for any number of lines.

A ```` ```python title="NAME.py" ```` block is saved as that file in the working
directory instead of running, for a later ``orcapod run NAME.py``; a block whose
title is a path of the repository (``title="tests-integration/plugin_example/pyproject.toml"``)
must be a verbatim excerpt of that file, and is not run. Any other info string
(``toml``, ``text``, ``json``) is not run. A page whose
blocks mention ``postgresql`` is marked ``postgres`` and runs against a throwaway
database on the test server (its ``PG*`` variables are set for the page); a page
whose blocks use Ray is skipped when Ray is not installed.

Every ``orcapod`` command, and the page runner itself, must exit with 0: a
process aborted at exit (as deltalake's pyarrow datasets used to make them,
delta-rs #2184) fails the page.

Run ``python tests-integration/test_docs.py docs/PAGE.md`` to run one page by hand.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from orcapod.protocols.testing.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))

PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "console", "shell", "sh"}
SKIPPED_COMMANDS = ("pip ", "uv ", "python -m pip ")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_TITLE = re.compile(r"""title=["']([^"']+)["']""")
"""What deltalake's native threads print when torn down at interpreter exit (delta-rs #2184)."""


@dataclass
class Block:
    """One fenced block of a page."""

    language: str
    info: str
    code: str
    line: int
    """The line of its opening fence, counted from 1."""

    @property
    def title(self) -> str | None:
        found = _TITLE.search(self.info)
        return found[1] if found else None

    @property
    def is_output(self) -> bool:
        return self.language == "text" and self.title == "Output"

    @property
    def file_name(self) -> str | None:
        """The file a ```python title="NAME.py"``` block is saved as, instead of running."""
        title = self.title
        if self.language in PYTHON and title and title.endswith(".py") and "/" not in title:
            return title
        return None

    @property
    def repository_file(self) -> Path | None:
        """The file of the repository a block titled with its path shows an excerpt of."""
        title = self.title
        return ROOT / title if title and "/" in title else None


def _all_blocks(text: str) -> tuple[list[Block], list[bool]]:
    """Every fenced block of a page, and whether only blank lines separate each from the last."""
    blocks: list[Block] = []
    adjacent: list[bool] = []  # whether only blank lines separate a block from the previous one
    lines = text.splitlines()
    index, last_end = 0, -2
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        info = opening["info"].strip()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end])
            end += 1
        between = lines[last_end + 1 : index] if last_end >= 0 else ["x"]
        adjacent.append(all(not line.strip() for line in between))
        language = info.split(maxsplit=1)[0].lower() if info else ""
        blocks.append(Block(language, info, "\n".join(body) + "\n", index + 1))
        index, last_end = end + 1, end
    return blocks, adjacent


def extract_blocks(text: str) -> list[tuple[Block, Block | None]]:
    """The fenced blocks of a page that run, each with the output block that follows it."""
    blocks, adjacent = _all_blocks(text)
    runnable: list[tuple[Block, Block | None]] = []
    for n, block in enumerate(blocks):
        if block.language not in PYTHON | SHELL and block.repository_file is None:
            continue
        follows = n + 1 < len(blocks) and adjacent[n + 1] and blocks[n + 1].is_output
        runnable.append((block, blocks[n + 1] if follows else None))
    return runnable


def output_matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is ``expected``, where ``...`` stands for any text.

    A line of only ``...`` stands for any number of lines.
    """
    parts = []
    for line in expected.rstrip("\n").splitlines():
        line = line.rstrip()
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\n]*".join(map(re.escape, line.split("..."))) + "\n")
    pattern = "".join(parts)
    text = "".join(line.rstrip() + "\n" for line in actual.rstrip().splitlines())
    return re.fullmatch(pattern, text) is not None


# -- running one page (in its own process) ------------------------------------------------


def _orcapod_command() -> list[str]:
    script = Path(sysconfig.get_path("scripts")) / "orcapod"
    if not script.exists():
        script = Path(sys.executable).parent / "orcapod"
    return [str(script)] if script.exists() else [sys.executable, "-m", "orcapod.core"]


def _run_python(block: Block, namespace: dict[str, Any], source_dir: Path) -> str:
    """Run a python block in the page's namespace; return what it printed.

    The block is written to a file first, so that functions defined in it
    have source code (orcapod hashes it) and tracebacks show its lines.
    """
    source_dir.mkdir(exist_ok=True)
    file = source_dir / f"block_line_{block.line}.py"
    file.write_text(block.code)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block.code, str(file), "exec"), namespace)
    return printed.getvalue()


def _run_shell(block: Block) -> str:
    """Run the ``orcapod`` lines of a shell block; return what they printed."""
    printed = []
    for number, raw in enumerate(block.code.splitlines(), start=block.line + 1):
        line = raw.strip().removeprefix("$ ").strip()
        if not line or line.startswith("#") or line.startswith(SKIPPED_COMMANDS):
            continue
        words = shlex.split(line, comments=True)
        if words[0] != "orcapod":
            raise AssertionError(
                f"line {number}: {line!r} is neither an orcapod command nor a skipped install "
                "line; show it in a ```text block if it is not meant to run"
            )
        result = subprocess.run(
            [*_orcapod_command(), *words[1:]], capture_output=True, text=True, timeout=600
        )
        if result.returncode != 0:
            raise AssertionError(
                f"line {number}: {line!r} exited with {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        printed.append(result.stdout)
    return "".join(printed)


def _shown(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def _excerpt_problem(block: Block, file: Path) -> str | None:
    """Why ``block`` is not a verbatim excerpt of ``file`` (None when it is)."""
    if not file.is_file():
        return f"its title names {file.relative_to(ROOT)}, which is not a file"
    if block.code not in file.read_text():
        return (
            f"it is shown as an excerpt of {file.relative_to(ROOT)} but is not in that file "
            "verbatim; copy the file's current text"
        )
    return None


def run_page(page: Path) -> list[str]:
    """Run every block of ``page`` in the current directory; the failures, described."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    source_dir = Path("_doc_blocks").resolve()
    unused: dict[str, int] = {}  # files saved from the page that no command has used yet
    pairs = extract_blocks(page.read_text())
    paired = {expected.line for _, expected in pairs if expected is not None}
    orphans = [b.line for b in _all_blocks(page.read_text())[0] if b.is_output]
    orphans = [line for line in orphans if line not in paired]
    if orphans:
        return [
            f"{_shown(page)}: the output blocks at lines {orphans} do not follow a "
            "block that runs (only blank lines may separate them), so nothing checks them"
        ]
    for block, expected in pairs:
        where = f"{_shown(page)}:{block.line} ({block.language})"
        if block.repository_file is not None:
            problem = _excerpt_problem(block, block.repository_file)
            if problem:
                return [f"{where}: {problem}"]
            continue
        if block.file_name:
            Path(block.file_name).write_text(block.code)
            unused[block.file_name] = block.line
            continue
        try:
            if block.language in PYTHON:
                printed = _run_python(block, namespace, source_dir)
            else:
                printed = _run_shell(block)
                unused = {name: n for name, n in unused.items() if name not in block.code}
        except Exception:
            return [f"{where} failed:\n{traceback.format_exc()}"]
        if expected is not None and not output_matches(expected.code, printed):
            return [
                f"{where} printed something else than the output shown at line "
                f"{expected.line}.\n--- shown ---\n{expected.code}--- printed ---\n{printed}"
            ]
    return [
        f"{_shown(page)}:{line}: the file {name} is shown but no command of the page runs it"
        for name, line in unused.items()
    ]


def main(argv: list[str]) -> None:
    """``python test_docs.py PAGE.md``: run one page in a temporary directory."""
    page = Path(argv[0]).resolve()
    with tempfile.TemporaryDirectory(prefix="orcapod-docs-") as directory:
        os.chdir(directory)
        failures = run_page(page)
    for failure in failures:
        print(failure, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(1 if failures else 0)


# -- the tests ---------------------------------------------------------------------------


def _code_of(page: Path) -> str:
    return "".join(block.code for block, _ in extract_blocks(page.read_text()))


def _page_param(page: Path) -> Any:
    code = _code_of(page)
    marks = []
    if "postgresql" in code:
        marks.append(pytest.mark.postgres)
    uses_ray = "orcapod.executors.ray" in code or re.search(r"""["' ]ray\b""", code)
    if uses_ray and importlib.util.find_spec("ray") is None:
        marks.append(pytest.mark.skip(reason="the page runs Ray, which is not installed"))
    return pytest.param(page, marks=marks, id=str(page.relative_to(DOCS)))


def test_every_page_of_the_docs_is_checked() -> None:
    expected = {"index.md", "getting-started.md", "writing-a-plugin.md", "observability.md"}
    assert expected <= {page.name for page in PAGES}


@pytest.mark.parametrize(
    "page", [_page_param(page) for page in PAGES if extract_blocks(page.read_text())]
)
def test_every_code_block_of_the_page_runs_and_prints_what_it_shows(
    page: Path,
    plugin_example_site: Path,
    plugin_template_site: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    env = dict(os.environ)
    paths = [str(plugin_example_site), str(plugin_template_site), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    env.setdefault("RAY_AUTH_MODE", "disabled")
    if request.node.get_closest_marker("postgres"):
        server: PostgresServer = request.getfixturevalue("postgres")
        env.update(
            PGHOST=server.host,
            PGPORT=str(server.port),
            PGUSER=server.user,
            PGDATABASE=server.dbname,
            **({"PGPASSWORD": server.password} if server.password else {}),
        )
    result = subprocess.run(
        [sys.executable, __file__, str(page)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr


def _reference_entries(page: Path) -> tuple[str, dict[str, set[str]]]:
    """The package an API page documents, and the names it asks mkdocstrings for: the
    package's, and those of each public submodule given a section of its own."""
    package, current = "", ""
    entries: dict[str, set[str]] = {}
    for line in page.read_text().splitlines():
        if line.startswith("::: "):
            target = line.removeprefix("::: ").strip()
            package = package or target
            current = target if _is_module(target) else package
            if current != target:  # one object by its full path: documented under its own name
                entries.setdefault(package, set()).add(target.rsplit(".", 1)[-1])
            entries.setdefault(current, set())
        elif line.startswith("        - "):
            entries[current].add(line.strip().removeprefix("- "))
    return package, entries


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent is not a package: an object's path
        return False


@pytest.mark.parametrize(
    "page", sorted((DOCS / "reference").glob("*.md")), ids=lambda page: page.stem
)
def test_each_api_reference_page_lists_exactly_its_package_public_names(page: Path) -> None:
    """The package's section lists its ``__all__``; a submodule's section (the store
    toolkit, the CLI output layer) lists the rest of that submodule's ``__all__``."""
    package, entries = _reference_entries(page)
    for module, names in entries.items():
        exported = set(importlib.import_module(module).__all__)
        if module != package:
            exported -= entries[package]
        assert names == exported, (
            f"{_shown(page)} lists {sorted(names - exported)} that {module} does not "
            f"export and leaves out {sorted(exported - names)}"
        )


def test_every_public_package_has_an_api_reference_page() -> None:
    documented = {_reference_entries(page)[0] for page in (DOCS / "reference").glob("*.md")}
    assert documented == {
        "orcapod.core",
        "orcapod.observers",
        "orcapod.protocols",
        "orcapod.capture",
        "orcapod.db.delta",
        "orcapod.db.sql",
        "orcapod.executors.ray",
    }


def test_a_page_fails_on_output_it_does_not_print_and_on_unchecked_output_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text('```python\nprint("yes")\n```\n\n```text title="Output"\nno\n```\n')
    (failure,) = run_page(page)
    assert "printed something else" in failure
    page.write_text('```python\nprint("yes")\n```\nprose\n\n```text title="Output"\nno\n```\n')
    (failure,) = run_page(page)
    assert "nothing checks them" in failure
    page.write_text('```python\nprint("yes")\n```\n\n```text title="Output"\nyes\n```\n')
    assert run_page(page) == []


def test_a_shell_line_that_is_not_an_orcapod_command_fails_unless_it_installs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text("```bash\npip install orcapod-core\nuv sync\n# a comment\n```\n")
    assert run_page(page) == []
    page.write_text("```bash\nrm -rf somewhere\n```\n")
    (failure,) = run_page(page)
    assert "neither an orcapod command nor a skipped install line" in failure


def test_an_output_block_must_match_what_was_printed() -> None:
    assert output_matches("a\n...\nd ... f\n", "a\nb\nc\nd e f\n")
    assert output_matches("a\n...\n", "a\n")
    assert not output_matches("a\nb\n", "a\nc\n")
    assert not output_matches("run ... done\n", "run 1 failed\n")


def test_blocks_are_paired_with_the_output_block_right_after_them() -> None:
    page = (
        '```python\nprint(1)\n```\n\n```text title="Output"\n1\n```\n\n'
        '```python\nprint(2)\n```\nprose\n```text title="Output"\n2\n```\n'
        "```toml\n[x]\n```\n"
    )
    pairs = extract_blocks(page)
    assert [(b.code, e.code if e else None) for b, e in pairs] == [
        ("print(1)\n", "1\n"),
        ("print(2)\n", None),
    ]


if __name__ == "__main__":
    main(sys.argv[1:])

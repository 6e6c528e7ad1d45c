"""Refuse a foreign, regular ``orcapod`` package in place of orcapod's namespace package.

orcapod's distributions (orcapod-protocols, orcapod-core, the plugins) share
``orcapod`` as a namespace package: none of them ships ``orcapod/__init__.py``.
An unrelated distribution also named ``orcapod`` ships a regular package of that
name, with its own ``orcapod/core`` and ``orcapod/protocols``. Installed into
the same environment, one overwrites files of the other, and since a regular
package anywhere on ``sys.path`` wins over every namespace portion,
``import orcapod.core`` runs its code, or a mix of both.

orcapod-protocols installs ``orcapod_protocols_root_guard.pth``, which calls
:func:`install` when the interpreter starts: that puts a :class:`RootGuard`
first on ``sys.meta_path``. When ``orcapod`` is first imported, the guard asks
the path finder what ``orcapod`` is, and if it is a regular package it raises
the ImportError of :func:`foreign_package_error` (whose package it is, ours
installed, the fix) before any code of that package runs.

Where ``.pth`` files are not processed (``python -S``, a ``pip install
--target`` directory on ``PYTHONPATH``), ``orcapod.protocols`` and
``orcapod.core`` look at ``sys.modules["orcapod"]`` themselves and raise the
same error.

Every Python process of an environment holding orcapod-protocols imports this
module, so at import it touches no file and imports nothing (not even
``__future__`` or ``typing``); the standard library modules the guard needs
are imported when ``orcapod`` is, and ``importlib.metadata`` only to word the
error.
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = ["RootGuard", "foreign_package_error", "install"]

NAMESPACE = "orcapod"


class RootGuard:
    """A meta path finder that finds nothing: it refuses a regular ``orcapod`` package.

    It acts on the name ``orcapod`` alone (once per process, when ``orcapod``
    is first imported) and returns None for every name, so the import system's
    own finders do the finding.
    """

    def find_spec(
        self,
        fullname: str,
        path: "Sequence[str] | None",
        target: "ModuleType | None" = None,
    ) -> "ModuleSpec | None":
        if fullname != NAMESPACE:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(fullname, path)
        # A namespace package has no origin; a regular package is its __init__ file.
        if spec is not None and spec.origin and spec.submodule_search_locations is not None:
            raise foreign_package_error(spec.origin, already_run=False)
        return None

    def __repr__(self) -> str:
        return f"<{__name__}.RootGuard>"


def install() -> None:
    """Put a :class:`RootGuard` first on ``sys.meta_path``, unless one is there already."""
    if not any(isinstance(finder, RootGuard) for finder in sys.meta_path):
        sys.meta_path.insert(0, RootGuard())


def foreign_package_error(origin: "str | None", *, already_run: bool = True) -> ImportError:
    """The ImportError for a regular ``orcapod`` package whose ``__init__`` is ``origin``.

    Args:
        origin: the foreign ``orcapod/__init__.py``.
        already_run: whether that ``__init__`` has run (the checks of the
            package ``__init__`` modules) or the guard stopped it first.
    """
    return ImportError(_message(origin or "?", already_run), name=NAMESPACE, path=origin)


def _message(origin: str, already_run: bool) -> str:
    from textwrap import fill

    try:
        owner, ours, shared = _distributions(origin)
    except Exception:  # never hide the error behind one from reading metadata
        owner, ours, shared = None, {}, []
    # "\0" keeps a name and its version on one line when wrapped (a space afterwards)
    installed = ", ".join(f"{name}\0{version}" for name, version in ours.items())
    foreign = f"{owner[0]}\0{owner[1]}" if owner else "it"
    prose = [
        (
            f"is from the distribution {foreign}, a different project using the same import name."
            if owner
            else "is in no installed distribution: a directory on sys.path (the current "
            "directory, PYTHONPATH) holds it."
        )
        + f" orcapod's distributions ({installed or 'orcapod-protocols, orcapod-core, ...'})"
        f" share {NAMESPACE!r} as a namespace package, with no {NAMESPACE}/__init__.py, and"
        " a regular package of that name takes its place: the two cannot share an"
        " environment."
        + (
            f" Both install files at the same paths (here: {_shortened(shared)}), so the one"
            " installed last has overwritten the other's."
            if shared
            else " Installed into the same directory, either may have overwritten the other's"
            " files."
        )
        + (
            f" Its {NAMESPACE}/__init__.py has already run: this interpreter did not load"
            " orcapod's import guard (it was started with -S, or orcapod is installed where"
            " Python does not process .pth files)."
            if already_run
            else " The import was stopped before any of its code ran."
        ),
    ]
    commands: list[str] = []
    if owner:
        reinstall = " ".join(f"{name}=={version}" for name, version in ours.items())
        commands = [
            f"pip uninstall {owner[0]}",
            "pip install --force-reinstall --no-deps "
            + (reinstall or "orcapod-protocols orcapod-core ..."),
        ]
        prose.append(
            f"To fix it, uninstall {owner[0]}, then reinstall orcapod's distributions"
            f" (uninstalling {owner[0]} deletes every file it installed, those it overwrote"
            " too):"
        )
        after = (
            f"with this interpreter's pip ({sys.executable} -m pip), adding the options"
            " orcapod was installed with (--find-links DIR, --index-url URL) if its wheels are"
            f" not on your package index; or with uv: uv pip uninstall {owner[0]}, then uv pip"
            " install --reinstall --no-deps and the same distributions. Or keep"
            f" {foreign} and orcapod's distributions in separate virtual environments."
        )
    else:
        after = (
            "To fix it, rename or move that directory, or take the directory holding it off"
            " sys.path."
        )
    lines = [
        f"{NAMESPACE!r} is another project's regular package here, not the namespace package"
        " of orcapod's distributions:",
        "",
        f"    {origin}",
        "",
    ]
    for paragraph in prose:
        lines += [fill(paragraph, 88, break_long_words=False, break_on_hyphens=False), ""]
    if commands:
        lines += [f"    {command}" for command in commands] + [""]
    lines.append(fill(after, 88, break_long_words=False, break_on_hyphens=False))
    return "\n".join(lines).replace("\0", " ")


def _shortened(paths: "list[str]", shown: int = 4) -> str:
    more = len(paths) - shown
    return ", ".join(paths[:shown]) + (f" and {more} more" if more > 0 else "")


def _distributions(
    origin: str,
) -> "tuple[tuple[str, str] | None, dict[str, str], list[str]]":
    """Who installed ``origin``; orcapod's distributions; the files both install.

    The owner is the distribution whose RECORD lists ``orcapod/__init__.py`` at
    ``origin``. Ours are the others named ``orcapod-*`` or installing files
    under ``orcapod/``, with their versions (of each name the first found on
    ``sys.path``, the one Python imports).
    """
    import os
    import re
    from importlib.metadata import distributions

    target = os.path.realpath(origin)
    owner: tuple[str, str] | None = None
    owner_files: dict[str, str] = {}  # real path: path in the distribution
    ours: dict[str, str] = {}
    ours_files: set[str] = set()
    seen: set[str] = set()
    for dist in distributions():
        name = dist.name or ""
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        if not name or canonical in seen:
            continue
        seen.add(canonical)
        files = {
            os.path.realpath(str(dist.locate_file(file))): str(file)
            for file in dist.files or ()
            if file.parts[:1] == (NAMESPACE,)
        }
        if owner is None and files.get(target) == f"{NAMESPACE}/__init__.py":
            owner, owner_files = (name, dist.version), files
        elif files or canonical.startswith(f"{NAMESPACE}-"):
            ours[name] = dist.version
            ours_files.update(files)
    shared = sorted(owner_files[path] for path in owner_files.keys() & ours_files)
    return owner, dict(sorted(ours.items())), shared

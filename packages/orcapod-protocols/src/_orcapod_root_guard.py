"""Refuse a foreign, regular ``orcapod`` package in place of orcapod's namespace package.

orcapod's distributions (orcapod-protocols, orcapod-core, the plugins) share
``orcapod`` as a namespace package: none of them ships ``orcapod/__init__.py``.
An unrelated distribution also named ``orcapod`` ships a regular package of that
name, with its own ``orcapod/core`` and ``orcapod/protocols``. A regular package
anywhere on ``sys.path`` wins over every namespace portion, so with it importable
``import orcapod.core`` runs its code, or a mix of both; installed into the same
directory as ours, one has also overwritten files of the other.

orcapod-protocols installs ``orcapod_protocols_root_guard.pth``, which calls
:func:`install` when the interpreter starts: that puts a :class:`RootGuard`
first on ``sys.meta_path``. When ``orcapod`` is first imported, the guard asks
the path finder what ``orcapod`` is, and if it is a regular package it raises
the ImportError of :func:`foreign_package_error` before any code of that
package runs. The message says whose package it is, where it is and how that
directory got on ``sys.path`` (the environment's site-packages, the user site,
``PYTHONPATH``, the current directory...), whether it overwrote files of ours,
and the fix for that case.

That guarantee needs the ``.pth``, which Python processes in site directories
only: not under ``python -S``, nor in a ``pip install --target`` directory on
``PYTHONPATH``. There, ``orcapod.protocols`` and ``orcapod.core`` check
``sys.modules["orcapod"]`` themselves and raise the same error, but only where
their ``__init__`` modules are still ours: where the other distribution has
overwritten them (or ``pip install --target`` skipped ours), the other's code
runs and nothing of ours can stop it.

Every Python process of an environment holding orcapod-protocols imports this
module, so at import it touches no file and imports nothing but ``sys`` (not
even ``__future__`` or ``typing``); the standard library modules the guard needs
are imported when ``orcapod`` is, and those that word the error only then.
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


# Where the directory holding the foreign package is on sys.path from (see _on_path).
CWD, SCRIPT, PYTHONPATH, USER, ENV, BASE, OTHER = (
    "cwd",
    "script",
    "PYTHONPATH",
    "user",
    "env",
    "base",
    "other",
)


def _message(origin: str, already_run: bool) -> str:
    import os

    package = os.path.dirname(origin)  # the foreign orcapod/
    directory = os.path.dirname(package)  # the sys.path entry holding it
    known = True
    try:
        owner, ours, shared, damaged = _distributions(origin)
    except Exception:  # never hide the error behind one from reading metadata
        owner, ours, shared, damaged, known = None, {}, [], [], False
    try:
        kind, entry = _on_path(directory)
    except Exception:
        kind, entry = OTHER, directory
    executable = sys.executable or "python"
    base = getattr(sys, "_base_executable", None) or executable
    in_venv = sys.prefix != sys.base_prefix

    # "\0" keeps a name and its version on one line when wrapped (a space afterwards)
    installed = ", ".join(f"{name}\0{version}" for name, (version, *_) in ours.items())
    foreign = f"{owner[0]}\0{owner[1]}" if owner else "it"
    where = {
        CWD: f"the current directory, {directory}, which Python puts first on sys.path",
        SCRIPT: f"the directory of the script being run, {directory}, which Python puts first"
        " on sys.path",
        PYTHONPATH: f"{directory}, on sys.path through PYTHONPATH"
        + (f" (its entry {entry})" if entry != directory else ""),
        USER: f"the user site directory, {directory} (pip install --user), on sys.path of"
        + (
            f" {base} and of the virtual environments made from it with"
            " --system-site-packages, as this one is"
            if in_venv
            else " this Python"
        ),
        ENV: f"this environment's site-packages, {directory}",
        BASE: f"{directory}, the site-packages of the Python this virtual environment is made"
        f" from ({base}), on sys.path as this environment was made with"
        " --system-site-packages",
        OTHER: f"{directory}, a directory on sys.path (added by a .pth file, PYTHONPATH or the"
        " program)",
    }[kind]
    if owner:
        who = f"is from the distribution {foreign}, a different project using the same import name."
    elif known:
        who = "is in no installed distribution."
    else:
        who = "belongs to a distribution that could not be read."
    relation: str
    if shared:
        relation = (
            f" Both install files at the same paths (here: {_shortened(shared)}), so the one"
            " installed last has overwritten the other's."
        )
    elif not known:
        relation = (
            " If both were installed into the same directory, the one installed last has"
            " overwritten files of the other."
        )
    elif ours and all(editable for *_, editable in ours.values()):
        relation = (
            " orcapod's distributions are installed in development mode (editable installs,"
            " whose files stay in their source trees): it has overwritten none of their files."
        )
    elif ours:
        places = sorted({place for _, place, _, _ in ours.values()})
        relation = (
            f" They are installed in {_shortened(places)}"
            + (
                ", some in development mode (editable)"
                if any(editable for *_, editable in ours.values())
                else ""
            )
            + ", and share no file with it: it has overwritten none of theirs."
        )
    else:
        relation = ""
    prose = [
        f"{who} It is in {where}. orcapod's distributions"
        f" ({installed or 'orcapod-protocols, orcapod-core, ...'}) share {NAMESPACE!r} as a"
        f" namespace package, with no {NAMESPACE}/__init__.py, and a regular package of that"
        " name anywhere on sys.path takes its place: the two cannot share an environment."
        + relation
        + (
            f" Its {NAMESPACE}/__init__.py has already run: this interpreter did not load"
            " orcapod's import guard (it was started with -S, or orcapod is installed where"
            " Python does not process .pth files)."
            if already_run
            else " The import was stopped before any of its code ran."
        ),
    ]
    separate = (
        f" Or keep {foreign} and orcapod's distributions in separate virtual environments."
        if owner
        else ""
    )
    no_reinstall = " orcapod's distributions need no reinstalling."
    leave = {
        CWD: "run Python from another directory, or with -P (or PYTHONSAFEPATH=1), which leaves"
        " the current directory off sys.path",
        SCRIPT: "move the script, or run it with -P (or PYTHONSAFEPATH=1), which leaves its"
        " directory off sys.path",
        PYTHONPATH: f"take {entry} off PYTHONPATH",
    }
    commands: list[str] = []
    after = ""
    if owner and shared and kind in (ENV, USER, BASE):
        # Uninstalling the other deletes every file it installed, the shared ones too.
        reinstall = " ".join(f"{name}=={ours[name][0]}" for name in damaged)
        if kind == ENV:
            pip, target = "pip", " "
        else:  # pip uninstalls only inside the environment it runs in: the owner's Python
            pip = f"{base if in_venv else executable} -m pip"
            target = " --user " if kind == USER else " "
        commands = [
            f"{pip} uninstall {owner[0]}",
            f"{pip} install{target}--force-reinstall --no-deps "
            + (reinstall or "orcapod-protocols orcapod-core ..."),
        ]
        prose.append(
            f"To fix it, uninstall {owner[0]}, then reinstall orcapod's distributions"
            f" (uninstalling {owner[0]} deletes every file it installed, those it overwrote"
            " too):"
        )
        if kind == ENV:
            after = (
                f"with this interpreter's pip ({executable} -m pip), adding the options"
                " orcapod was installed with (--find-links DIR, --index-url URL) if its wheels"
                f" are not on your package index; or with uv: uv pip uninstall {owner[0]},"
                " then uv pip install --reinstall --no-deps and the same distributions."
            )
        else:
            after = (
                "outside any virtual environment (a virtual environment's pip leaves what is"
                " outside it), adding the options orcapod was installed with (--find-links"
                " DIR, --index-url URL) if its wheels are not on your package index."
            )
        after += separate
    elif owner and shared:
        prose.append(
            f"To fix it, install orcapod's distributions and {owner[0]} into separate"
            f" directories ({directory} holds both; pip install --target puts every package"
            " into the one directory, where they overwrite each other's files), or better,"
            " separate virtual environments."
        )
    elif owner and kind in (ENV, BASE):
        python = executable if kind == ENV else base
        commands = [
            f"uv pip uninstall --python {python} {owner[0]}",
            f"{python} -m pip uninstall {owner[0]}",
        ]
        prose.append(
            f"To fix it, uninstall {owner[0]}"
            + (
                " from this environment"
                if kind == ENV
                else " from that Python (this environment's pip leaves it: it uninstalls only"
                " inside this environment)"
            )
            + ", with uv or with pip (whichever it has):"
        )
        after = (
            no_reinstall.strip()
            + (
                " In a uv project, uv sync removes it too, and puts back any package its"
                " installation changed."
                if kind == ENV and any(editable for *_, editable in ours.values())
                else ""
            )
            + (
                " Or make this virtual environment again without --system-site-packages."
                if kind == BASE
                else ""
            )
            + separate
        )
    elif owner and kind == USER:
        commands = [f"{base if in_venv else executable} -m pip uninstall {owner[0]}"]
        prose.append(
            f"To fix it, uninstall {owner[0]} from the user site with the pip of the Python it"
            " belongs to, run outside any virtual environment (a virtual environment's pip"
            " leaves it: it uninstalls only inside that environment):"
        )
        after = (
            "Or leave the user site off sys.path: run Python with -s, or set"
            " PYTHONNOUSERSITE=1." + no_reinstall + separate
        )
    elif owner and kind in leave:
        prose.append(
            f"To fix it, {leave[kind]}, or rename or move {package}"
            + (
                f" (and the .dist-info directory of {foreign} beside it)"
                if kind == PYTHONPATH
                else ""
            )
            + "."
            + no_reinstall
            + separate
        )
    elif owner:
        prose.append(
            f"To fix it, uninstall {owner[0]} with the Python whose environment {directory}"
            f" is, or take {directory} off sys.path." + no_reinstall + separate
        )
    elif not known:
        prose.append(
            "To fix it, uninstall the distribution that installed it, or rename or move"
            f" {package}, or take {directory} off sys.path."
        )
    elif any(
        place == os.path.realpath(directory) and files for _, place, files, _ in ours.values()
    ):
        prose.append(
            f"To fix it, delete {origin} alone: {package} holds files of orcapod's"
            " distributions too."
        )
    elif kind in leave:
        prose.append(f"To fix it, {leave[kind]}, or rename or move {package}.")
    else:
        prose.append(f"To fix it, rename or move {package}, or take {directory} off sys.path.")

    lines = [
        f"{NAMESPACE!r} is another project's regular package here, not the namespace package"
        " of orcapod's distributions:",
        "",
        f"    {origin}",
        "",
    ]
    for paragraph in prose:
        lines += [_fill(paragraph), ""]
    if commands:
        lines += [f"    {command}" for command in commands] + [""]
    if after:
        lines.append(_fill(after))
    return "\n".join(lines).rstrip("\n").replace("\0", " ")


def _fill(paragraph: str) -> str:
    from textwrap import fill

    return fill(paragraph, 88, break_long_words=False, break_on_hyphens=False)


def _shortened(paths: "list[str]", shown: int = 4) -> str:
    more = len(paths) - shown
    return ", ".join(paths[:shown]) + (f" and {more} more" if more > 0 else "")


def _on_path(directory: str) -> "tuple[str, str]":
    """How ``directory`` (the one holding the foreign package) got on ``sys.path``.

    Returns one of USER, ENV, BASE, PYTHONPATH, CWD, SCRIPT, OTHER (the first
    that applies: an installer's directory before an entry naming it), and the
    entry of ``PYTHONPATH`` naming it (else ``directory``).
    """
    import os
    import site
    import sysconfig

    real = os.path.realpath(directory)

    def same(path: "str | None") -> bool:
        return path is not None and os.path.realpath(path or os.curdir) == real

    if same(site.getusersitepackages()):
        return USER, directory
    environment = [
        *site.getsitepackages([sys.prefix, sys.exec_prefix]),
        *{sysconfig.get_path(name) for name in ("purelib", "platlib")},
    ]
    # Under -S a virtual environment's sys.prefix is its base Python's (site sets it):
    # its site-packages is still the one beside the pyvenv.cfg above sys.executable.
    root = os.path.dirname(os.path.dirname(os.path.abspath(sys.executable or os.curdir)))
    if os.path.isfile(os.path.join(root, "pyvenv.cfg")):
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        environment.append(os.path.join(root, "lib", version, "site-packages"))
    if any(same(path) for path in environment):
        return ENV, directory
    if sys.prefix != sys.base_prefix and any(
        same(path) for path in site.getsitepackages([sys.base_prefix, sys.base_exec_prefix])
    ):
        return BASE, directory
    if not sys.flags.ignore_environment:
        for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
            if entry and same(entry):
                return PYTHONPATH, entry
    first = sys.path[0] if sys.path else None
    if same(os.getcwd()) and ("" in sys.path or same(first)):
        return CWD, directory
    script = sys.argv[0] if getattr(sys, "argv", None) else ""
    if (
        script not in ("", "-c", "-m")
        and os.path.isfile(script)
        and same(first)
        and same(os.path.dirname(os.path.abspath(script)))
    ):
        return SCRIPT, directory
    return OTHER, directory


def _distributions(
    origin: str,
) -> "tuple[tuple[str, str] | None, dict[str, tuple[str, str, bool, bool]], list[str], list[str]]":
    """Who installed ``origin``; orcapod's distributions; the files both install; ours among them.

    The owner is the distribution whose RECORD lists ``orcapod/__init__.py`` at
    ``origin``. Ours are the others named ``orcapod-*`` or installing files
    under ``orcapod/`` (of each name the first found on ``sys.path``, the one
    Python imports): name -> (version, the real path of the directory holding
    its .dist-info, whether it installs files under ``orcapod/`` there, whether
    it is an editable install). The last list names ours that install a file
    the owner installs too.
    """
    import json
    import os
    import re
    from importlib.metadata import distributions

    target = os.path.realpath(origin)
    owner: tuple[str, str] | None = None
    owner_files: dict[str, str] = {}  # real path: path in the distribution
    ours: dict[str, tuple[str, str, bool, bool]] = {}
    ours_files: dict[str, set[str]] = {}
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
            try:  # PEP 610: an editable install says so in direct_url.json
                url = json.loads(dist.read_text("direct_url.json") or "{}")
                editable = bool(url.get("dir_info", {}).get("editable"))
            except (ValueError, AttributeError):
                editable = False
            place = os.path.realpath(str(dist.locate_file("")))
            ours[name] = (dist.version, place, bool(files), editable)
            ours_files[name] = set(files)
    shared = sorted(
        owner_files[path] for path in owner_files.keys() & set().union(*ours_files.values())
    )
    damaged = sorted(name for name, files in ours_files.items() if files & owner_files.keys())
    return owner, dict(sorted(ours.items())), shared, damaged

"""The public surface: every public module's ``__all__`` against what the module exports, the
exception tree drawn in ``rtsync.errors``' docstring against the classes defined there, and no
private attribute in the examples, the README or a public docstring.

The modules are found on disk (``rtsync`` and every module or package below it whose dotted name
has no part starting with ``_``), so a module added or split into a package is checked without
editing this file.

The rule, for a module ``M`` with ``__all__``:

* ``__all__`` is sorted the way ruff's RUF022 sorts it (isort-style: SCREAMING_CASE names, then
  CamelCase names, then the rest, each group in natural order), has no duplicates, and every name
  in it resolves (``getattr(M, name)``, which reaches names served lazily by a module
  ``__getattr__``; ``from M import *`` works).
* ``M`` *exports* a name when ``vars(M)[name]`` is a class or a function whose ``__module__`` is
  ``M`` itself or, when ``M`` is a package, a module below ``M``, and the name does not start
  with ``_``. Every exported name is in ``__all__``. Not exports (and so never required):
  submodules and other modules, ``annotations`` (the ``__future__`` feature), typing helpers
  (``TYPE_CHECKING``, ``Any``, ``Callable``, type aliases, ``TypeVar`` objects), constants and other
  instances (a logger, ``RATE``), and classes and functions imported from elsewhere for internal
  use. A public helper that is not meant to be exported takes a leading underscore instead.
* A name in ``__all__`` that is not an export is allowed when it resolves and is not a module: a
  re-export from elsewhere, a constant such as ``UNSET``, a lazy name, or a dunder such as
  ``__version__``.

:data:`PENDING` lists the exports still missing from an ``__all__`` in the current tree, and
:data:`PENDING_PRIVATE_USE` the private attributes still named in public docstrings; the tests
fail when an entry no longer applies, so the lists only shrink.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import types
from pathlib import Path
from typing import Any

import pytest

import rtsync
import rtsync.errors

PACKAGE_DIR = Path(rtsync.__file__).resolve().parent

#: Exports missing from their module's ``__all__`` today, by module (each is to be listed or
#: renamed with a leading underscore by whoever next changes that module).
PENDING: dict[str, set[str]] = {}


def _public_modules() -> list[str]:
    """``rtsync`` and every public module below it, found on disk without importing them."""
    names = ["rtsync"]

    def walk(directory: Path, prefix: str) -> None:
        for info in pkgutil.iter_modules([str(directory)], prefix):
            if info.name.rsplit(".", 1)[1].startswith("_"):
                continue
            names.append(info.name)
            if info.ispkg:
                walk(directory / info.name.rsplit(".", 1)[1], info.name + ".")

    walk(PACKAGE_DIR, "rtsync.")
    return sorted(names)


MODULES = _public_modules()


def _import(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # an optional dependency (tkinter, PyAudio) is missing here
        pytest.skip(f"{name} cannot be imported here: {exc}")


def _natural(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _isort_style(name: str) -> tuple[int, list[Any]]:
    """RUF022's order: SCREAMING_CASE, then CamelCase, then the rest; natural order in each."""
    if len(name) > 1 and name.isupper():
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    return group, _natural(name)


def _exports(module: types.ModuleType) -> set[str]:
    """The names ``module`` exports under the rule in this file's docstring."""
    own = module.__name__
    is_package = hasattr(module, "__path__")
    found = set()
    for name, value in vars(module).items():
        if name.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        origin = getattr(value, "__module__", None) or ""
        if origin == own or (is_package and origin.startswith(own + ".")):
            found.add(name)
    return found


def test_the_walk_finds_the_known_modules() -> None:
    assert {"rtsync", "rtsync.errors", "rtsync.events", "rtsync.server", "rtsync.audio"} <= set(MODULES)
    assert not [m for m in MODULES if "._" in m]


@pytest.mark.parametrize("name", MODULES)
def test_every_public_module_declares_all(name: str) -> None:
    module = _import(name)
    assert isinstance(getattr(module, "__all__", None), (list, tuple)), f"{name} has no __all__ list"


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_unique_and_resolves(name: str) -> None:
    module = _import(name)
    names = list(getattr(module, "__all__", ()))
    assert names == sorted(names, key=_isort_style), f"{name}.__all__ is not sorted (RUF022 order)"
    assert len(names) == len(set(names)), f"{name}.__all__ repeats {sorted(n for n in names if names.count(n) > 1)}"
    for member in names:
        value = getattr(module, member)  # AttributeError names the unresolved member
        assert not isinstance(value, types.ModuleType), f"{name}.__all__ lists the module {member!r}"
    namespace: dict[str, Any] = {}
    exec(f"from {name} import *", namespace)
    assert set(names) <= set(namespace)


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_every_export(name: str) -> None:
    module = _import(name)
    missing = _exports(module) - set(getattr(module, "__all__", ()))
    assert missing == PENDING.get(name, set()), (
        f"{name} exports {sorted(missing)} without listing them in __all__ "
        "(list them, or rename internal helpers with a leading underscore)"
        if missing - PENDING.get(name, set())
        else f"PENDING[{name!r}] is out of date: {sorted(PENDING.get(name, set()) - missing)} are fixed"
    )


def test_pending_names_only_modules_that_exist() -> None:
    assert set(PENDING) <= set(MODULES)


def test_lazy_names_resolve_and_unknown_names_still_fail() -> None:
    lazy = [n for n in rtsync.__all__ if n not in vars(rtsync)]
    assert lazy, "rtsync serves some names lazily (LocalServer, create_client_secret)"
    for name in lazy:
        assert getattr(rtsync, name) is not None
    with pytest.raises(AttributeError):
        rtsync.no_such_name  # noqa: B018


def test_the_rule_catches_what_it_should() -> None:
    """The checks above fail on a module that breaks the rule (so they are not vacuous)."""
    fake = types.ModuleType("rtsync_fake")

    class Public:
        pass

    def helper() -> None:
        pass

    Public.__module__ = helper.__module__ = "rtsync_fake"
    fake.Public, fake.helper, fake._private, fake.Any = Public, helper, helper, Any  # type: ignore[attr-defined]
    fake.imported = inspect.isclass  # type: ignore[attr-defined]
    assert _exports(fake) == {"Public", "helper"}
    assert sorted(["b", "CONST", "A"], key=_isort_style) == ["CONST", "A", "b"]
    assert sorted(["x10", "x9"], key=_isort_style) == ["x9", "x10"]


# -- the exception tree ---------------------------------------------------------------------------


def _exception_classes() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(rtsync.errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == "rtsync.errors"
    }


def _docstring_tree() -> dict[str, str | None]:
    """The tree drawn in the module docstring: each class name -> its parent's name (None: root)."""
    doc = rtsync.errors.__doc__ or ""
    block = doc.split("::", 1)[1]
    parents: dict[str, str | None] = {}
    stack: list[str] = []  # the current path from the root
    root_column = -1
    for line in block.splitlines():
        match = re.match(r"^[\s│├└─]*([A-Z]\w*)\b", line)
        if not match:
            if parents:
                break  # the paragraph after the tree
            continue
        column = match.start(1)
        if root_column < 0:
            root_column = column
        depth, rest = divmod(column - root_column, 4)
        assert rest == 0 and 0 <= depth <= len(stack), f"misaligned tree line: {line!r}"
        stack[depth:] = [match.group(1)]
        parents[match.group(1)] = stack[depth - 1] if depth else None
    return parents


def test_the_errors_docstring_draws_every_exception_under_its_base() -> None:
    classes = _exception_classes()
    tree = _docstring_tree()
    assert set(tree) == set(classes), f"in the module, not the tree: {sorted(set(classes) - set(tree))}; " \
                                      f"in the tree, not the module: {sorted(set(tree) - set(classes))}"
    for name, parent in tree.items():
        bases = [b.__name__ for b in classes[name].__bases__ if b.__module__ == "rtsync.errors"]
        assert bases == ([parent] if parent else []), f"{name}: drawn under {parent}, derives from {bases}"


def test_every_exception_is_exported_from_rtsync() -> None:
    classes = _exception_classes()
    assert set(classes) <= set(rtsync.__all__), sorted(set(classes) - set(rtsync.__all__))
    assert set(classes) == set(rtsync.errors.__all__)
    for name, cls in classes.items():
        assert getattr(rtsync, name) is cls


# -- no private attribute in the examples, the README and the public docstrings -------------------

#: ``obj._name`` (not ``self._name`` / ``cls._name``, an object's own helpers) and a Sphinx role
#: naming a private target (``:meth:`_send`, ``:func:`rtsync._log.redact```).
PRIVATE_USE = re.compile(r"\b(?!self\.|cls\.)\w+\._[a-zA-Z]\w*|:\w+:`~?(?:[\w.]*\.)?_[a-zA-Z]\w*")

#: Uses of a private attribute still in a public docstring today, as (file, text); each is to be
#: replaced by the public path by whoever next changes that file.
PENDING_PRIVATE_USE: set[tuple[str, str]] = set()


def _public_docstrings() -> list[tuple[str, str]]:
    """(file, docstring) of every public module, class, function and method of rtsync."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR.parent).as_posix()
        if any(part.startswith("_") and part != "__init__.py" for part in path.relative_to(PACKAGE_DIR).parts):
            continue  # a private module documents its internals
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Module) or (
                isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and not (node.name.startswith("_") and not node.name.endswith("__"))
            ):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    found.append((relative, doc))
    return found


def _private_uses() -> set[tuple[str, str]]:
    root = PACKAGE_DIR.parent
    examples = sorted(root.glob("examples/*.py"))
    texts = [(p.relative_to(root).as_posix(), p.read_text(encoding="utf-8")) for p in examples]
    texts.append(("README.md", (root / "README.md").read_text(encoding="utf-8")))
    texts += _public_docstrings()
    return {(name, match.group(0)) for name, text in texts for match in PRIVATE_USE.finditer(text)}


def test_no_example_readme_or_public_docstring_uses_a_private_attribute() -> None:
    uses = _private_uses()
    assert uses - PENDING_PRIVATE_USE == set(), "use the public path instead"
    assert PENDING_PRIVATE_USE - uses == set(), "fixed: remove these from PENDING_PRIVATE_USE"


def test_the_private_use_pattern() -> None:
    hits = [m.group(0) for m in PRIVATE_USE.finditer(
        "client._dispatcher rtsync._status self._x cls._y :func:`rtsync._log.redact` :meth:`_send` "
        ":meth:`send` client.conversation obj.__dict__ :class:`~rtsync.client.Reply`"
    )]
    assert hits == ["client._dispatcher", "rtsync._status", ":func:`rtsync._log", ":meth:`_send"]

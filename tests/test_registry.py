"""`lengthgen.registry`: entry points naming one object or a package, lazy loading, broken plugins."""

import sys
import textwrap
from importlib import metadata

import pytest

from lengthgen import registry
from lengthgen.errors import ConfigError
from lengthgen.registry import POSITIONS, TASKS, Registry, task_name

TASK = '''
from lengthgen.task import Task


class {cls}(Task):
    name = "{name}"
'''


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package `regpkg` with two task modules, a helper module and a broken one, on sys.path."""
    pkg = tmp_path / "regpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "alpha.py").write_text(textwrap.dedent(TASK.format(cls="Alpha", name="alpha")))
    (pkg / "beta.py").write_text(textwrap.dedent(TASK.format(cls="Beta", name="beta"))
                                 + "from regpkg.alpha import Alpha  # imported, not declared here\n")
    (pkg / "_helpers.py").write_text(textwrap.dedent(TASK.format(cls="Hidden", name="hidden")))
    (pkg / "gamma.py").write_text("raise RuntimeError('gamma is broken')\n")
    (pkg / "twin.py").write_text(textwrap.dedent(TASK.format(cls="Twin", name="alpha")))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m == "regpkg" or m.startswith("regpkg.")]:
        del sys.modules[name]


def table(monkeypatch, *entries: tuple[str, str]) -> Registry:
    points = [metadata.EntryPoint(name, value, "test.tasks") for name, value in entries]
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: points if group == "test.tasks" else [])
    return Registry("task", "test.tasks", task_name)


def test_package_entry_registers_declared_names(package, monkeypatch):
    tasks = table(monkeypatch, ("ours", "regpkg"))
    assert tasks.names() == ["alpha", "beta"]
    assert tasks.get("beta").__name__ == "Beta" and tasks.origin("alpha") == "regpkg.alpha"
    broken = tasks.broken()
    assert broken["gamma"] == "regpkg.gamma: RuntimeError: gamma is broken"
    assert broken["alpha"] == "regpkg.twin: a second task named 'alpha' (first: regpkg.alpha)"
    with pytest.raises(ConfigError, match="task 'gamma' failed to load from regpkg.gamma: RuntimeError"):
        tasks.get("gamma")


def test_module_entry_registers_what_the_module_declares(package, monkeypatch):
    tasks = table(monkeypatch, ("mine", "regpkg.beta"))
    assert tasks.names() == ["beta"] and tasks.broken() == {}


def test_object_entry_registers_under_the_entry_name(package, monkeypatch):
    tasks = table(monkeypatch, ("first_letter", "regpkg.alpha:Alpha"), ("missing", "regpkg.nowhere:X"))
    assert tasks.names() == ["first_letter"] and tasks.origin("first_letter") == "regpkg.alpha:Alpha"
    assert tasks.broken()["missing"].startswith("regpkg.nowhere:X: ModuleNotFoundError")
    with pytest.raises(ConfigError, match="unknown task 'nope'; valid: first_letter"):
        tasks.get("nope")


def test_registered_object_wins_and_reload_sees_new_entries(package, monkeypatch):
    tasks = table(monkeypatch, ("ours", "regpkg"))
    marker = object()
    tasks.register("beta", marker)
    assert tasks.get("beta") is marker
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [])
    tasks.reload()
    assert tasks.names() == ["alpha", "beta"]


def test_builtins_come_from_their_packages():
    assert TASKS.origin("reverse_string") == "lengthgen_tasks.reverse_string"
    assert POSITIONS.origin("randomized_rope") == "lengthgen.positions.randomized"
    assert TASKS.get("reverse_string").name == "reverse_string"

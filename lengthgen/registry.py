"""Name -> object tables for tasks, position schemes and models.

Each table is filled from a Python entry-point group (`lengthgen.tasks`,
`lengthgen.positions`, `lengthgen.models`), so built-ins and third-party
packages register the same way. An entry point names either one object, registered
under the entry point's name, or a module or package: that module, or every module of that
package, is then searched for what the table holds (a `Task` subclass with a `name`, a `PositionSpec`),
registered under the name the object itself declares. The built-in tasks and schemes are
two such package entries, so a new built-in is one file and no pyproject.toml line.
Entry points are loaded lazily; one that fails to import is reported only when its name
(for a package module: the module's name) is used or listed.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from importlib import metadata
from typing import Any, Callable, Generic, TypeVar

from lengthgen.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """`declared(obj)` gives the name an object found in a package registers under (None: not one)."""

    def __init__(self, kind: str, group: str, declared: Callable[[Any], str | None] = lambda obj: None):
        self.kind = kind
        self.group = group
        self.declared = declared
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str, obj: T, origin: str = "") -> T:
        """Add `obj` under `name` (for tests and in-process plugins)."""
        self._entries[name] = obj
        self._origins[name] = origin or getattr(obj, "__module__", "")
        self._errors.pop(name, None)
        return obj

    def reload(self) -> None:
        """Forget loaded entry points so that newly installed plugins are seen."""
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for ep in metadata.entry_points(group=self.group):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must not break other names
                self._fail(ep.name, ep.value, exc)
                continue
            if isinstance(obj, types.ModuleType):
                self._search(obj)
            elif ep.name not in self._entries:
                self.register(ep.name, obj, ep.value)

    def _search(self, module: types.ModuleType) -> None:
        """Register what `module` declares, or, for a package, every (non-underscore) module of it."""
        if not hasattr(module, "__path__"):
            self._declare(module)
            return
        for info in pkgutil.iter_modules(module.__path__):
            if info.name.startswith("_"):
                continue
            where = f"{module.__name__}.{info.name}"
            try:
                self._declare(importlib.import_module(where))
            except Exception as exc:
                self._fail(info.name, where, exc)

    def _declare(self, module: types.ModuleType) -> None:
        """Register what `module` declares (classes it imports from elsewhere are not its own)."""
        where = module.__name__
        for obj in vars(module).values():
            name = self.declared(obj)
            if not name or self._entries.get(name) is obj or isinstance(obj, type) and obj.__module__ != where:
                continue
            if name in self._entries:
                self._errors[name] = f"{where}: a second {self.kind} named '{name}' (first: {self._origins[name]})"
                continue
            self.register(name, obj, where)

    def _fail(self, name: str, where: str, exc: Exception) -> None:
        if name not in self._entries:
            self._errors[name] = f"{where}: {type(exc).__name__}: {exc}".splitlines()[0]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        """Where `name` came from: its module (a package's) or its entry point's value."""
        self._load()
        return self._origins.get(name, "")

    def broken(self) -> dict[str, str]:
        self._load()
        return dict(self._errors)

    def get(self, name: str) -> T:
        self._load()
        if name in self._entries:
            return self._entries[name]
        if name in self._errors:
            raise ConfigError(f"{self.kind} '{name}' failed to load from {self._errors[name]}")
        raise ConfigError(f"unknown {self.kind} '{name}'; valid: {', '.join(self.names())}")

    def items(self) -> list[tuple[str, Any]]:
        return [(name, self._entries[name]) for name in self.names()]


def task_name(obj: Any) -> str | None:
    from lengthgen.task import Task

    if isinstance(obj, type) and issubclass(obj, Task) and obj.__dict__.get("name"):
        return obj.name
    return None


def scheme_name(obj: Any) -> str | None:
    from lengthgen.positions.base import PositionSpec

    return obj.name if isinstance(obj, PositionSpec) else None


TASKS: Registry = Registry("task", "lengthgen.tasks", task_name)
POSITIONS: Registry = Registry("position", "lengthgen.positions", scheme_name)
MODELS: Registry = Registry("model", "lengthgen.models")

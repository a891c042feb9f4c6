"""Name -> object tables for tasks, position schemes and models.

Each table is filled from a Python entry-point group (`lengthgen.tasks`,
`lengthgen.positions`, `lengthgen.models`), so built-ins and third-party
packages register the same way. Entry points are loaded lazily; one that fails
to import is reported only when its name is used or listed.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Generic, TypeVar

from lengthgen.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._entries: dict[str, T] = {}
        self._errors: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str, obj: T) -> T:
        """Add `obj` under `name` (for tests and in-process plugins)."""
        self._entries[name] = obj
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
            if ep.name in self._entries:
                continue
            try:
                self._entries[ep.name] = ep.load()
            except Exception as exc:  # a broken plugin must not break other names
                self._errors[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}".splitlines()[0]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

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


TASKS: Registry = Registry("task", "lengthgen.tasks")
POSITIONS: Registry = Registry("position", "lengthgen.positions")
MODELS: Registry = Registry("model", "lengthgen.models")

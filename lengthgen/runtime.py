"""Process-wide JAX settings: the persistent compilation cache, and compile accounting.

Sweeps compile the same programs over and over (every seed of a configuration
has the same program), so compiled programs are cached on disk, keyed by
their HLO. LENGTHGEN_CACHE_DIR chooses the folder (default
~/.cache/lengthgen/xla); set it to "off" to disable. Every program is cached,
however fast it compiled: a run's programs at toy size take a fraction of a
second each, and a sweep of hundreds of runs repeats them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_CACHE = Path.home() / ".cache" / "lengthgen" / "xla"


def enable_compilation_cache() -> str | None:
    """Point JAX's persistent compilation cache at LENGTHGEN_CACHE_DIR; returns the folder used."""
    import jax

    folder = os.environ.get("LENGTHGEN_CACHE_DIR", str(DEFAULT_CACHE))
    if folder.lower() in ("", "off", "none", "0"):
        return None
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder


COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


class CompileCounter:
    """Programs JAX builds while active: how many, how many of them came from the persistent
    cache, and the seconds spent tracing, lowering and compiling (or loading) them."""

    _instance: "CompileCounter | None" = None

    def __init__(self):
        self.programs = self.loaded = 0
        self.seconds = 0.0

    @classmethod
    def get(cls) -> "CompileCounter":
        if cls._instance is None:
            from jax import monitoring

            cls._instance = cls()
            monitoring.register_event_duration_secs_listener(cls._instance._on_duration)
            monitoring.register_event_listener(cls._instance._on_event)
        return cls._instance

    def _on_duration(self, name: str, duration: float, **kwargs) -> None:
        if name in COMPILE_EVENTS:
            self.seconds += duration
        if name == COMPILE_EVENTS[-1]:
            self.programs += 1

    def _on_event(self, name: str, **kwargs) -> None:
        if name == "/jax/compilation_cache/cache_hits":
            self.loaded += 1

    def totals(self) -> tuple[int, int, float]:
        return self.programs, self.loaded, self.seconds

    def since(self, before: tuple[int, int, float]) -> dict[str, float]:
        """Summary fields for what was built since `before` (a `totals()`)."""
        programs, loaded, seconds = (now - then for now, then in zip(self.totals(), before))
        return {"compiled_programs": programs - loaded, "loaded_programs": loaded,
                "compile_seconds": round(seconds, 3)}


def progress_bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, file=sys.stderr, dynamic_ncols=True, leave=False)

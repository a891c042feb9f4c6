"""Process-wide JAX settings: the persistent compilation cache.

Sweeps compile the same programs over and over (every seed of a configuration
has the same program), so compiled programs are cached on disk, keyed by
their HLO. LENGTHGEN_CACHE_DIR chooses the folder (default
~/.cache/lengthgen/xla); set it to "off" to disable.
"""

from __future__ import annotations

import os
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
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return folder

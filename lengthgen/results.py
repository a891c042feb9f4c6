"""Files a run writes, always atomically (temp file + rename): a crash or kill
never leaves a half-written result, and a finished file is never lost.

A writer killed mid-write can leave only its hidden temp file (`.NAME.*.tmp`)
behind; `remove_temp_files` clears those when the run is launched again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from flax import serialization

from lengthgen.errors import ConfigError, one_line

CHECKPOINT = "checkpoint.msgpack"
PARAMS = "params.msgpack"
TEMP_SUFFIX = ".tmp"


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    write_text(path, frame.to_csv(index=False))


def remove_temp_files(directory: Path) -> list[Path]:
    """Delete the temp files that killed writers left in `directory`; returns them."""
    stale = [p for p in Path(directory).glob(f"*{TEMP_SUFFIX}") if p.name.startswith(".") and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def save_checkpoint(run_dir: Path, state: Any, meta: dict[str, Any]) -> None:
    """Full training state (params, optimizer, step, PRNG keys) plus metadata."""
    payload = serialization.msgpack_serialize({"state": serialization.to_state_dict(state), "meta": meta})
    write_bytes(Path(run_dir) / CHECKPOINT, payload)


def save_params(run_dir: Path, params: Any) -> None:
    """The final parameters of every model of a run (leading axis: model), for inspection."""
    write_bytes(Path(run_dir) / PARAMS, serialization.msgpack_serialize(serialization.to_state_dict(params)))


def read_params(run_dir: Path, template: Any) -> Any:
    """A run's final parameters, filled into `template` (its parameter shapes)."""
    path = Path(run_dir) / PARAMS
    if not path.exists():
        raise ConfigError(f"{run_dir} has no {PARAMS}: it is not a finished run, or it finished before runs kept "
                          "their final parameters; run it again")
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
    except Exception as exc:
        raise ConfigError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from None
    return restore_state(template, raw, str(path))


def read_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The raw checkpoint `{"state": ..., "meta": ...}` of `run_dir`, or None if it has none."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
        if not isinstance(raw, dict) or not {"state", "meta"} <= set(raw):
            raise ValueError("missing 'state' or 'meta'")
    except Exception as exc:
        raise ConfigError(f"checkpoint {path} is unreadable ({type(exc).__name__}: {exc}); "
                          "delete it to restart the run") from None
    return raw


def restore_state(template: Any, raw_state: Any, where: str = CHECKPOINT) -> Any:
    """Fill `template` (arrays or shape structs) from a checkpoint's state dict, checking every shape."""
    import jax

    try:
        state = serialization.from_state_dict(template, raw_state)
    except Exception as exc:
        raise ConfigError(f"{where} does not match this run's model ({one_line(exc)}); "
                          "use another output directory") from None
    for (keypath, want), have in zip(jax.tree_util.tree_leaves_with_path(template), jax.tree.leaves(state)):
        have = np.asarray(have)
        if tuple(have.shape) != tuple(want.shape) or have.dtype != want.dtype:
            raise ConfigError(f"{where}: {jax.tree_util.keystr(keypath)} has shape {have.shape} {have.dtype}, "
                              f"this run needs {tuple(want.shape)} {want.dtype}; use another output directory")
    return state

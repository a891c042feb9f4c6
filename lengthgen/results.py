"""Files a run writes, always atomically (temp file + rename): a crash or kill
never leaves a half-written result, and a finished file is never lost."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from flax import serialization

CHECKPOINT = "checkpoint.msgpack"


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def save_checkpoint(run_dir: Path, state: Any, meta: dict[str, Any]) -> None:
    """Full training state (params, optimizer, step, PRNG keys) plus metadata."""
    payload = serialization.msgpack_serialize({"state": serialization.to_state_dict(state), "meta": meta})
    write_bytes(Path(run_dir) / CHECKPOINT, payload)


def load_checkpoint(run_dir: Path, template: Any) -> tuple[Any, dict[str, Any]] | None:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    raw = serialization.msgpack_restore(path.read_bytes())
    return serialization.from_state_dict(template, raw["state"]), raw["meta"]

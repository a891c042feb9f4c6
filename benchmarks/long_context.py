"""Very long evaluation lengths with context parallelism, on this machine.

    python benchmarks/long_context.py                          # copy lengths 8192, 16384, 32768; context 2 and 1
    python benchmarks/long_context.py --lengths 4096 --contexts 2

Each point is one `lengthgen-train` run in its own process with
XLA_FLAGS=--xla_force_host_platform_device_count=2: a 2-layer decoder (d_model 64, 4 heads, RoPE)
trained 20 steps on copy, then evaluated on one instance at one length (2 x length + 1 slots) with
`mesh.context=C`. Prints the evaluation seconds and the process's peak resident memory, and writes
benchmarks/out/long_context.json. On one CPU the forced devices share its cores and memory: the
figure says what one machine can evaluate; on several accelerators each holds 1/C of the sequence.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TRAIN = Path(sys.executable).parent / "lengthgen-train"
MODEL = ["task=copy", "model=decoder", "position=rope", "model.layers=2", "model.d_model=64", "model.heads=4",
         "model.mlp_dim=256", "train.steps=20", "train.max_length=8", "eval.samples_per_length=1", "progress=false"]


def point(length: int, context: int, root: Path) -> dict:
    """One run evaluated at `length` over `context` devices: seconds and peak memory."""
    run_dir = root / f"L{length}_C{context}"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    start = time.perf_counter()
    child = subprocess.Popen([str(TRAIN), *MODEL, f"eval.min_length={length}", f"eval.max_length={length}",
                              f"mesh.context={context}", f"hydra.run.dir={run_dir}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"length {length}, context {context} failed: {child.stderr.read().decode()[-500:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"length": length, "slots": 2 * length + 1, "context": context, "wall_seconds": round(wall, 1),
            "eval_seconds": summary["eval_seconds"], "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2),
            "token_acc": summary["mean_test_token_acc"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[8192, 16384, 32768])
    parser.add_argument("--contexts", type=int, nargs="+", default=[2, 1])
    args = parser.parse_args()
    points = []
    with tempfile.TemporaryDirectory() as root:
        for length in args.lengths:
            for context in args.contexts:
                p = point(length, context, Path(root))
                points.append(p)
                print(f"length {p['length']:>6} ({p['slots']:>6} slots), context {context}: evaluation "
                      f"{p['eval_seconds']:.1f} s, peak memory {p['peak_rss_gib']:.2f} GiB", flush=True)
    OUT.mkdir(exist_ok=True)
    record = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "points": points}
    (OUT / "long_context.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {OUT / 'long_context.json'}")


if __name__ == "__main__":
    main()

"""Launchers on this machine: one sweep of 4 position schemes, run one after another or in parallel.

    python benchmarks/launchers.py              # 3 launch modes x cold/warm cache x 2 repeats
    python benchmarks/launchers.py --repeats 1 --steps 100

Modes: the basic launcher (one process, runs in turn), joblib with n_jobs=1 (one worker process,
runs in turn) and joblib with n_jobs=2 (two processes, each pinned to cores / 2). "cold" starts
with an empty persistent compilation cache, "warm" repeats the sweep with the cache the cold sweep
filled. Prints the wall times (and the load average before each sweep: other work on the machine
slows every mode) and writes benchmarks/out/launchers.json.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lengthgen.run import git_commit  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
TRAIN = Path(sys.executable).parent / "lengthgen-train"
SCHEMES = "sinusoidal,rope,alibi,randomized_rope"
SMALL = ["task=reverse_string", "model=encoder", "model.layers=2", "model.d_model=32", "model.heads=4",
         "model.mlp_dim=64", "train.max_length=8", "eval.max_length=16", "train.batch_size=32",
         "eval.samples_per_length=32", "progress=false"]
MODES = {"basic": ["hydra/launcher=basic"], "joblib n_jobs=1": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=1"],
         "joblib n_jobs=2": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}


def sweep(mode: str, steps: int, cache: Path, out: Path) -> dict:
    """Run the 4-scheme sweep; wall seconds and what its runs spent building programs."""
    env = {**os.environ, "LENGTHGEN_CACHE_DIR": str(cache)}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([str(TRAIN), "-m", f"position={SCHEMES}", f"train.steps={steps}", *SMALL, *MODES[mode],
                           f"hydra.sweep.dir={out}"], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{mode}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    wall = time.perf_counter() - start
    summaries = [json.loads(p.read_text()) for p in out.glob("*/summary.json")]
    assert len(summaries) == 4, f"{mode}: {len(summaries)} of 4 runs finished"
    return {"mode": mode, "wall_s": round(wall, 2), "load_before": round(load, 2),
            "compile_s": round(sum(s["compile_seconds"] for s in summaries), 2),
            "compiled": sum(s["compiled_programs"] for s in summaries),
            "loaded": sum(s["loaded_programs"] for s in summaries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lengthgen-launchers-") as tmp:
        for repeat in range(args.repeats):
            for mode in MODES:
                name = mode.replace(" ", "_").replace("=", "")
                cache = Path(tmp) / f"cache-{repeat}-{name}"
                for cache_state in ("cold", "warm"):
                    out = Path(tmp) / f"sweep-{repeat}-{name}-{cache_state}"
                    row = {"repeat": repeat, "cache": cache_state, **sweep(mode, args.steps, cache, out)}
                    rows.append(row)
                    print(f"{row['mode']:<16} {cache_state:<5} repeat {repeat}: {row['wall_s']:7.1f} s "
                          f"(load {row['load_before']:.1f}; {row['compiled']} programs compiled, "
                          f"{row['loaded']} loaded, {row['compile_s']:.1f} s building)", flush=True)
    print("\nmean wall seconds")
    for cache_state in ("cold", "warm"):
        means = {m: sum(r["wall_s"] for r in rows if r["mode"] == m and r["cache"] == cache_state) / args.repeats
                 for m in MODES}
        print(f"  {cache_state}: " + ", ".join(f"{m} {s:.1f}" for m, s in means.items()))
    OUT.mkdir(exist_ok=True)
    result = {"rows": rows, "steps": args.steps, "schemes": SCHEMES, "config": SMALL, "cores": os.cpu_count(),
              "cpu": platform.processor() or platform.machine(), "commit": git_commit()}
    (OUT / "launchers.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {OUT / 'launchers.json'}")


if __name__ == "__main__":
    main()

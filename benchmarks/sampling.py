"""Time to sample one batch of 128 at length 500 for every registered task (and task format).

Sampling must stay cheap next to a training step (a step at length 40, batch 128,
d_model 64, 5 layers takes about 0.15-0.4 s on a CPU): the target is below 10 ms per
batch. Tasks whose options cap the length (e.g. a padded scratchpad's pad_length, or
variable_assignment's name pool) are timed at the largest length they accept.

    python benchmarks/sampling.py [--length 500] [--batch 128] [--repeats 20]

Prints a table of ms per batch and writes benchmarks/out/sampling.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from lengthgen.check import usable_lengths
from lengthgen.registry import TASKS

TARGET_MS = 10.0


def configurations() -> list[tuple[str, dict]]:
    """Every registered task with default options, plus each other value of a `format` option."""
    out = []
    for name in TASKS.names():
        out.append((name, {}))
        out += [(name, {"format": fmt}) for fmt in getattr(TASKS.get(name), "FORMATS", ())[1:]]
    return out


def time_sampling(task, length: int, batch: int, repeats: int) -> float:
    """Median milliseconds per batch over `repeats` batches (after one warm-up batch)."""
    task.sample(np.random.default_rng(0), length, batch)
    times = []
    for r in range(repeats):
        rng = np.random.default_rng(r + 1)
        start = time.perf_counter()
        task.sample(rng, length, batch)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=500)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", default=str(Path(__file__).parent / "out" / "sampling.json"))
    args = p.parse_args(argv)

    rows = []
    for name, options in configurations():
        task = TASKS.get(name)(**options)
        length = usable_lengths(task, range(1, args.length + 1))[-1]
        ms = time_sampling(task, length, args.batch, args.repeats)
        label = name + "".join(f" {k}={v}" for k, v in options.items())
        rows.append({"task": name, "options": options, "label": label, "length": length, "batch": args.batch,
                     "ms_per_batch": round(ms, 3)})

    width = max(len(r["label"]) for r in rows)
    print(f"{'task':<{width}}  {'length':>6}  {'ms/batch':>8}")
    for r in rows:
        flag = "" if r["ms_per_batch"] < TARGET_MS else f"  (over {TARGET_MS:g} ms)"
        print(f"{r['label']:<{width}}  {r['length']:>6}  {r['ms_per_batch']:>8.2f}{flag}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"target_ms": TARGET_MS, "repeats": args.repeats, "machine": platform.machine(),
                               "python": platform.python_version(), "numpy": np.__version__, "rows": rows},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

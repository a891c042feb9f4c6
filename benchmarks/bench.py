"""Speed benchmark: training and evaluation throughput against this machine's measured matmul peak.

    python benchmarks/bench.py            # everything (end to end takes tens of minutes on 2 cores)
    python benchmarks/bench.py --quick    # the peak and steady-state training only (< 1 minute)

Prints the figures and writes benchmarks/out/bench.json. Configuration of the
reference measurements (Ruoss et al. setup): encoder, 5 layers, d_model 64,
8 heads, MLP 256, batch 128, reverse_string, input length 40 (80 slots with the
output placeholders).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lengthgen.build import build  # noqa: E402
from lengthgen.config import EvalConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from lengthgen.data import TrainStream, encode, eval_batch, seq_len  # noqa: E402
from lengthgen.cost import bucket_rows, forward_flops  # noqa: E402
from lengthgen.evaluate import eval_buckets  # noqa: E402
from lengthgen.run import git_commit, run  # noqa: E402
from lengthgen.data import raw_key  # noqa: E402
from lengthgen.program import Program  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
MODEL = ModelConfig(kind="encoder", layers=5, d_model=64, heads=8, mlp_dim=256)


def config(length: int = 40, min_length: int | None = None, seeds: int = 1, position: str = "sinusoidal",
           batch_size: int = 128, buckets: int = 1, model: ModelConfig = MODEL, eval_cfg: EvalConfig | None = None,
           steps: int = 10_000) -> RunConfig:
    train = TrainConfig(max_length=length, min_length=min_length or length, steps=steps, batch_size=batch_size,
                        chunk_steps=10, buckets=buckets, seeds=seeds)
    return RunConfig(task={"name": "reverse_string"}, position={"name": position}, model=model, train=train,
                     eval=eval_cfg or EvalConfig(max_length=500, samples_per_length=128), progress=False)


def peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    """fp32 matmul throughput of a large jitted matmul (GFLOP/s)."""
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    f(a, a).block_until_ready()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            out = f(a, a)
        out.block_until_ready()
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * n**3 / best / 1e9


def model_flops_per_step(cfg: RunConfig, slots: int) -> float:
    """Forward + backward FLOPs of one training step (matmuls and attention; 3x the forward)."""
    built = build(cfg)
    return 3.0 * forward_flops(cfg.model, built.model.attention, slots, built.task.vocab_size) * cfg.train.batch_size


def warm_chunk(cfg: RunConfig):
    """(program, state, chunk, slots): a training chunk compiled and run once."""
    built = build(cfg)
    program = Program(built)
    t = cfg.train
    stream = TrainStream(built.task, built.layout, built.train_lengths, 1, t.batch_size, t.chunk_steps)
    state = program.start(max(stream.sizes))
    _, chunk = stream.chunk([seed for _, seed in cfg.models], 0)
    state, metrics = program.train_chunk(state, chunk)
    jax.block_until_ready(metrics)
    return program, state, chunk, max(stream.sizes)


def train_throughput(cfg: RunConfig, chunks: int = 4) -> dict[str, float]:
    """Steady-state steps/s of the compiled training chunk (compile excluded)."""
    program, state, chunk, slots = warm_chunk(cfg)
    t = cfg.train
    best = float("inf")
    for _ in range(chunks):
        start = time.perf_counter()
        state, metrics = program.train_chunk(state, chunk)
        jax.block_until_ready(metrics)
        best = min(best, time.perf_counter() - start)
    steps_per_s = t.chunk_steps / best
    flops = model_flops_per_step(cfg, slots) * len(cfg.seeds)
    return {"steps_per_s": steps_per_s, "tokens_per_s": steps_per_s * t.batch_size * slots * len(cfg.seeds),
            "model_gflops": flops / 1e9, "achieved_gflops": flops * steps_per_s / 1e9}


def eval_throughput(lengths=(100, 250, 500)) -> dict[str, float]:
    """Evaluation instances/s at fixed lengths (a trained-size model with random parameters)."""
    built = build(config(eval_cfg=EvalConfig(max_length=max(lengths), samples_per_length=128)))
    program = Program(built)
    params = program.start(80).params
    out = {}
    for n in lengths:
        size = seq_len(built.task, n)
        rows = bucket_rows(built, size)
        batch = eval_batch(built.task, n, rows, 0)
        ex = encode(built.task, batch, n, built.layout, size, rows)
        jax.block_until_ready(program.eval_batch(params, ex, raw_key(0)))
        start = time.perf_counter()
        jax.block_until_ready(program.eval_batch(params, ex, raw_key(1)))
        out[str(n)] = rows / (time.perf_counter() - start)
    return out


def profile() -> dict[str, float]:
    """Where a training step's time goes, at the benchmark configuration:
    - the step as is, and with attention replaced by the identity (q, k, v -> v);
    - one traced chunk: the summed run time of the compiled program's operations,
      split into attention-shaped ones (B x H x S x S logits, B x H x S x K heads)
      and the rest, over wall time (= how many of the cores were busy on average);
    - evaluation at lengths 250 and 500 with attention over all queries at once
      vs in blocks of queries (`attention.QUERY_BLOCK_LOGITS`)."""
    import lengthgen.attention as attention
    import lengthgen.models.transformer as transformer

    full = 1000 / train_throughput(config())["steps_per_s"]
    attend = transformer.attend
    transformer.attend = lambda q, k, v, *args: v
    try:
        without = 1000 / train_throughput(config())["steps_per_s"]
    finally:
        transformer.attend = attend
    out = {"step_ms": full, "step_ms_without_attention": without, "attention_ms": full - without}
    out.update(traced_step())
    blocked = eval_throughput((250, 500))
    limit = attention.QUERY_BLOCK_LOGITS
    attention.QUERY_BLOCK_LOGITS = 1 << 62
    try:
        whole = eval_throughput((250, 500))
    finally:
        attention.QUERY_BLOCK_LOGITS = limit
    out.update({f"eval_{n}_whole": whole[n] for n in whole} | {f"eval_{n}_blocked": blocked[n] for n in blocked})
    return out


def traced_step() -> dict[str, float]:
    """Op time of one traced 10-step chunk, per step: attention-shaped ops, the rest, and wall time."""
    import collections
    import gzip
    import re

    cfg = config()
    program, state, chunk, slots = warm_chunk(cfg)
    hlo = program.functions.train_chunk.lower(state, chunk).compile().as_text()
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            start = time.perf_counter()
            state, metrics = program.train_chunk(state, chunk)
            jax.block_until_ready(metrics)
            wall = time.perf_counter() - start
        trace = json.load(gzip.open(next(Path(folder).rglob("*.trace.json.gz"))))
    shapes = dict(re.findall(r"^\s*(?:ROOT )?%?([\w.\-]+) = \(?\w+\[([\d,]*)\]", hlo, re.M))
    h, s, k = cfg.model.heads, slots, cfg.model.d_model // cfg.model.heads
    attention_shapes = (f"{h},{s},{s}", f"{h},{s},{k}", f"{h},{k},{s}")
    busy = collections.Counter()
    for event in trace["traceEvents"]:
        if event.get("ph") == "X" and event["name"] in shapes:
            kind = "attention" if shapes[event["name"]].endswith(attention_shapes) else "other"
            busy[kind] += event.get("dur", 0) / 1e3 / cfg.train.chunk_steps
    step = 1000 * wall / cfg.train.chunk_steps
    return {"traced_step_ms": step, "op_ms_attention": busy["attention"], "op_ms_other": busy["other"],
            "cores_busy": (busy["attention"] + busy["other"]) / step}


def eval_padding(cfg: RunConfig) -> tuple[float, list[int]]:
    """Model FLOPs of the evaluation as padded to its buckets over those at the real lengths,
    and the buckets' longest lengths."""
    built = build(cfg)

    def flops(size: int) -> float:
        return model_flops_per_step(cfg, size) / cfg.train.batch_size

    groups = eval_buckets(built, built.eval_lengths, built.task)
    padded = sum(len(g) * flops(seq_len(built.task, g[-1])) for g in groups)
    return padded / sum(flops(seq_len(built.task, n)) for n in built.eval_lengths), [g[-1] for g in groups]


def end_to_end() -> dict[str, float]:
    """10,000 steps of U{1..40} training plus evaluation of lengths 41..500 (128 each), via the real run()."""
    cfg = config(min_length=1, buckets=4,
                 eval_cfg=EvalConfig(min_length=41, max_length=500, samples_per_length=128, buckets=7))
    padding, ends = eval_padding(cfg)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        summary = run(cfg, Path(tmp))
    return {"end_to_end_minutes": (time.perf_counter() - start) / 60,
            "compiled_programs": summary["compiled_programs"] + summary["loaded_programs"],
            "e2e_train_seconds": summary["train_seconds"], "e2e_eval_seconds": summary["eval_seconds"],
            "e2e_eval_bucket_ends": ends, "e2e_eval_padded_over_real_flops": padding}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="peak and steady-state training only")
    parser.add_argument("--profile", action="store_true", help="only where a step's time goes, and query blocks at evaluation")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end run (tens of minutes)")
    parser.add_argument("--e2e-only", action="store_true", help="only the peak and the end-to-end run")
    args = parser.parse_args()
    os.environ.setdefault("LENGTHGEN_CACHE_DIR", "off")
    report: dict[str, object] = {"device": str(jax.devices()[0]), "platform": platform.platform(),
                                 "cpus": os.cpu_count(), "jax": jax.__version__, "git_commit": git_commit()}
    peak = peak_gflops()
    report["peak_gflops"] = peak
    print(f"device {report['device']} (commit {str(report['git_commit'])[:7]}): fp32 matmul peak {peak:.1f} GFLOP/s")
    if args.profile:
        split = profile()
        report.update(split)
        print(f"step {split['step_ms']:.0f} ms = attention {split['attention_ms']:.0f} ms "
              f"+ everything else {split['step_ms_without_attention']:.0f} ms")
        print(f"traced step {split['traced_step_ms']:.0f} ms: operations ran {split['op_ms_attention']:.0f} ms "
              f"(attention-shaped) + {split['op_ms_other']:.0f} ms (the rest), "
              f"{split['cores_busy']:.2f} cores busy on average of {os.cpu_count()}")
        print("eval instances/s, all queries at once vs query blocks: " + ", ".join(
            f"length {n}: {split[f'eval_{n}_whole']:.1f} vs {split[f'eval_{n}_blocked']:.1f}" for n in ("250", "500")))
        write(report, "bench_profile.json")
        return

    if args.e2e_only:
        add_end_to_end(report)
        write(report, "bench_e2e.json")
        return

    for position in ("sinusoidal", "t5") if not args.quick else ("sinusoidal",):
        fig = train_throughput(config(position=position))
        key = "" if position == "sinusoidal" else f"_{position}"
        report.update({f"{k}{key}": v for k, v in fig.items()})
        report[f"fraction_of_peak{key}"] = fig["achieved_gflops"] / peak
        print(f"train {position:>10}: {fig['steps_per_s']:.2f} steps/s, {fig['tokens_per_s']:.0f} tokens/s, "
              f"{fig['model_gflops']:.1f} GFLOP/step, {fig['achieved_gflops']:.1f} GFLOP/s = "
              f"{fig['achieved_gflops'] / peak:.0%} of peak")

    if not args.quick:
        one = train_throughput(config(seeds=1))
        eight = train_throughput(config(seeds=8))
        report["seeds8_over_1"] = one["steps_per_s"] / eight["steps_per_s"]
        small = ModelConfig(kind="encoder", layers=2, d_model=32, heads=4, mlp_dim=128)
        one_s = train_throughput(config(seeds=1, batch_size=32, model=small))
        eight_s = train_throughput(config(seeds=8, batch_size=32, model=small))
        report["seeds8_over_1_small"] = one_s["steps_per_s"] / eight_s["steps_per_s"]
        print(f"8 seeds at once take {report['seeds8_over_1']:.2f}x the time of one seed "
              f"({report['seeds8_over_1_small']:.2f}x for a 2-layer d_model 32 model at batch 32)")
        report["eval_instances_per_s"] = eval_throughput()
        print("eval instances/s: " + ", ".join(f"length {k}: {v:.0f}" for k, v in
                                                report["eval_instances_per_s"].items()))
        if not args.no_e2e:
            add_end_to_end(report)
    write(report, "bench.json")


def add_end_to_end(report: dict) -> None:
    report.update(end_to_end())
    print(f"end to end (10k steps U{{1..40}} + eval 41..500): {report['end_to_end_minutes']:.1f} min "
          f"(training {report['e2e_train_seconds'] / 60:.1f}, evaluation {report['e2e_eval_seconds'] / 60:.1f}), "
          f"{report['compiled_programs']} programs compiled; evaluation buckets end at lengths "
          f"{', '.join(map(str, report['e2e_eval_bucket_ends']))} and cost "
          f"{report['e2e_eval_padded_over_real_flops']:.2f}x the FLOPs of the real lengths")


def write(report: dict, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()

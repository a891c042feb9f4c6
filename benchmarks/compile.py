"""Where compile time goes, and what cuts it: each program of a run compiled under variants.

    python benchmarks/compile.py            # reference and demo size (~10 min on 2 idle cores)
    python benchmarks/compile.py --quick    # demo size only

For the init, training-chunk and evaluation programs of one run it times trace + lower
and XLA compile (no persistent cache), then the variants the choice was made from:
  init    at the default LLVM level and at `INIT_OPTIONS` (what runs), same bits or not;
  chunk   K = 2 / 10 / 50 steps per scan, `unroll=2`, and LLVM levels 1 and 2: compile
          seconds, seconds per step, and whether the state after one chunk is bit-identical
          to the default's (K changes how many steps a chunk holds, so its state differs);
  eval    LLVM level 1: compile seconds and seconds per batch.
Figures go to benchmarks/out/compile.json. Quote ratios from one run: shared machines are noisy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ["LENGTHGEN_CACHE_DIR"] = "off"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.study import DEMO, REFERENCE  # noqa: E402
from lengthgen.build import build  # noqa: E402
from lengthgen.config import EvalConfig, RunConfig, TrainConfig  # noqa: E402
from lengthgen.cost import bucket_rows  # noqa: E402
from lengthgen.data import TrainStream, encode, eval_batch, raw_key, seq_len  # noqa: E402
from lengthgen.program import INIT_OPTIONS, Program  # noqa: E402
from lengthgen.run import git_commit  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
SIZES = {"reference": (REFERENCE, 40, 128, 500), "demo": (DEMO, 16, 64, 48)}
DEFAULT = {"xla_backend_optimization_level": 3}


def digest(tree) -> str:
    return hashlib.sha256(b"".join(np.asarray(x).tobytes() for x in jax.tree.leaves(tree))).hexdigest()[:16]


def timed_compile(fn, args, options=None) -> tuple[float, float, object]:
    start = time.perf_counter()
    lowered = fn.lower(*args)
    trace = time.perf_counter() - start
    start = time.perf_counter()
    compiled = lowered.compile(options) if options else lowered.compile()
    return trace, time.perf_counter() - start, compiled


def per_step(compiled, state, chunk, steps: int, repeats: int = 3) -> tuple[float, str]:
    """(seconds per step over `repeats` chunks after a first one, digest of the state after the first)."""
    state, metrics = compiled(jax.tree.map(jnp.copy, state), chunk)
    first = digest((state.params, metrics))
    start = time.perf_counter()
    for _ in range(repeats):
        state, metrics = compiled(state, chunk)
    jax.block_until_ready(state)
    return (time.perf_counter() - start) / (repeats * steps), first


def profile(name: str) -> dict:
    model, length, batch, eval_length = SIZES[name]

    def setup(chunk_steps: int):
        cfg = RunConfig(task={"name": "reverse_string"}, position={"name": "sinusoidal"}, model=model,
                        train=TrainConfig(max_length=length, batch_size=batch, chunk_steps=chunk_steps, buckets=1),
                        eval=EvalConfig(max_length=eval_length, samples_per_length=batch), progress=False)
        built = build(cfg)
        program = Program(built)
        stream = TrainStream(built.task, built.layout, [length], 1, batch, chunk_steps)
        return built, program, stream.sizes[0], stream.chunk([0], 0)[1]

    built, program, size, chunk = setup(10)
    f = program.functions
    keys, hyper = program.model_inputs()
    out: dict[str, object] = {}
    plain_init = jax.jit(f.init_models, static_argnums=2)
    for label, fn in (("init_default", plain_init), ("init_light", f.init)):
        trace, compile_s, compiled = timed_compile(fn, (keys, hyper, size))
        out[f"{label}_trace_s"], out[f"{label}_compile_s"] = trace, compile_s
        out[f"{label}_digest"] = digest(compiled(keys, hyper))
    out["init_same_bits"] = out["init_default_digest"] == out["init_light_digest"]
    state = f.init(keys, hyper, size)

    for label, options in (("chunk_default", None), ("chunk_level2", {"xla_backend_optimization_level": 2}),
                           ("chunk_level1", {"xla_backend_optimization_level": 1})):
        trace, compile_s, compiled = timed_compile(f.train_chunk, (state, chunk), options)
        step_s, first = per_step(compiled, state, chunk, 10)
        out.update({f"{label}_trace_s": trace, f"{label}_compile_s": compile_s, f"{label}_step_s": step_s,
                    f"{label}_same_bits": first == out.setdefault("chunk_default_digest", first)})
    for steps in (2, 50):
        _, p, _, c = setup(steps)
        trace, compile_s, compiled = timed_compile(p.functions.train_chunk, (state, c))
        out[f"chunk_k{steps}_compile_s"], (out[f"chunk_k{steps}_step_s"], _) = compile_s, per_step(compiled, state, c, steps)
    unrolled = jax.jit(jax.vmap(lambda s, c: jax.lax.scan(f._train_step, s, c, unroll=2)), donate_argnums=0)
    trace, compile_s, compiled = timed_compile(unrolled, (state, chunk))
    out["chunk_unroll2_compile_s"], (out["chunk_unroll2_step_s"], _) = compile_s, per_step(compiled, state, chunk, 10)

    eval_size = seq_len(built.task, eval_length)
    rows = bucket_rows(built, eval_size)
    ex = encode(built.task, eval_batch(built.task, eval_length, rows, 0), eval_length, built.layout, eval_size, rows)
    for label, options in (("eval_default", None), ("eval_level1", {"xla_backend_optimization_level": 1})):
        trace, compile_s, compiled = timed_compile(f.eval_batch, (state.params, ex, raw_key(1)), options)
        jax.block_until_ready(compiled(state.params, ex, raw_key(1)))
        start = time.perf_counter()
        result = jax.block_until_ready(compiled(state.params, ex, raw_key(1)))
        out.update({f"{label}_trace_s": trace, f"{label}_compile_s": compile_s,
                    f"{label}_batch_s": time.perf_counter() - start, f"{label}_digest": digest(result)})
    out["eval_level1_same_bits"] = out.pop("eval_default_digest") == out.pop("eval_level1_digest")
    return {f"{name}_{k}": v for k, v in out.items() if not k.endswith("_digest")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="demo size only")
    args = parser.parse_args()
    report: dict[str, object] = {"device": str(jax.devices()[0]), "git_commit": git_commit(), "cpus": os.cpu_count(),
                                 "init_options": INIT_OPTIONS}
    for name in (("demo",) if args.quick else ("reference", "demo")):
        r = profile(name)
        report.update(r)

        def g(key):
            return r[f"{name}_{key}"]

        print(f"{name} size, seconds (trace + compile):")
        print(f"  init: default {g('init_default_trace_s'):.1f} + {g('init_default_compile_s'):.1f}, "
              f"INIT_OPTIONS {g('init_light_trace_s'):.1f} + {g('init_light_compile_s'):.1f} "
              f"(same bits: {g('init_same_bits')})")
        print(f"  training chunk (10 steps): default {g('chunk_default_trace_s'):.1f} + {g('chunk_default_compile_s'):.1f}, "
              f"{g('chunk_default_step_s') * 1e3:.0f} ms/step; " + "; ".join(
                  f"{v} compile {g(f'chunk_{v}_compile_s'):.1f}, {g(f'chunk_{v}_step_s') * 1e3:.0f} ms/step"
                  for v in ("level2", "level1", "k2", "k50", "unroll2")))
        print(f"  evaluation batch: default {g('eval_default_trace_s'):.1f} + {g('eval_default_compile_s'):.1f}, "
              f"{g('eval_default_batch_s'):.2f} s/batch; level1 compile {g('eval_level1_compile_s'):.1f}, "
              f"{g('eval_level1_batch_s'):.2f} s/batch (same bits: {g('eval_level1_same_bits')})")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "compile.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT / 'compile.json'}")


if __name__ == "__main__":
    main()

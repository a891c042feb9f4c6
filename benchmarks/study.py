"""What a whole study costs: compile time per program, and a sweep with programs shared or not.

    python benchmarks/study.py            # compile seconds per program + the study figure (~7 min on 2 cores)
    python benchmarks/study.py --quick    # the same with 2 schemes instead of 4

The study is a sweep of schemes x learning rates x seeds at a small size, run
through the real `lengthgen-train`:
  shared    one command: the learning rates and seeds of a scheme train together
            (`train.lrs`, `train.seeds`), and every run may load programs from a
            persistent compilation cache that starts empty; the launcher is the one
            a sweep picks (schemes side by side on 2+ cores), and again with
            `hydra/launcher=basic` (one process, runs in turn);
  separate  one command per (scheme, lr, seed), nothing shared: no cache, one model
            per run (how the original protocol runs its sweeps).
It prints the wall times, the share of the shared runs' time spent building programs,
and the ratios. `make bench` (not QUICK=1) runs it after the throughput figures; the
figures go to benchmarks/out/study.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lengthgen.build import build  # noqa: E402
from lengthgen.config import EvalConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from lengthgen.data import TrainStream, encode, eval_batch, seq_len  # noqa: E402
from lengthgen.cost import bucket_rows  # noqa: E402
from lengthgen.run import git_commit  # noqa: E402
from lengthgen.data import raw_key  # noqa: E402
from lengthgen.program import Program  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
TRAIN = Path(sys.executable).parent / "lengthgen-train"
SCHEMES = ("sinusoidal", "rope", "alibi", "randomized_rope")
LRS = (3e-4, 1e-3, 3e-3)
SEEDS = 3
SMALL = ["task=reverse_string", "model=encoder", "model.layers=2", "model.d_model=32", "model.heads=4",
         "model.mlp_dim=64", "train.max_length=8", "eval.max_length=16", "train.steps=200", "train.batch_size=32",
         "eval.samples_per_length=32", "progress=false"]
REFERENCE = ModelConfig(kind="encoder", layers=5, d_model=64, heads=8, mlp_dim=256)
DEMO = ModelConfig(kind="decoder", layers=2, d_model=64, heads=4, mlp_dim=256)


def program_compile_seconds(name: str, model: ModelConfig, length: int, batch: int, eval_length: int) -> dict:
    """Seconds to trace + lower and to compile each program of a run (no cache), one at a time."""
    cfg = RunConfig(task={"name": "reverse_string"}, position={"name": "sinusoidal"}, model=model,
                    train=TrainConfig(max_length=length, batch_size=batch, chunk_steps=25, buckets=1),
                    eval=EvalConfig(max_length=eval_length, samples_per_length=batch), progress=False)
    built = build(cfg)
    program = Program(built)
    stream = TrainStream(built.task, built.layout, [length], 1, batch, 25)
    size = stream.sizes[0]
    eval_size = seq_len(built.task, eval_length)
    rows = bucket_rows(built, eval_size)
    _, chunk = stream.chunk([0], 0)
    ex = encode(built.task, eval_batch(built.task, eval_length, rows, 0), eval_length, built.layout, eval_size, rows)
    out = {}

    def timed(what: str, fn, *args):
        start = time.perf_counter()
        lowered = fn.lower(*args)
        out[f"{name}_{what}_trace_s"] = time.perf_counter() - start
        start = time.perf_counter()
        lowered.compile()
        out[f"{name}_{what}_compile_s"] = time.perf_counter() - start

    keys, hyper = program.model_inputs()
    f = program.functions
    timed("init", f.init, keys, hyper, size)
    state = f.init(keys, hyper, size)
    timed("train_chunk", f.train_chunk, state, chunk)
    timed("eval_batch", f.eval_batch, state.params, ex, raw_key(1))
    return out


def launch(args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one `lengthgen-train` command (it must succeed)."""
    start = time.perf_counter()
    proc = subprocess.run([str(TRAIN), *args], env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"study run failed: {' '.join(args)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def study(schemes: tuple[str, ...]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def sweep(name: str, *launcher: str) -> float:
            """The shared sweep under the launcher given (none: the one it picks), with its own cache."""
            return launch(["-m", *launcher, f"position={','.join(schemes)}", f"train.lrs=[{','.join(map(str, LRS))}]",
                           f"train.seeds={SEEDS}", *SMALL, f"hydra.sweep.dir={tmp / name}"],
                          {"LENGTHGEN_CACHE_DIR": str(tmp / f"cache_{name}")})

        shared = sweep("shared")
        summaries = [json.loads(p.read_text()) for p in (tmp / "shared").glob("*/summary.json")]
        building = sum(s["compile_seconds"] for s in summaries)
        run_seconds = sum(s["train_seconds"] + s["eval_seconds"] for s in summaries)
        one_process = sweep("basic", "hydra/launcher=basic")
        separate = sum(launch([f"position={scheme}", f"train.lr={lr}", f"seed={seed}", *SMALL,
                               f"hydra.run.dir={tmp / 'separate' / f'{scheme}_{lr}_{seed}'}"],
                              {"LENGTHGEN_CACHE_DIR": "off"})
                       for scheme in schemes for lr in LRS for seed in range(SEEDS))
    return {"study_models": len(schemes) * len(LRS) * SEEDS, "study_shared_s": shared,
            "study_shared_building_s": building, "study_building_share": building / run_seconds,
            "study_separate_s": separate, "study_separate_over_shared": separate / shared,
            "study_shared_basic_s": one_process, "study_basic_over_shared": one_process / shared,
            "study_programs_compiled": sum(s["compiled_programs"] for s in summaries),
            "study_programs_loaded": sum(s["loaded_programs"] for s in summaries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 schemes instead of 4")
    args = parser.parse_args()
    os.environ["LENGTHGEN_CACHE_DIR"] = "off"
    report: dict[str, object] = {"device": str(jax.devices()[0]), "git_commit": git_commit(), "cpus": os.cpu_count()}
    for name, model, length, batch, eval_length in (("reference", REFERENCE, 40, 128, 500), ("demo", DEMO, 16, 64, 48)):
        figures = program_compile_seconds(name, model, length, batch, eval_length)
        report.update(figures)
        print(f"{name} size: " + ", ".join(
            f"{what} {figures[f'{name}_{what}_trace_s']:.1f} + {figures[f'{name}_{what}_compile_s']:.1f} s"
            for what in ("init", "train_chunk", "eval_batch")) + " (trace and lower + XLA compile)")
    schemes = SCHEMES[:2] if args.quick else SCHEMES
    fig = study(schemes)
    report.update(fig)
    print(f"study of {fig['study_models']} models ({len(schemes)} schemes x {len(LRS)} lrs x {SEEDS} seeds): "
          f"shared {fig['study_shared_s']:.0f} s ({fig['study_building_share']:.0%} building programs, "
          f"{fig['study_programs_compiled']} compiled, {fig['study_programs_loaded']} loaded), one run per model "
          f"with nothing shared {fig['study_separate_s']:.0f} s = {fig['study_separate_over_shared']:.1f}x; "
          f"shared in one process (hydra/launcher=basic) {fig['study_shared_basic_s']:.0f} s = "
          f"{fig['study_basic_over_shared']:.2f}x")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "study.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT / 'study.json'}")


if __name__ == "__main__":
    main()

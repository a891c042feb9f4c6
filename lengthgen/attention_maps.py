"""What a trained model attends to: `lengthgen attention RUN_DIR --length L [--set NAME] [--samples K]`.

Loads a finished run's final parameters (`params.msgpack`), runs K evaluation instances
of length L (the same fixed instances as the run's evaluation) with every layer's
attention weights captured, and splits each scored step's attention mass into the slots
the step needs (`Task.needed_slots`) and the other visible slots, the distractors.
Writes into the run directory `attention_L<L>[_<set>].npz` (weights M x layers x K x H x
S x S as float16, and the masks), a PNG grid (layer x head), and the tidy tables
attention.csv (mass per model, layer and head, at steps right and wrong) and steps.csv
(accuracy per step number), which `lengthgen verdict` claims can read (`table:`). A run
with `eval.attention_lengths` does the same for those lengths when it finishes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from lengthgen.attention import attention_mask
from lengthgen.build import build
from lengthgen.config import RunConfig
from lengthgen.data import EVAL_STREAM, encode, eval_batch, raw_key, seq_len
from lengthgen.errors import ConfigError
from lengthgen.evaluate import eval_plan
from lengthgen.results import read_params, write_bytes, write_csv
from lengthgen.program import Program


@dataclasses.dataclass
class Capture:
    """One capture: weights_MxLxBxHxSxS (models, layers, instances, heads, query, key), and per
    instance the slots each query needs (needed_BxSxS, None if the task does not say), the
    scored queries, the correct ones (per model) and the visible keys."""

    weights: np.ndarray
    needed: np.ndarray | None
    scored_BxS: np.ndarray
    correct_MxBxS: np.ndarray
    visible_SxS: np.ndarray
    tokens_BxS: np.ndarray


def load(run_dir: Path) -> tuple[Any, Program, Any]:
    """(built, program, params) of a finished run."""
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a finished run (no summary.json)")
    cfg = RunConfig.from_dict(json.loads(path.read_text())["config"])
    built = build(cfg)
    if not built.model.attention:
        raise ConfigError(f"{run_dir}: model '{built.model.name}' has no attention to inspect")
    program = Program(built)
    size = max(seq_len(built.task, n) for n in built.train_lengths)
    template = program.state_shape(size).params
    return built, program, read_params(run_dir, template)


def capture(built, program: Program, params, length: int, samples: int, set_name: str = "default") -> Capture:
    """Run `samples` evaluation instances of `length` through every model, keeping the attention."""
    sets = {s.name: s for s in eval_plan(built)}
    if set_name not in sets:
        raise ConfigError(f"unknown evaluation set '{set_name}'; valid: {', '.join(sets)}")
    task = sets[set_name].task
    task.check_length(length)
    e = built.cfg.eval
    batch = eval_batch(task, length, max(samples, sets[set_name].samples), e.seed)
    batch = type(batch)(*(a[:samples] for a in batch))
    size = seq_len(task, length)
    ex = encode(task, batch, length, built.layout, size)
    net = built.model.module(dataclasses.replace(built.net, capture=True))
    pos_key, _ = jax.random.split(jnp.asarray(raw_key(EVAL_STREAM, e.seed, length, 0)))

    @jax.jit
    def one(p):
        pos_S = program.positions(pos_key, ex.ids_S, ex.length, False)
        logits, sown = net.apply({"params": p}, ex.tokens_BxS, pos_S, ex.length, False, mutable=["intermediates"])
        layers = [sown["intermediates"][f"block_{i}"]["attention"][0] for i in range(built.net.layers)]
        return jnp.stack(layers), logits.argmax(-1)

    weights, predicted = jax.vmap(one)(params)
    scored = np.asarray(ex.weights_BxS) > 0
    needed = None
    rows = [task.needed_slots(batch.inputs_BxI[b], batch.targets_BxT[b], built.layout) for b in range(samples)]
    if all(r is not None for r in rows):
        I = batch.inputs_BxI.shape[1]
        needed = np.zeros((samples, size, size), bool)
        for b, r in enumerate(rows):
            needed[b, I:I + r.shape[0], :r.shape[1]] = r
    visible = np.asarray(attention_mask(jnp.int32(size), size, built.net.causal, built.net.window))
    correct = np.asarray(predicted) == np.asarray(ex.labels_BxS)[None]
    return Capture(np.asarray(weights), needed, scored, correct & scored[None], visible, np.asarray(ex.tokens_BxS))


def masses(c: Capture) -> tuple[np.ndarray, np.ndarray]:
    """(needed, distractor) attention mass per model, layer, instance, head and query:
    M x L x B x H x S each; needed + distractor = the mass on visible keys (1 for softmax)."""
    total = (c.weights * c.visible_SxS).sum(-1)
    if c.needed is None:
        return np.full(total.shape, np.nan), np.full(total.shape, np.nan)
    need = (c.weights * (c.needed[None, None, :, None] & c.visible_SxS)).sum(-1)
    return need, total - need


def attention_table(c: Capture, built, length: int, eval_set: str = "default") -> pd.DataFrame:
    """Per model, layer and head, over the scored steps of `length`: steps right and wrong,
    mean needed and distractor mass (all steps, right ones, wrong ones; NaN where there are
    none), and distractor_gap = distractor_wrong - distractor_right, a comparison at one
    length (distractor mass grows with length, so steps of different lengths do not compare)."""
    need, distract = masses(c)
    scored = c.scored_BxS
    rows = []
    for m, (lr, seed) in enumerate(built.cfg.models):
        right, wrong = scored & c.correct_MxBxS[m], scored & ~c.correct_MxBxS[m]
        for layer in range(need.shape[1]):
            for head in range(need.shape[3]):
                n, d = need[m, layer, :, head], distract[m, layer, :, head]
                row = {**_keys(built, lr, seed, eval_set, length), "layer": layer, "head": head,
                       "steps_right": int(right.sum()), "steps_wrong": int(wrong.sum()),
                       "needed": _mean(n, scored), "distractor": _mean(d, scored),
                       "needed_right": _mean(n, right), "needed_wrong": _mean(n, wrong),
                       "distractor_right": _mean(d, right), "distractor_wrong": _mean(d, wrong)}
                row["distractor_gap"] = row["distractor_wrong"] - row["distractor_right"]
                rows.append(row)
    return pd.DataFrame(rows)


def steps_table(c: Capture, built, length: int, eval_set: str = "default") -> pd.DataFrame:
    """Per model and step number k (the k-th scored slot of an instance): instances scored
    there, right ones, step_acc, first_wrong (instances whose first wrong step is k) and
    trained (k <= N: a step whose slots and needed tokens training scored, in a format that
    keeps every step at the same place at every length)."""
    k_BxS = np.cumsum(c.scored_BxS, axis=1) * c.scored_BxS  # each scored slot's step number, 0 elsewhere
    n = built.cfg.train.max_length
    rows = []
    for m, (lr, seed) in enumerate(built.cfg.models):
        wrong_BxS = c.scored_BxS & ~c.correct_MxBxS[m]
        first = np.where(wrong_BxS.any(1), k_BxS[np.arange(len(k_BxS)), wrong_BxS.argmax(1)], 0)
        for k in range(1, int(k_BxS.max()) + 1):
            at = k_BxS == k
            instances, right = int(at.sum()), int((at & c.correct_MxBxS[m]).sum())
            rows.append({**_keys(built, lr, seed, eval_set, length), "step": k, "trained": k <= n,
                         "instances": instances, "right": right, "step_acc": right / max(instances, 1),
                         "first_wrong": int((first == k).sum())})
    return pd.DataFrame(rows)


def _keys(built, lr: float, seed: int, eval_set: str, length: int) -> dict[str, object]:
    return {"task": built.task.name, "model": built.model.name, "position": built.position.name, "lr": lr,
            "seed": seed, "eval_set": eval_set, "length": length,
            "split": "train" if length <= built.cfg.train.max_length else "test"}


def _mean(values: np.ndarray, where: np.ndarray) -> float:
    return float(values[where].mean()) if where.any() else float("nan")


TABLES = ("attention.csv", "steps.csv")


def record(c: Capture, built, run_dir: Path, length: int, eval_set: str = "default") -> list[pd.DataFrame]:
    """Put the capture's rows into the run's attention.csv and steps.csv, replacing earlier
    rows of the same length and set; returns the two tables' new rows."""
    new = [attention_table(c, built, length, eval_set), steps_table(c, built, length, eval_set)]
    for name, rows in zip(TABLES, new):
        path = Path(run_dir) / name
        if path.exists():
            old = pd.read_csv(path)
            old = old[(old.length != length) | (old.eval_set != eval_set)]
            rows = pd.concat([old, rows], ignore_index=True).sort_values(["eval_set", "length"], kind="stable")
        write_csv(path, rows)
    return new


def analyze(built, program: Program, params, run_dir: Path) -> None:
    """The run's `eval.attention_lengths`: the evaluation instances of each length (the
    first `eval.attention_samples`, 0 = all) through every model, into attention.csv and
    steps.csv, plus maps of the first `eval.attention_maps` instances of the first model
    (the maps are for looking at; the tables cover every model)."""
    e = built.cfg.eval
    available = eval_plan(built)[0].samples
    samples = min(e.attention_samples or available, available)
    for length in e.attention_lengths:
        c = capture(built, program, params, length, samples)
        record(c, built, run_dir, length)
        if e.attention_maps:
            save(subset(c, e.attention_maps, models=1), run_dir, length, "default")


def subset(c: Capture, instances: int, models: int | None = None) -> Capture:
    """The capture of the first `instances` instances (and first `models` models)."""
    return Capture(c.weights[:models, :, :instances], None if c.needed is None else c.needed[:instances],
                   c.scored_BxS[:instances], c.correct_MxBxS[:models, :instances], c.visible_SxS,
                   c.tokens_BxS[:instances])


def save(c: Capture, run_dir: Path, length: int, set_name: str, model: int = 0) -> tuple[Path, Path]:
    """Write the NPZ (every model) and a PNG grid (layer x head, the first instance of `model`)."""
    import io

    stem = f"attention_L{length}" + ("" if set_name == "default" else f"_{set_name}")
    buffer = io.BytesIO()
    needed = c.needed if c.needed is not None else np.zeros(0, bool)
    np.savez_compressed(buffer, weights=c.weights.astype(np.float16), needed=needed,
                        scored=c.scored_BxS, correct=c.correct_MxBxS, visible=c.visible_SxS, tokens=c.tokens_BxS)
    npz = Path(run_dir) / f"{stem}.npz"
    write_bytes(npz, buffer.getvalue())
    return npz, plot_grid(c, Path(run_dir) / f"{stem}.png", model)


def plot_grid(c: Capture, path: Path, model: int = 0) -> Path:
    from lengthgen.plots import pyplot, save as save_figure

    plt = pyplot()
    layers, heads = c.weights.shape[1], c.weights.shape[3]
    fig, axes = plt.subplots(layers, heads, figsize=(2.6 * heads, 2.5 * layers), squeeze=False)
    for (layer, head), ax in np.ndenumerate(axes):
        ax.imshow(c.weights[model, layer, 0, head], cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        if c.needed is not None:
            q, k = np.nonzero(c.needed[0] & c.scored_BxS[0][:, None])
            ax.scatter(k, q, s=4, marker="s", facecolors="none", edgecolors="red", linewidths=0.5)
        ax.set_title(f"layer {layer} head {head}", fontsize=8)
        ax.set(xticks=[], yticks=[])
    axes[-1, 0].set(xlabel="key slot", ylabel="query slot")
    fig.suptitle("attention of instance 0 (rows: queries); red: slots the step needs", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)

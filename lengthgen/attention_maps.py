"""What a trained model attends to: `lengthgen attention RUN_DIR --length L [--set NAME] [--samples K]`.

Loads a finished run's final parameters (`params.msgpack`), runs K evaluation instances
of length L (the same fixed instances as the run's evaluation) with every layer's
attention weights captured, and splits each scored step's attention mass into the slots
the step needs (`Task.needed_slots`) and the other visible slots, the distractors.
Writes `attention_L<L>[_<set>].npz` (weights M x layers x K x H x S x S and the masks) and
a PNG grid (layer x head) into the run directory, and returns the per layer and head
means, also split by whether the model got the step right.
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
from lengthgen.data import EVAL_STREAM, encode, eval_batch, seq_len
from lengthgen.errors import ConfigError
from lengthgen.evaluate import eval_sets
from lengthgen.results import read_params, write_bytes
from lengthgen.train import Program, raw_key


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
    template = jax.eval_shape(lambda k, h: program.init(k, h, size), *program.model_inputs()).params
    return built, program, read_params(run_dir, template)


def capture(built, program: Program, params, length: int, samples: int, set_name: str = "default") -> Capture:
    """Run `samples` evaluation instances of `length` through every model, keeping the attention."""
    sets = eval_sets(built.task)
    if set_name not in sets:
        raise ConfigError(f"unknown evaluation set '{set_name}'; valid: {', '.join(sets)}")
    task = sets[set_name]
    task.check_length(length)
    e = built.cfg.eval
    batch = eval_batch(task, length, max(samples, e.samples_per_length), e.seed)
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


def summary_table(c: Capture, model: int = 0) -> pd.DataFrame:
    """Per layer and head, over scored steps: mean needed and distractor mass, overall and at
    steps the model got right and wrong (NaN where there are none)."""
    need, distract = (m[model] for m in masses(c))
    scored, correct = c.scored_BxS, c.correct_MxBxS[model]
    rows = []
    for layer in range(need.shape[0]):
        for head in range(need.shape[2]):
            n, d = need[layer, :, head], distract[layer, :, head]
            row = {"layer": layer, "head": head, "needed": _mean(n, scored), "distractor": _mean(d, scored),
                   "distractor_correct": _mean(d, scored & correct), "distractor_wrong": _mean(d, scored & ~correct)}
            rows.append(row)
    return pd.DataFrame(rows)


def _mean(values: np.ndarray, where: np.ndarray) -> float:
    return float(values[where].mean()) if where.any() else float("nan")


def save(c: Capture, run_dir: Path, length: int, set_name: str, model: int = 0) -> tuple[Path, Path]:
    """Write the NPZ (every model) and a PNG grid (layer x head, the first instance of `model`)."""
    import io

    stem = f"attention_L{length}" + ("" if set_name == "default" else f"_{set_name}")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, weights=c.weights, needed=c.needed if c.needed is not None else np.zeros(0, bool),
                        scored=c.scored_BxS, correct=c.correct_MxBxS, visible=c.visible_SxS, tokens=c.tokens_BxS)
    npz = Path(run_dir) / f"{stem}.npz"
    write_bytes(npz, buffer.getvalue())
    return npz, plot_grid(c, Path(run_dir) / f"{stem}.png", model)


def plot_grid(c: Capture, path: Path, model: int = 0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lengthgen.plots import save as save_figure

    layers, heads = c.weights.shape[1], c.weights.shape[3]
    fig, axes = plt.subplots(layers, heads, figsize=(2.6 * heads, 2.5 * layers), squeeze=False)
    for layer in range(layers):
        for head in range(heads):
            ax = axes[layer, head]
            ax.imshow(c.weights[model, layer, 0, head], cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
            if c.needed is not None:
                q, k = np.nonzero(c.needed[0] & c.scored_BxS[0][:, None])
                ax.scatter(k, q, s=4, marker="s", facecolors="none", edgecolors="red", linewidths=0.5)
            ax.set_title(f"layer {layer} head {head}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[-1, 0].set(xlabel="key slot", ylabel="query slot")
    fig.suptitle("attention of instance 0 (rows: queries); red: slots the step needs", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)

# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Anil et al. 2022 at CPU scale: scratchpads, padding and distractors
# Loads the committed results of `experiments/anil` (the full study; set `RESULTS` to another
# directory, e.g. your own rerun or `outputs/anil/quick`): exact match by length per parity
# format, step accuracy at the steps training scored, the attention mass on distractors at
# right and wrong steps, and one attention map with the slots each step needs outlined.

# %%
import os
from pathlib import Path

import numpy as np

import lengthgen
from lengthgen.collect import collect, collect_table, seed_table
from lengthgen.plots import plot_attention, plot_panels, save

ROOT = Path(lengthgen.__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("RESULTS", ROOT / "experiments" / "anil" / "results" / "full"))
OUT = Path(os.environ.get("OUT", ROOT / "outputs" / "notebooks"))
curves, summaries = collect(RESULTS)
attention, steps = collect_table(RESULTS, "attention.csv"), collect_table(RESULTS, "steps.csv")
N = int(summaries["cfg.train.max_length"].iloc[0])
M = int(summaries["cfg.eval.max_length"].iloc[0])
FORMAT = "cfg.task.format"
print(f"{summaries.run.nunique()} formats, {len(summaries)} models; train lengths <= {N}, test {N + 1}..{M}")

# %% [markdown]
# Exact match (the whole scratchpad right) beyond N per format: mean over seeds with the 95%
# interval, and how many seeds keep exact match >= 0.9 up to 1.5 N and up to 2 N.

# %%
table = seed_table(summaries, by=(FORMAT,), metric="mean_test_seq_acc")
table["seeds to 2N"] = [int((g >= 2 * N).sum()) for _, g in summaries.groupby(FORMAT, sort=True).generalization_length]
print(table[[FORMAT, "mean", "lo", "hi", "seeds", "generalizing", "seeds to 2N", "gen_length_mean"]]
      .round(3).to_string(index=False))

# %%
path = plot_panels(curves[curves.eval_set == "default"], OUT / "anil_exact_match.png", panel=FORMAT,
                   group_by=["position"], metric="seq_acc", columns=4)
print("wrote", path)

# %% [markdown]
# Not unseen positions: in the padded scratchpad every step sits at the same slots at every
# length, so steps 1..N at a test length are the very slots, tokens and needed inputs that
# training scored. Their accuracy (mean over seeds, per length):

# %%
padded = steps[steps[FORMAT] == "padded_scratchpad"]
by_length = padded.groupby(["trained", "seed", "length"])[["right", "instances"]].sum()
acc = (by_length.right / by_length.instances).groupby(["trained", "length"]).mean().unstack("length")
print(acc.rename(index={True: "steps 1..N", False: "steps > N"}).round(3).to_string())
first = padded[padded.length > N].groupby("step").first_wrong.sum()
print(f"first wrong step of failing instances beyond N: {first[first.index <= N].sum()} of {first.sum()} "
      f"at steps 1..N (median step {np.repeat(first.index, first.values).tolist()[first.sum() // 2]})")

# %% [markdown]
# The mechanism: attention mass on distractors (visible slots a step does not need) at lengths
# <= N, and at right and wrong steps of the same test lengths, per layer (mean over heads and
# seeds); then the gap wrong - right per seed (mean over layers, heads and test lengths).

# %%
att = attention[attention[FORMAT] == "padded_scratchpad"]
inside = att[att.length <= N].groupby("layer").distractor.mean().rename(f"lengths <= {N}")
beyond = att[att.length > N].groupby("layer")[["distractor_right", "distractor_wrong", "distractor_gap"]].mean()
print(beyond.join(inside).round(3).to_string())
print("(distractor_gap compares right and wrong steps of the same length; the two columns before it pool lengths)")
gap = att[att.length > N].groupby("seed").distractor_gap.mean()
print(f"distractor_gap per seed: {gap.round(3).to_dict()}; positive in {(gap > 0).sum()} of {gap.notna().sum()}")

# %%
path = plot_attention(attention, steps, OUT / "anil_attention.png", [FORMAT])
print("wrote", path)

# %% [markdown]
# One attention map: the padded-scratchpad model (first seed) at a failing length, first
# instance; red squares: the slots each step needs (its bit and the previous step).

# %%
import matplotlib.pyplot as plt  # noqa: E402

dump = sorted((RESULTS / "padded_scratchpad").glob("attention_L*.npz"), key=lambda p: int(p.stem[11:]))[-1]
data = np.load(dump)
weights, needed, scored = data["weights"].astype(np.float32), data["needed"], data["scored"]
layers, heads = weights.shape[1], weights.shape[3]
fig, axes = plt.subplots(layers, heads, figsize=(2.4 * heads, 2.4 * layers), squeeze=False)
q, k = np.nonzero(needed[0] & scored[0][:, None])
for layer in range(layers):
    for head in range(heads):
        ax = axes[layer, head]
        ax.imshow(weights[0, layer, 0, head], cmap="viridis", vmin=0, vmax=1)
        ax.scatter(k, q, s=3, marker="s", facecolors="none", edgecolors="red", linewidths=0.4)
        ax.set(xticks=[], yticks=[], title=f"layer {layer} head {head}")
fig.suptitle(f"{dump.stem}: padded scratchpad, seed {int(summaries.seed.min())}", fontsize=9)
print("wrote", save(fig, OUT / "anil_attention_map.png"))

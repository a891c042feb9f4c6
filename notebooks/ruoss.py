# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Ruoss et al. 2023 at CPU scale: randomized vs plain positions
# Loads the committed results of `experiments/ruoss` (the full study; set `RESULTS` to
# another directory, e.g. your own rerun or `experiments/ruoss/results/quick`) and draws the
# paper-style table (task x scheme, plain vs randomized) and the accuracy-vs-length curves.
# Runs from any working directory: paths are resolved from the installed package.

# %%
import os
from pathlib import Path

import lengthgen
from lengthgen.collect import collect, seed_table
from lengthgen.plots import plot_panels

ROOT = Path(lengthgen.__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("RESULTS", ROOT / "experiments" / "ruoss" / "results" / "full"))
OUT = Path(os.environ.get("OUT", ROOT / "outputs" / "notebooks"))
curves, summaries = collect(RESULTS)
N = int(summaries["cfg.train.max_length"].iloc[0])
M = int(summaries["cfg.eval.max_length"].iloc[0])
print(f"{len(summaries.run.unique())} runs, {len(summaries)} models; train lengths <= {N}, test {N + 1}..{M}")

# %% [markdown]
# Mean test token accuracy over lengths N+1..M (mean over seeds, 95% interval), and how
# many seeds generalize (exact match >= 0.9 up to 1.5 N).

# %%
table = seed_table(summaries, by=("task", "position"))
table["cell"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}] {g}/{s}" for m, lo, hi, g, s in
                 table[["mean", "lo", "hi", "generalizing", "seeds"]].itertuples(index=False)]
print(table.pivot(index="task", columns="position", values="cell").to_string())

# %% [markdown]
# The paper's comparison: randomized minus plain, per task and base scheme (paired per seed),
# and the average over the tasks a transformer can learn (parity_check is the control).

# %%
means = table.pivot(index="task", columns="position", values="mean")
bases = sorted(p for p in means.columns if f"randomized_{p}" in means.columns)
gain = means[[f"randomized_{b}" for b in bases]].set_axis(bases, axis=1) - means[bases]
print(gain.round(3).to_string())
learnable = [t for t in gain.index if t != "parity_check"]
print("average gain over", ", ".join(learnable), ":", gain.loc[learnable].mean().round(3).to_dict())

# %% [markdown]
# Fitting first: the lowest exact match over training lengths 1..N and the steps each model
# needed to fit them (`train.fit_every` checks; empty = did not fit).

# %%
fit = summaries.groupby(["task", "position"]).agg(
    fitted=("steps_to_fit", lambda s: f"{s.notna().sum()}/{len(s)}"),
    median_steps_to_fit=("steps_to_fit", "median"), steps_trained=("steps_trained", "max"))
print(fit.to_string())

# %%
path = plot_panels(curves[curves.eval_set == "default"], OUT / "notebook_curves.png", group_by=["position"])
print("wrote", path)

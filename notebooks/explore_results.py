# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Exploring a sweep
# Load every finished run under a sweep directory (`SWEEP`; default: the `make demo` output),
# look at the per-length table and plot accuracy against length (into `OUT`, default the sweep).
# Open with `jupytext --to notebook notebooks/explore_results.py`, or run as a script, from any
# working directory: relative paths are taken from the repository root.

# %%
import os
from pathlib import Path

import lengthgen
from lengthgen.collect import collect, varying_columns
from lengthgen.plots import plot_curves

ROOT = Path(lengthgen.__file__).resolve().parent.parent
SWEEP = ROOT / os.environ.get("SWEEP", "outputs/demo")
OUT = ROOT / os.environ.get("OUT", str(SWEEP))
curves, summaries = collect(SWEEP)
labels = varying_columns(curves) or ["position"]
print(summaries.groupby(labels)[["mean_test_token_acc", "mean_test_seq_acc", "generalization_length"]].mean())

# %% [markdown]
# Accuracy at each length, averaged over seeds (the training range ends at N).

# %%
wide = curves[curves.eval_set == "default"].pivot_table(index="length", columns=labels, values="token_acc")
print(wide.round(3).to_string())

# %%
plot_curves(curves[curves.eval_set == "default"], OUT / "notebook_curves.png", group_by=labels,
            train_max_length=int(curves["cfg.train.max_length"].iloc[0]))

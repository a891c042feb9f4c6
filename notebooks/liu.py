# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Liu et al. 2023 at CPU scale: flip-flop attention glitches
# Loads the committed results of `experiments/liu` (the full study; set `RESULTS` to another
# directory, e.g. your own rerun or `outputs/liu/quick`): read-error counts per model,
# evaluation set and length with 95% Wilson intervals (right at zero errors), the paper's
# log-scale error-rate figure, and Proposition 4's diagnostic for the 1-layer model with
# linear positions.

# %%
import json
import os
from pathlib import Path

import lengthgen
from lengthgen.collect import collect, collect_table, error_table
from lengthgen.plots import plot_error_rates, save

ROOT = Path(lengthgen.__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("RESULTS", ROOT / "experiments" / "liu" / "results" / "full"))
OUT = Path(os.environ.get("OUT", ROOT / "outputs" / "notebooks"))
curves, summaries = collect(RESULTS)
T = int(summaries["cfg.train.max_length"].iloc[0])
print(f"runs {sorted(summaries.run.unique())}; {summaries.groupby('run').size().max()} seeds; trained at T = {T}")

# %% [markdown]
# Read errors per model, set and length: seeds with at least one error, reads per seed, and
# pooled over seeds the wrong reads, the error rate with its 95% Wilson interval and the
# fraction of sequences with an error.

# %%
errors = error_table(curves)
print(errors.to_string(index=False, formatters={c: "{:.2e}".format for c in
                                                ("error_rate", "error_rate_lo", "error_rate_hi", "max_seed_error_rate")}))

# %%
print("wrote", plot_error_rates(curves, OUT / "liu_error_rates.png", ["run"]))

# %% [markdown]
# Proposition 4: with linear positions p_t = t / C in the embedding, a 1-layer model
# generalizes to every length only if W_Qp^T W_Kp = 0; the cross term adds
# w * i * j / C^2 to the logit of query i at key j and grows with length. Below: |w| per head
# of the first seed (`summary.json`), the drift it implies at i = j = L, and the attention the
# reads put on the slot holding the last written bit, by length (all seeds, `attention.csv`).

# %%
linear = RESULTS / "linear"
if linear.exists():
    summary = json.loads((linear / "summary.json").read_text())
    C = summary["config"]["position"]["divisor"]
    cross = summary["diagnostics"]["linear_qk_position_cross"]["block_0"]
    lengths = sorted(curves[curves.run == "linear"].length.unique())
    print("|W_Qp^T W_Kp| per head:", cross)
    for L in lengths:
        print(f"L = {L}: cross-term logit at i = j = L up to {max(cross) * L * L / C ** 2:.2f}")
    attention = collect_table(RESULTS, "attention.csv")
    att = attention[attention.run == "linear"]
    needed = att.groupby(["head", "length"]).needed.mean().unstack("length")
    print("attention on the written bit (mean over seeds):")
    print(needed.round(3).to_string())
    rate = errors[(errors.run == "linear") & (errors.eval_set == "default")].set_index("length").error_rate
    print("read-error rate by length:", rate.map("{:.2e}".format).to_dict())

    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for head, row in needed.iterrows():
        left.plot(row.index, row.values, marker="o", label=f"head {head}, |w| = {cross[head]:.3f}")
    left.set(xlabel="length", ylabel="attention on the written bit", title="1 layer, linear positions",
             ylim=(0, 1.3 * needed.max().max()))
    left.legend(fontsize=8)
    right.plot(rate.index, rate.clip(lower=1e-6).values, marker="o")
    right.set(xlabel="length", ylabel="read-error rate", yscale="log", title="reads of FFL(0.8)")
    for ax in (left, right):
        ax.axvline(T, color="k", ls=":", lw=1)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    print("wrote", save(fig, OUT / "liu_proposition4.png"))

"""Accuracy-vs-length curves: one line per configuration, interval bands, N marked."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from lengthgen.results import write_bytes

LABEL_COLUMNS = ("task", "model", "position")


def config_label(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A label naming what varies, `position=rope, lr=0.001` (all of LABEL_COLUMNS if nothing
    varies); an option a run does not have is left out of its label."""
    varying = [c for c in columns if frame[c].nunique() > 1] or [c for c in LABEL_COLUMNS if c in frame]

    def label(row) -> str:
        return ", ".join(f"{setting_name(c)}={_value(v)}" for c, v in row.items() if not pd.isna(v))

    return frame[varying].apply(label, axis=1)


def setting_name(column: str) -> str:
    """`cfg.position.name` -> `position`, `cfg.train.lr` -> `lr`, `cfg.position.max_len` -> `position.max_len`."""
    name = column.removeprefix("cfg.").removesuffix(".name")
    return name.removeprefix("train.")


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def per_model(rows: pd.DataFrame, metric: str):
    """`metric` per model (run, lr, seed) and length, grouped by length: its mean, min and max are over models."""
    models = [c for c in ("run", "lr", "seed") if c in rows]
    return rows.groupby([*models, "length"])[metric].mean().groupby("length")


def plot_curves(curve: pd.DataFrame, path: Path, train_max_length: int | None = None, title: str = "",
                group_by: list[str] | None = None) -> Path:
    """Token and sequence accuracy vs length; seeds are averaged. Dark bands: the mean of the
    95% Wilson bounds (over instances); light bands, with several seeds: the range over seeds."""
    plt = pyplot()
    columns = group_by or [c for c in curve.columns if c in LABEL_COLUMNS or c.startswith("cfg.")]
    frame = curve.assign(label=config_label(curve, columns))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharex=True)
    colours = palette(frame["label"].nunique())
    for ax, metric, name in zip(axes, ("token_acc", "seq_acc"), ("per-token accuracy", "exact match")):
        for (label, rows), (colour, style) in zip(frame.groupby("label", sort=True), colours):
            mean = rows.groupby("length")[[metric, f"{metric}_lo", f"{metric}_hi"]].mean()
            (line,) = ax.plot(mean.index, mean[metric], label=label, lw=1.6, color=colour, ls=style)
            ax.fill_between(mean.index, mean[f"{metric}_lo"], mean[f"{metric}_hi"], color=line.get_color(), alpha=0.25)
            by_model = per_model(rows, metric)
            if by_model.size().max() > 1:
                ax.fill_between(mean.index, by_model.min(), by_model.max(), color=line.get_color(), alpha=0.08)
        if train_max_length is not None:
            ax.axvline(train_max_length + 0.5, color="k", ls="--", lw=1, label=f"train N={train_max_length}")
        ax.set(xlabel="length", ylabel=name, ylim=(-0.02, 1.02), title=f"{title} — {name}" if title else name)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    return save(fig, path)


def plot_panels(curve: pd.DataFrame, path: Path, panel: str = "task", group_by: list[str] | None = None,
                metric: str = "token_acc", columns: int = 3) -> Path:
    """One panel per value of `panel` (a study's tasks), one line per configuration with the
    range over seeds as a band; N is marked per panel."""
    plt = pyplot()
    names = sorted(curve[panel].unique())
    rows_n = -(-len(names) // columns)
    fig, axes = plt.subplots(rows_n, min(columns, len(names)), figsize=(4.6 * min(columns, len(names)), 3.4 * rows_n),
                             squeeze=False)
    labels = group_by or ["position"]
    for ax, name in zip(axes.flat, names):
        rows = curve[curve[panel] == name]
        frame = rows.assign(label=config_label(rows, labels))
        for (label, group), (colour, style) in zip(frame.groupby("label", sort=True), palette(frame["label"].nunique())):
            _band(ax, per_model(group, metric), label, alpha=0.12, lw=1.4, color=colour, ls=style)
        if "cfg.train.max_length" in rows and rows["cfg.train.max_length"].nunique() == 1:
            ax.axvline(rows["cfg.train.max_length"].iloc[0] + 0.5, color="k", ls=":", lw=1)
        ax.set(title=str(name), xlabel="length", ylabel=metric.replace("_", " "), ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles, texts = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, texts, loc="lower center", ncol=min(6, len(texts)), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save(fig, path)


def plot_attention(attention: pd.DataFrame, steps: pd.DataFrame, path: Path, group_by: list[str]) -> Path:
    """Per configuration (a row of panels): step accuracy by length at steps 1..N (the ones
    training scored) and beyond; and the attention mass on distractors by length at right and
    at wrong steps (mean over layers and heads, then over seeds; the band is the range over seeds)."""
    plt = pyplot()
    attention = attention.assign(label=config_label(attention, group_by))
    steps = steps.assign(label=config_label(steps, group_by))
    labels = sorted(steps.label.unique())
    fig, axes = plt.subplots(len(labels), 2, figsize=(11, 3.0 * len(labels)), squeeze=False)
    models = ["run", "lr", "seed"]
    for (left, right), label in zip(axes, labels):
        rows = steps[steps.label == label]
        n = rows["cfg.train.max_length"].iloc[0] if "cfg.train.max_length" in rows else None
        for trained, name in ((True, "steps 1..N"), (False, "steps > N")):
            part = rows[rows.trained == trained].groupby([*models, "length"])[["right", "instances"]].sum()
            _band(left, (part.right / part.instances).groupby("length"), name, marker="o", ms=3, lw=1.4)
        mass = attention[attention.label == label].groupby([*models, "length"])
        for column, name in (("distractor_right", "right steps"), ("distractor_wrong", "wrong steps")):
            _band(right, mass[column].mean().dropna().groupby("length"), name, marker="o", ms=3, lw=1.4)
        for ax, ylabel in ((left, "step accuracy"), (right, "attention on distractors")):
            if n is not None:
                ax.axvline(n + 0.5, color="k", ls=":", lw=1)
            ax.set(title=label, xlabel="length", ylabel=ylabel, ylim=(-0.02, 1.02))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return save(fig, path)


def _band(ax, per_length, label: str, alpha: float = 0.15, **style) -> None:
    """The mean line of `per_length` (values grouped by length) and its min-max band."""
    mean = per_length.mean()
    if mean.empty:
        return
    (line,) = ax.plot(mean.index, mean, label=label, **style)
    ax.fill_between(mean.index, per_length.min(), per_length.max(), color=line.get_color(), alpha=alpha)


def plot_error_rates(curve: pd.DataFrame, path: Path, group_by: list[str]) -> Path:
    """Read-error rates on a log scale, as Liu et al. plot them: one panel per evaluation set
    and length, one column of points per configuration, one point per seed (wrong scored
    tokens / scored tokens). A seed with no error is drawn as a down-pointing triangle at
    the upper end of its 95% Wilson interval, the most its error rate could be."""
    from lengthgen.evaluate import wilson

    plt = pyplot()
    frame = curve.assign(label=config_label(curve, group_by))
    panels = sorted(frame.groupby(["eval_set", "length"]).groups, key=lambda k: (k[0] != "default", k))
    labels = sorted(frame.label.unique())
    width = max(2.4, 0.5 * len(labels))
    fig, axes = plt.subplots(1, len(panels), figsize=(1.5 + width * len(panels), 4.2), squeeze=False, sharey=True)
    lowest = 1.0
    for ax, (eval_set, length) in zip(axes[0], panels):
        rows = frame[(frame.eval_set == eval_set) & (frame.length == length)]
        for x, label in enumerate(labels):
            per_seed = rows[rows.label == label].groupby(["run", "lr", "seed"])[["token_errors", "tokens"]].sum()
            for i, (errors, tokens) in enumerate(per_seed.itertuples(index=False)):
                dx = (i - (len(per_seed) - 1) / 2) * 0.08
                if errors:
                    ax.plot(x + dx, errors / tokens, "o", color="C3", ms=5)
                    lowest = min(lowest, errors / tokens)
                else:
                    bound = wilson(0, tokens)[1]
                    ax.plot(x + dx, bound, "v", color="C2", ms=6, mfc="none")
                    lowest = min(lowest, bound)
        reads = int(rows.groupby(["run", "lr", "seed"]).tokens.sum().median()) if len(rows) else 0
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_title(f"{eval_set}, length {length}\n({reads:,} reads per seed)", fontsize=9)
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both", axis="y")
    axes[0, 0].set_ylabel("read-error rate (o: errors; v: none, 95% upper bound)")
    axes[0, 0].set_ylim(lowest / 3, 1.5)
    fig.tight_layout()
    return save(fig, path)


STYLES = ("-", "--", ":", "-.")


def palette(n: int) -> list[tuple[tuple[float, ...], str]]:
    """(colour, line style) for n curves, all distinct: tab10 colours, then tab20's, then
    the same colours again with other line styles."""
    import matplotlib

    colours = matplotlib.colormaps["tab10" if n <= 10 else "tab20"].colors
    return [(colours[i % len(colours)], STYLES[(i // len(colours)) % len(STYLES)]) for i in range(n)]


def save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path

"""`lengthgen report DIR`: tables, figures and one self-contained HTML page for a sweep.

Writes into DIR: results.parquet and summary.csv (`collect.write_tables`), table.csv (per
configuration and length), curves.png, curves_by_task.png (several tasks), heatmap.png
(configuration x length, per task), error_rates.png where a task has evaluation sets beyond
the default (read-error rates per set, length and seed on a log scale), attention.png where runs captured attention
(`eval.attention_lengths`: step accuracy and distractor mass by length,
`plots.plot_attention`) and report.html, which embeds the figures and needs
no network to view. Configurations are labelled by the settings that vary
(`position=rope, lr=0.001`; settings that change no result are not differences), or by
their run directory (`run=dropout`) where more than three settings vary.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lengthgen.collect import (GENERALIZES_AT, collect_table, finished_runs, seed_table, time_spent, varying_columns,
                               write_tables)
from lengthgen.plots import config_label, plot_attention, plot_curves, plot_error_rates, plot_panels, pyplot, save
from lengthgen.results import write_csv, write_text


@dataclass
class Report:
    summary: pd.DataFrame  # one row per configuration
    spent: dict[str, float]
    failed: list[tuple[str, str]]  # (run, reason)
    figures: list[Path]
    html: Path


def summary_rows(summaries: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: mean test token accuracy over seeds with its 95% interval, mean test
    exact match, generalization length (mean, sd over seeds) and seeds that generalize."""
    token = seed_table(summaries, by=("config",)).set_index("config")
    exact = seed_table(summaries, by=("config",), metric="mean_test_seq_acc").set_index("config")
    return pd.DataFrame({"test token acc": token["mean"], "lo": token.lo, "hi": token.hi,
                         "test exact": exact["mean"], "gen. length": token.gen_length_mean, "sd": token.gen_length_sd,
                         "generalizing": token.generalizing, "seeds": token.seeds})


def failed_runs(root: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted(Path(root).rglob("failed.json")):
        try:
            reason = json.loads(path.read_text()).get("reason", "?")
        except ValueError:
            reason = "unreadable failed.json"
        out.append((str(path.parent.relative_to(root)), reason))
    return out


def plot_heatmap(curves: pd.DataFrame, path: Path, train_max_length: int | None) -> Path:
    """Token accuracy per configuration (rows) and length (columns), one panel per task."""
    plt = pyplot()
    tasks = sorted(curves.task.unique())
    grids = [curves[curves.task == t].pivot_table(index="config", columns="length", values="token_acc") for t in tasks]
    height = sum(0.35 * len(g) + 1.0 for g in grids)
    fig, axes = plt.subplots(len(tasks), 1, figsize=(11, max(2.5, height)), squeeze=False,
                             height_ratios=[len(g) + 2 for g in grids])
    for ax, task, grid in zip(axes[:, 0], tasks, grids):
        image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks(range(len(grid)), grid.index, fontsize=7)
        step = max(1, len(grid.columns) // 24)
        ax.set_xticks(range(0, len(grid.columns), step), grid.columns[::step], fontsize=7)
        if train_max_length is not None and train_max_length in grid.columns:
            ax.axvline(list(grid.columns).index(train_max_length) + 0.5, color="w", ls="--", lw=1)
        ax.set_title(f"{task}: per-token accuracy by length", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01)
    fig.tight_layout()
    return save(fig, path)


def single_value(frame: pd.DataFrame, column: str) -> int | None:
    """The column's value if every row has the same one (the sweep's N), else None."""
    values = frame[column].unique() if column in frame else []
    return int(values[0]) if len(values) == 1 else None


def title_of(frame: pd.DataFrame) -> str:
    """`task / model` where the runs share them."""
    return " / ".join(str(frame[c].iloc[0]) for c in ("task", "model") if c in frame and frame[c].nunique() == 1)


LABEL_SETTINGS = 3


def report(root: Path) -> Report:
    root = Path(root)
    curves, summaries = write_tables(root)
    train_max_length, title = single_value(curves, "cfg.train.max_length"), title_of(curves)
    group = varying_columns(curves) or ["position"]
    if len(group) > LABEL_SETTINGS:  # runs that differ in many settings (a study's models): named by their directory
        group = ["run"]
    figures = [plot_curves(curves, root / "curves.png", train_max_length=train_max_length, title=title,
                           group_by=group)]
    default = curves[curves.eval_set == "default"]
    without_task = [c for c in group if c not in ("task", "cfg.task.name")] or ["position"]
    if curves["task"].nunique() > 1:
        figures.append(plot_panels(default, root / "curves_by_task.png", group_by=without_task))
    curves = curves.assign(config=config_label(curves, group))
    table = curves.groupby(["config", "length", "split"], sort=True)[["token_acc", "seq_acc"]].mean().reset_index()
    write_csv(root / "table.csv", table)
    figures.append(plot_heatmap(default.assign(config=config_label(default, without_task)), root / "heatmap.png",
                                train_max_length))
    if default.eval_set.nunique() < curves.eval_set.nunique():
        figures.append(plot_error_rates(curves, root / "error_rates.png", group))
    if any((run / "steps.csv").exists() for run in finished_runs(root)):
        figures.append(plot_attention(collect_table(root, "attention.csv"), collect_table(root, "steps.csv"),
                                      root / "attention.png", group))
    summaries = summaries.assign(config=config_label(summaries, [c for c in group if c in summaries] or ["position"]))
    result = Report(summary_rows(summaries), time_spent(summaries), failed_runs(root), figures, root / "report.html")
    write_text(result.html, render(result, title or str(root), train_max_length))
    return result


def format_rows(summary: pd.DataFrame) -> list[list[str]]:
    """The summary as strings, as both the terminal and the page show it (one seed has no
    interval or spread: "1 seed" and "-" say so)."""
    return [[config, f"{r['test token acc']:.3f} " + (f"[{r.lo:.3f}, {r.hi:.3f}]" if r.seeds > 1 else "(1 seed)"),
             f"{r['test exact']:.3f}", f"{r['gen. length']:.1f} " + (f"({r.sd:.1f})" if r.seeds > 1 else "(-)"),
             f"{int(r.generalizing)}/{int(r.seeds)}"] for config, r in summary.iterrows()]


HEADER = ["configuration", "test token acc [95% CI]", "test exact", "gen. length (sd)",
          f"seeds >= {GENERALIZES_AT:g} N"]


def align(rows: list[list[str]], right: bool = False) -> str:
    """Rows of cells in columns two spaces apart, left-aligned (with `right`, all but the first column right-aligned)."""
    widths = [max(map(len, column)) for column in zip(*rows)]
    cells = [[c.rjust(w) if right and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))] for row in rows]
    return "\n".join("  ".join(row).rstrip() for row in cells)


def format_table(summary: pd.DataFrame) -> str:
    """Aligned columns for the terminal."""
    return align([HEADER, *format_rows(summary)], right=True)


def render(r: Report, title: str, train_max_length: int | None) -> str:
    def img(path: Path) -> str:
        data = base64.b64encode(Path(path).read_bytes()).decode()
        return f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}"></figure>'

    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                    for row in format_rows(r.summary))
    failed = ("<ul>" + "".join(f"<li><code>{html.escape(run)}</code>: {html.escape(reason)}</li>"
                               for run, reason in r.failed) + "</ul>") if r.failed else "<p>none</p>"
    n = f"N = {train_max_length}" if train_max_length else "N varies"
    spent = (f"{r.spent['runs']} runs; training {r.spent['train_seconds']:.0f} s, evaluation "
             f"{r.spent['eval_seconds']:.0f} s, of which {r.spent.get('compile_seconds', 0):.0f} s building programs")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; font-family: monospace; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
</style></head>
<body data-figures="{len(r.figures)}">
<h1>{html.escape(title)}</h1>
<p>Trained on lengths up to {n}; test lengths are those above it. {html.escape(spent)}.
Means over seeds; the interval is the 95% t interval over seeds; a seed generalizes when
exact match stays &ge; 0.9 up to {GENERALIZES_AT:g} N.</p>
<h2>Summary</h2>
<table><thead><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in HEADER)}</tr></thead><tbody>{cells}</tbody></table>
<h2>Failed runs</h2>{failed}
<h2>Accuracy against length</h2>
<p>Dark bands: 95% Wilson intervals over instances; light bands: the range over seeds.</p>
{"".join(img(p) for p in r.figures)}
<script>
window.addEventListener("load", () => {{
  document.body.dataset.loaded = Array.from(document.images).every(i => i.naturalWidth > 0) ? "ok" : "broken";
}});
</script>
</body></html>
"""


"""`lengthgen`: list registered components, collect sweeps, plot and report them."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lengthgen.errors import ConfigError


def task_rows() -> list[dict[str, str]]:
    from lengthgen.registry import TASKS

    rows = []
    for name, cls in TASKS.items():
        task = cls()
        chance = "-" if task.chance is None else f"{task.chance:.3g}"
        rows.append({"name": name, "family": task.family, "vocab": str(task.vocab_size),
                     "length": task.length_meaning, "chance": chance, "description": task.description})
    return rows


def position_rows() -> list[dict[str, str]]:
    from lengthgen.registry import POSITIONS

    return [{"name": name, "family": s.family, "formula": s.formula, "parameters": s.parameters,
             "paper": s.paper, "description": s.description} for name, s in POSITIONS.items()]


def model_rows() -> list[dict[str, str]]:
    from lengthgen.registry import MODELS

    return [{"name": name, "layouts": ", ".join(m.layouts), "description": m.description}
            for name, m in MODELS.items()]


ROWS = {"tasks": task_rows, "positions": position_rows, "models": model_rows}


def format_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(none)"
    cols = list(rows[0])
    width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(width[c]) for c in cols).rstrip()]
    lines += ["  ".join(r[c].ljust(width[c]) for c in cols).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_list(args) -> None:
    from lengthgen import registry

    print(format_table(ROWS[args.what]()))
    table = {"tasks": registry.TASKS, "positions": registry.POSITIONS, "models": registry.MODELS}[args.what]
    for name, error in table.broken().items():
        print(f"warning: {args.what[:-1]} '{name}' failed to load: {error}", file=sys.stderr)


def cmd_collect(args) -> None:
    from lengthgen.collect import write_tables

    curves, summaries = write_tables(Path(args.dir))
    print(f"{len(summaries)} runs x seeds, {len(curves)} rows -> {Path(args.dir) / 'results.parquet'}")


def cmd_plot(args) -> None:
    from lengthgen.collect import collect, varying_columns
    from lengthgen.plots import plot_curves

    curves, _ = collect(Path(args.dir))
    out = plot_curves(curves, Path(args.out or Path(args.dir) / "curves.png"),
                      train_max_length=_single(curves, "cfg.train.max_length"), title=_title(curves),
                      group_by=varying_columns(curves) or None)
    print(f"wrote {out}")


def cmd_report(args) -> None:
    """Collect, plot, write the per-length table and print the per-configuration summary."""
    from lengthgen.collect import varying_columns, write_tables
    from lengthgen.plots import config_label, plot_curves

    root = Path(args.dir)
    curves, summaries = write_tables(root)
    group = varying_columns(curves) or ["position"]
    plot = plot_curves(curves, root / "curves.png", train_max_length=_single(curves, "cfg.train.max_length"),
                       title=_title(curves), group_by=group)
    curves = curves.assign(config=config_label(curves, group))
    table = (curves.groupby(["config", "length", "split"], sort=True)[["token_acc", "seq_acc"]].mean()
             .reset_index())
    from lengthgen.results import write_csv

    write_csv(root / "table.csv", table)
    summaries = summaries.assign(config=config_label(summaries, [c for c in group if c in summaries] or ["position"]))
    means = summaries.groupby("config", sort=True)[["mean_test_token_acc", "mean_test_seq_acc",
                                                    "generalization_length"]].mean()
    print(f"{'config':<28} {'test token acc':>14} {'test exact':>10} {'gen. length':>11}")
    for config, row in means.iterrows():
        print(f"{config:<28} {row.mean_test_token_acc:>14.3f} {row.mean_test_seq_acc:>10.3f} "
              f"{row.generalization_length:>11.1f}")
    print(f"wrote {plot}, {root / 'table.csv'}, {root / 'results.parquet'}, {root / 'summary.csv'}")


def _single(frame, column):
    values = frame[column].unique() if column in frame else []
    return int(values[0]) if len(values) == 1 else None


def _title(frame) -> str:
    parts = [str(frame[c].iloc[0]) for c in ("task", "model") if c in frame and frame[c].nunique() == 1]
    return " / ".join(parts)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lengthgen", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("list", help="list registered tasks, positions or models")
    s.add_argument("what", choices=sorted(ROWS))
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("collect", help="gather every run under DIR into DIR/results.parquet and DIR/summary.csv")
    s.add_argument("dir")
    s.set_defaults(func=cmd_collect)
    s = sub.add_parser("plot", help="accuracy vs length for every run under DIR (DIR/curves.png)")
    s.add_argument("dir")
    s.add_argument("--out", default=None)
    s.set_defaults(func=cmd_plot)
    s = sub.add_parser("report", help="collect + plot + per-length table.csv + printed summary")
    s.add_argument("dir")
    s.set_defaults(func=cmd_report)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (ConfigError, FileNotFoundError) as exc:
        if os.environ.get("LENGTHGEN_DEBUG"):
            raise
        print(f"lengthgen: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

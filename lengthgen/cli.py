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


def format_markdown(rows: list[dict[str, str]]) -> str:
    """A GitHub-flavoured Markdown table (`|` inside cells escaped)."""
    if not rows:
        return "(none)"
    cols = list(rows[0])

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(cols), "|" + "|".join("---" for _ in cols) + "|", *(line(r[c] for c in cols) for r in rows)])


def cmd_list(args) -> None:
    from lengthgen import registry

    print((format_markdown if args.markdown else format_table)(ROWS[args.what]()))
    table = {"tasks": registry.TASKS, "positions": registry.POSITIONS, "models": registry.MODELS}[args.what]
    for name, error in table.broken().items():
        print(f"warning: {args.what[:-1]} '{name}' failed to load: {error}", file=sys.stderr)


def parse_options(pairs: list[str]) -> dict:
    """`key=value` strings to a dict; values are read as YAML scalars (3, 0.5, true, text)."""
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option expects key=value, got '{pair}'")
        options[key] = yaml.safe_load(value) if value else ""
    return options


def cmd_check_task(args) -> None:
    """Run every contract check on one task; one line per check, exit 1 on the first failure."""
    from lengthgen.check import DEFAULT_LENGTHS, run_checks
    from lengthgen.registry import TASKS

    task = TASKS.get(args.name)(**parse_options(args.option))
    lengths = DEFAULT_LENGTHS
    if args.lengths:
        try:
            lengths = tuple(int(n) for n in args.lengths.split(","))
        except ValueError:
            raise ConfigError(f"--lengths expects comma-separated integers, got '{args.lengths}'") from None
    results = run_checks(task, lengths, batches=args.batches, batch_size=args.batch_size, seed=args.seed)
    for r in results:
        print(f"{'ok' if r.ok else 'FAIL':4}  {r.name:<11} {r.detail}")
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"lengthgen: task '{args.name}' failed check '{failed[0].name}': {failed[0].detail}", file=sys.stderr)
        sys.exit(1)
    print(f"task '{args.name}' passed {len(results)} checks")


def cmd_collect(args) -> None:
    from lengthgen.collect import write_tables

    curves, summaries = write_tables(Path(args.dir))
    print(f"{len(summaries)} runs x seeds, {len(curves)} rows -> {Path(args.dir) / 'results.parquet'}")


def cmd_plot(args) -> None:
    from lengthgen.collect import collect, varying_columns
    from lengthgen.plots import plot_curves
    from lengthgen.report import single_value, title_of

    curves, _ = collect(Path(args.dir))
    out = plot_curves(curves, Path(args.out or Path(args.dir) / "curves.png"),
                      train_max_length=single_value(curves, "cfg.train.max_length"), title=title_of(curves),
                      group_by=varying_columns(curves) or None)
    print(f"wrote {out}")


def cmd_report(args) -> None:
    """Tables, figures and report.html for the runs under DIR, and the summary printed."""
    from lengthgen.report import format_table, report

    r = report(Path(args.dir))
    print(format_table(r.summary))
    for run, reason in r.failed:
        print(f"failed: {run}: {reason}")
    spent = r.spent
    print(f"{spent['runs']} runs: training {spent['train_seconds']:.1f} s and evaluation {spent['eval_seconds']:.1f} s, "
          f"including {spent.get('compile_seconds', 0):.1f} s building programs ({spent.get('compiled_programs', 0):.0f} "
          f"compiled, {spent.get('loaded_programs', 0):.0f} loaded from the cache)")
    print(f"wrote {r.html}, {', '.join(str(f) for f in r.figures)}, table.csv, results.parquet, summary.csv")


def cmd_verdict(args) -> None:
    from lengthgen.verdict import verdict

    passed, lines = verdict(Path(args.spec), Path(args.results_dir))
    print("\n".join(lines))
    if not passed:
        sys.exit(1)


def cmd_attention(args) -> None:
    from lengthgen.attention_maps import capture, load, record, save

    built, program, params = load(Path(args.run_dir))
    if not 0 <= args.model < len(built.cfg.models):
        raise ConfigError(f"--model {args.model} out of range: the run has models 0..{len(built.cfg.models) - 1}")
    c = capture(built, program, params, args.length, args.samples, args.set)
    npz, png = save(c, Path(args.run_dir), args.length, args.set, args.model)
    table = record(c, built, Path(args.run_dir), args.length, args.set)[0]
    lr, seed = built.cfg.models[args.model]
    table = table[(table.lr == lr) & (table.seed == seed)]
    right, wrong = int(table.steps_right.iloc[0]), int(table.steps_wrong.iloc[0])
    print(f"{built.task.name} / {built.position.name}, length {args.length} ({args.set}), model {args.model}: "
          f"{right}/{right + wrong} scored steps right")
    if c.needed is None:
        print(f"task '{built.task.name}' does not define the slots a step needs: maps saved, no mass split")
    else:
        print("attention mass at scored steps on the slots they need / on distractors "
              "(distractor mass at steps right / wrong):")
        columns = ["layer", "head", "needed", "distractor", "distractor_right", "distractor_wrong"]
        print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {npz}, {png}; rows in attention.csv and steps.csv")


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes end with one line (`lengthgen --help` shows the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="lengthgen", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("list", help="list registered tasks, positions or models")
    s.add_argument("what", choices=sorted(ROWS))
    s.add_argument("--markdown", action="store_true",
                   help="print a Markdown table (docs/tasks.md and docs/positions.md are this output)")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("check-task", help="check a task's sampler against its contract and reference solver")
    s.add_argument("name")
    s.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="task option (repeatable)")
    s.add_argument("--lengths", default="",
                   help="comma-separated lengths (default: 1,2,3,4,5,8,13,21,40,48,100,500,5000)")
    s.add_argument("--batches", type=int, default=3, help="batches per length")
    s.add_argument("--batch-size", type=int, default=32, help="rows per batch (at most 4 at lengths above 100)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_check_task)
    s = sub.add_parser("collect", help="gather every run under DIR into DIR/results.parquet and DIR/summary.csv")
    s.add_argument("dir")
    s.set_defaults(func=cmd_collect)
    s = sub.add_parser("plot", help="accuracy vs length for every run under DIR (DIR/curves.png)")
    s.add_argument("dir")
    s.add_argument("--out", default=None)
    s.set_defaults(func=cmd_plot)
    s = sub.add_parser("attention", help="attention maps of a finished run at one length, split into the slots "
                                          "each step needs and distractors")
    s.add_argument("run_dir")
    s.add_argument("--length", type=int, required=True)
    s.add_argument("--set", default="default", help="evaluation set (default, or a task's variant)")
    s.add_argument("--samples", type=int, default=16, help="evaluation instances")
    s.add_argument("--model", type=int, default=0, help="which model of the run (index over lr x seed)")
    s.set_defaults(func=cmd_attention)
    s = sub.add_parser("report", help="collect + plot + per-length table.csv + printed summary")
    s.add_argument("dir")
    s.set_defaults(func=cmd_report)
    s = sub.add_parser("verdict", help="check a study's claims file against the runs under RESULTS_DIR "
                                       "(one PASS/FAIL line per claim; exit 1 on any FAIL)")
    s.add_argument("spec")
    s.add_argument("results_dir")
    s.set_defaults(func=cmd_verdict)
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

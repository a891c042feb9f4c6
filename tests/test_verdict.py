"""lengthgen verdict: claims files judged against fabricated study results with known numbers."""

import json
import math
import re

import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_cli

from lengthgen.errors import ConfigError
from lengthgen.evaluate import CURVE_COLUMNS
from lengthgen.verdict import load_claims, mean_interval, verdict

N, M = 4, 8
# token_acc at test lengths (N+1..M) per (task, position, seed); training lengths are all 0.99.
GAINS = {"reverse_string": 0.2, "duplicate_string": 0.1, "odds_first": -0.1}


def accuracy_at_test(task, position, seed):
    plain = 0.5 + 0.01 * seed
    if task == "parity_check":
        return 0.5 + 0.02 * seed
    return plain + GAINS[task] if position == "randomized_rope" else plain


def fabricate(root):
    """One run directory per (task, position) with 3 seeds, as lengthgen-train writes them."""
    for task in [*GAINS, "parity_check"]:
        for position in ("rope", "randomized_rope"):
            run = root / f"{task}_{position}"
            run.mkdir(parents=True)
            config = {"task": {"name": task}, "position": {"name": position}, "seed": 0,
                      "train": {"max_length": N, "lr": 0.001}, "eval": {"max_length": M}}
            (run / "config.yaml").write_text(yaml.safe_dump(config))
            rows = []
            for seed in range(3):
                for length in range(1, M + 1):
                    acc = 0.99 if length <= N else accuracy_at_test(task, position, seed)
                    rows.append({"task": task, "model": "encoder", "position": position, "lr": 0.001, "seed": seed,
                                 "eval_set": "default", "length": length, "split": "train" if length <= N else "test",
                                 "n": 100, "tokens": 100, "token_errors": round(100 * (1 - acc)), "token_acc": acc,
                                 "token_acc_lo": acc, "token_acc_hi": acc, "seq_acc": acc, "seq_acc_lo": acc,
                                 "seq_acc_hi": acc})
            pd.DataFrame(rows, columns=CURVE_COLUMNS).to_csv(run / "curve.csv", index=False)
            per_seed = [{"lr": 0.001, "seed": s, "mean_test_token_acc": accuracy_at_test(task, position, s),
                         "mean_test_seq_acc": 0.0, "generalization_length": N} for s in range(3)]
            (run / "summary.json").write_text(json.dumps({"task": task, "model": "encoder", "position": position,
                                                          "per_seed": per_seed}))
    return root


def claims_file(tmp_path, *claims):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": list(claims)}))
    return path


BEATS = {"id": "beats", "metric": "token_acc", "lengths": "test", "where": {"task": list(GAINS)},
         "compare": {"column": "position", "a": "randomized_rope", "b": "rope"}, "per": "task", "above": 0.0}


@pytest.mark.parametrize("require, above, passes", [("most", 0.0, True), ("all", 0.0, False),
                                                    ("mean", 0.0, True), ("mean", 0.1, False)])
def test_paired_difference_per_task(tmp_path, require, above, passes):
    root = fabricate(tmp_path / "study")
    passed, [line] = verdict(claims_file(tmp_path, {**BEATS, "require": require, "above": above}), root)
    assert passed is passes and line.startswith("PASS beats" if passes else "FAIL beats")
    assert "reverse_string +0.200 [+0.200, +0.200] n=3" in line
    assert "odds_first -0.100 [-0.100, -0.100] n=3 (x)" in line
    if require == "mean":
        assert f"mean over 3 task {(0.2 + 0.1 - 0.1) / 3:+.3f}" in line
    else:
        assert "2/3 task pass" in line


def test_bound_claim_per_position_with_intervals(tmp_path):
    root = fabricate(tmp_path / "study")
    claim = {"id": "parity_chance", "metric": "token_acc", "where": {"task": "parity_check"},
             "per": ["task", "position"], "below": 0.6}
    passed, [line] = verdict(claims_file(tmp_path, claim), root)
    mean, lo, hi = 0.52, 0.52 - 4.303 * 0.02 / math.sqrt(3), 0.52 + 4.303 * 0.02 / math.sqrt(3)
    assert passed and f"parity_check/rope {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] n=3" in line
    strict = {**claim, "below": 0.55, "test": "interval"}
    passed, [line] = verdict(claims_file(tmp_path, strict), root)
    assert not passed and "(x)" in line, "the interval's upper end 0.57 is above 0.55"


@pytest.mark.parametrize("lengths, value", [("train", 0.99), (["1", "N"], 0.99), (["N+1", "2*N"], 0.5)])
def test_length_ranges_in_terms_of_n_and_m(tmp_path, lengths, value):
    root = fabricate(tmp_path / "study")
    claim = {"id": "range", "metric": "token_acc", "lengths": lengths, "where": {"task": "parity_check", "seed": 0,
                                                                                  "position": "rope"}, "above": 0.0}
    _, [line] = verdict(claims_file(tmp_path, claim), root)
    assert f"parity_check {value:+.3f}" in line


def test_a_claim_that_selects_nothing_fails(tmp_path):
    root = fabricate(tmp_path / "study")
    passed, [line] = verdict(claims_file(tmp_path, {**BEATS, "lengths": ["M+1", "M+5"]}), root)
    assert not passed and line.startswith("FAIL beats: no data")


def test_claims_on_tasks_or_schemes_not_run_are_skipped_but_something_must_pass(tmp_path):
    root = fabricate(tmp_path / "study")
    other_task = {**BEATS, "id": "other_task", "where": {"task": "bucket_sort"}}
    other_scheme = {**BEATS, "id": "other_scheme", "compare": {"column": "position", "a": "randomized_alibi",
                                                               "b": "alibi"}}
    other_run = {**BEATS, "id": "other_run", "where": {"run": "dropout"}}
    passed, lines = verdict(claims_file(tmp_path, other_task, other_scheme, other_run, {**BEATS, "require": "most"}),
                            root)
    assert passed
    assert lines[0] == "SKIP other_task: no run of task bucket_sort in these results"
    assert lines[1] == "SKIP other_scheme: no run of position randomized_alibi in these results"
    assert lines[2] == "SKIP other_run: no run dropout in these results"
    passed, lines = verdict(claims_file(tmp_path, other_task, other_scheme), root)
    assert not passed


@pytest.mark.parametrize("claim, message", [
    ({**BEATS, "where": {"task": ["reverse_strin"]}}, "unknown task 'reverse_strin'; valid: "),
    ({**BEATS, "compare": {"column": "position", "a": "randomised_rope", "b": "rope"}},
     "unknown position 'randomised_rope'; valid: "),
])
def test_unregistered_names_in_claims_are_errors(tmp_path, claim, message):
    with pytest.raises(ConfigError, match=message):
        load_claims(claims_file(tmp_path, claim))


@pytest.mark.parametrize("claim, message", [
    ({**BEATS, "metric": "loss"}, "unknown metric 'loss'"),
    ({**BEATS, "table": "steps"}, "unknown metric 'token_acc' of table steps; valid: step_acc"),
    ({**BEATS, "table": "probes"}, "unknown table 'probes'; valid: curves, attention, steps"),
    ({**BEATS, "require": "some"}, "unknown require 'some'"),
    ({**BEATS, "below": 1.0}, "exactly one of 'above' and 'below'"),
    ({**BEATS, "lengths": ["N+1", "__import__('os')"]}, "lengths must be test, train or [lo, hi]"),
    ({**BEATS, "compare": {"column": "position", "a": "x"}}, "compare needs exactly the keys"),
    ({**BEATS, "bogus": 1}, "unknown key 'bogus'"),
])
def test_bad_claims_are_one_line_errors(tmp_path, claim, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_claims(claims_file(tmp_path, claim))


def add_steps_tables(root):
    """steps.csv per run: step_acc 1.0 at steps <= N, then 0.2 + 0.1 * seed; a gap in the
    attention table of 0.1 * seed at test lengths, NaN at training lengths (no wrong step)."""
    for run in (path.parent for path in root.glob("*/summary.json")):
        task = yaml.safe_load((run / "config.yaml").read_text())["task"]["name"]
        rows, att = [], []
        for seed in range(3):
            for length in range(1, M + 1):
                for step in range(1, length + 1):
                    acc = 1.0 if step <= N else 0.2 + 0.1 * seed
                    rows.append({"task": task, "seed": seed, "lr": 0.001, "eval_set": "default",
                                 "length": length, "step": step, "trained": step <= N, "step_acc": acc,
                                 "right": round(100 * acc), "instances": 100})
                for layer in range(2):
                    gap = float("nan") if length <= N else 0.1 * seed - 0.05 * layer
                    att.append({"task": task, "seed": seed, "lr": 0.001, "eval_set": "default", "length": length,
                                "layer": layer, "head": 0, "distractor_gap": gap, "distractor_right": 0.5,
                                "distractor_wrong": 0.5 + gap})
        pd.DataFrame(rows).to_csv(run / "steps.csv", index=False)
        pd.DataFrame(att).to_csv(run / "attention.csv", index=False)


def test_claims_on_the_step_and_attention_tables(tmp_path):
    root = fabricate(tmp_path / "study")
    add_steps_tables(root)
    trained = {"id": "trained", "table": "steps", "metric": "step_acc", "lengths": "test",
               "where": {"task": "reverse_string", "trained": True}, "per": "task", "above": 0.99}
    beyond = {**trained, "id": "beyond", "where": {"task": "reverse_string", "trained": False},
              "above": None, "below": 0.35}
    gap = {"id": "gap", "table": "attention", "metric": "distractor_gap", "lengths": "test", "per": "task",
           "where": {"task": "reverse_string"}, "above": 0.0}
    passed, lines = verdict(claims_file(tmp_path, trained, {k: v for k, v in beyond.items() if v is not None}, gap),
                            root)
    assert passed, lines
    assert "reverse_string +1.000 [+1.000, +1.000] n=6" in lines[0]  # 2 runs (rope, randomized) x 3 seeds
    assert f"reverse_string {0.3:+.3f}" in lines[1] and f"reverse_string {0.1 - 0.025:+.3f}" in lines[2]
    passed, [line] = verdict(claims_file(tmp_path, {**gap, "above": 0.1}), root)
    assert not passed and line.startswith("FAIL gap")


def test_error_rate_is_pooled_and_eval_sets_are_selected_by_where(tmp_path):
    root = fabricate(tmp_path / "study")
    run = root / "reverse_string_rope"
    curve = pd.read_csv(run / "curve.csv")
    sparse = curve[curve.length == N].assign(eval_set="sparse", tokens=100000, token_errors=[0, 0, 3])
    pd.concat([curve, sparse]).to_csv(run / "curve.csv", index=False)
    claim = {"id": "rare", "metric": "error_rate", "lengths": "train", "where": {"task": "reverse_string",
             "position": "rope", "eval_set": "sparse"}, "per": ["task", "seed"], "below": 1e-6}
    passed, [line] = verdict(claims_file(tmp_path, claim), root)
    assert not passed and "reverse_string/0 +0.000 [+0.000, +0.000] n=1;" in line
    assert "reverse_string/2 +3.00e-05 [+3.00e-05, +3.00e-05] n=1 (x)" in line
    default = {**claim, "id": "default", "where": {"task": "reverse_string", "position": "rope"}, "per": "task",
               "below": 0.0101, "above": None}
    passed, [line] = verdict(claims_file(tmp_path, {k: v for k, v in default.items() if v is not None}), root)
    assert passed and "reverse_string +0.010 [+0.010, +0.010] n=3" in line  # 1 wrong of 100 per length, pooled


def test_a_claim_needing_more_seeds_than_the_results_have_is_skipped(tmp_path):
    root = fabricate(tmp_path / "study")  # 3 seeds
    claim = {**BEATS, "require": "most"}
    passed, [line] = verdict(claims_file(tmp_path, {**claim, "min_seeds": 3}), root)
    assert passed and line.startswith("PASS beats")
    passed, [line] = verdict(claims_file(tmp_path, {**claim, "min_seeds": 5}), root)
    assert not passed and line == "SKIP beats: 3 seed(s) in these results, fewer than the 5 it needs"


def test_a_table_no_run_has_is_an_error(tmp_path):
    root = fabricate(tmp_path / "study")
    claim = {"id": "gap", "table": "attention", "metric": "distractor_gap", "per": "task", "above": 0.0}
    with pytest.raises(FileNotFoundError, match="no run under .* has attention.csv"):
        verdict(claims_file(tmp_path, claim), root)


def test_mean_interval_matches_the_t_formula():
    mean, lo, hi = mean_interval([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2) and hi - mean == pytest.approx(4.303 * 0.1 / math.sqrt(3))
    assert mean_interval([0.4]) == (0.4, 0.4, 0.4)


def test_the_command_exits_1_on_a_failed_claim(tmp_path):
    root = fabricate(tmp_path / "study")
    ok = run_cli("lengthgen", "verdict", str(claims_file(tmp_path, {**BEATS, "require": "most"})), str(root))
    assert ok.returncode == 0 and ok.stdout.startswith("PASS beats"), ok.stderr
    bad = run_cli("lengthgen", "verdict", str(claims_file(tmp_path, {**BEATS, "require": "all"})), str(root))
    assert bad.returncode == 1 and bad.stdout.startswith("FAIL beats")
    broken = run_cli("lengthgen", "verdict", str(tmp_path / "missing.yaml"), str(root))
    assert broken.returncode == 2 and len(broken.stderr.strip().splitlines()) == 1


def test_every_committed_claims_file_is_valid():
    files = sorted((ROOT / "experiments").glob("*/claims.yaml"))
    assert files
    for path in files:
        assert load_claims(path)


def _words_and_numbers(line: str) -> tuple[str, list[float]]:
    numbers = [float(x) for x in NUMBER.findall(line)]
    return NUMBER.sub("#", line), numbers


NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]\d+)?")


@pytest.mark.parametrize("committed", sorted((ROOT / "experiments").glob("*/results/*/verdict.txt")),
                         ids=lambda p: str(p.relative_to(ROOT / "experiments").parent))
def test_every_committed_verdict_is_what_its_committed_results_give(committed):
    """verdict.txt is recomputed from the run directories beside it: the same verdicts, claims and
    numbers (within the last printed digit, which summation order on another CPU may move)."""
    _, lines = verdict(committed.parents[2] / "claims.yaml", committed.parent)
    expected = committed.read_text().splitlines()
    assert len(lines) == len(expected)
    for got, want in zip(lines, expected):
        (got_words, got_numbers), (want_words, want_numbers) = map(_words_and_numbers, (got, want))
        assert got_words == want_words
        assert got_numbers == pytest.approx(want_numbers, abs=1.1e-3), got

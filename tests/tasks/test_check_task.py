"""`check_task` / `lengthgen check-task`: every built-in passes, and broken tasks are caught."""

import numpy as np
import pytest

from conftest import run_cli, tiny_config
from lengthgen import cli
from lengthgen.build import build
from lengthgen.check import DEFAULT_LENGTHS, LONG_LENGTH, LONG_ROWS, check_task, run_checks
from lengthgen.config import EvalConfig, TrainConfig
from lengthgen.errors import ConfigError
from lengthgen.registry import TASKS
from lengthgen.task import Batch, Task
from lengthgen_tasks.copy import CopyTask
from lengthgen_tasks.parity import ParityTask
from lengthgen_tasks.stack_manipulation import StackManipulationTask

FORMAT_CASES = (
    [("parity", {"format": f}) for f in TASKS.get("parity").FORMATS]
    + [("parity", {"format": "padded_scratchpad", "pad_length": 9})]
    + [("variable_assignment", {"format": f, "distractors": d})
       for f in TASKS.get("variable_assignment").FORMATS for d in (False, True)]
    + [("addition", {"format": f, "reverse_output": r}) for f in TASKS.get("addition").FORMATS for r in (False, True)]
    + [("addition", {"format": "index_hints", "hint_offset": True, "hints": 50})]
    + [("flip_flop", {"p_i": p}) for p in (0.0, 0.1, 0.98)]
    + [("modular_arithmetic", {"modulus": 6}), ("bucket_sort", {"alphabet": 3}), ("cycle_navigation", {"states": 7})]
)


@pytest.mark.parametrize("name", TASKS.names())
def test_every_registered_task_passes(name):
    assert check_task(TASKS.get(name)()) == []


@pytest.mark.parametrize("name,options", FORMAT_CASES, ids=lambda v: str(v))
def test_every_format_passes(name, options):
    assert check_task(TASKS.get(name)(**options), batches=2) == []


class Mislabels(CopyTask):
    """Flips one target bit in a quarter of the rows."""

    name = "mislabels"

    def sample(self, rng, length, batch_size):
        x, y, m = super().sample(rng, length, batch_size)
        bad = rng.random(batch_size) < 0.25
        y[bad, -1] = 1 - y[bad, -1]
        return Batch(x, y, m)


class IgnoresGenerator(CopyTask):
    name = "ignores_generator"

    def sample(self, rng, length, batch_size):
        x = np.random.randint(0, 2, (batch_size, length))
        return Batch(x, x.copy(), np.ones_like(x, bool))


class FixedSize(CopyTask):
    """Always samples length 3, whatever is asked; shapes() agrees, so only the size check sees it."""

    name = "fixed_size"

    def shapes(self, length):
        return 3, 3

    def sample(self, rng, length, batch_size):
        return super().sample(rng, 3, batch_size)


class UnscoredRows(CopyTask):
    name = "unscored_rows"

    def sample(self, rng, length, batch_size):
        x, y, m = super().sample(rng, length, batch_size)
        m[0] = False
        return Batch(x, y, m)


class OutOfVocab(CopyTask):
    name = "out_of_vocab"

    def sample(self, rng, length, batch_size):
        x, y, m = super().sample(rng, length, batch_size)
        return Batch(x, y + 1, m)


class CrashingSolver(CopyTask):
    name = "crashing_solver"

    def solve(self, inputs_I):
        raise KeyError("boom")


class EmptyInputPlaceholder(CopyTask):
    """An empty input declared readable by an encoder."""

    name = "empty_input"

    def shapes(self, length):
        return 0, length

    def sample(self, rng, length, batch_size):
        y = rng.integers(0, 2, (batch_size, length))
        return Batch(np.zeros((batch_size, 0), np.int64), y, np.ones_like(y, bool))

    def solve(self, inputs_I):
        return np.asarray(inputs_I)


class UnscoredEnd(StackManipulationTask):
    """Scores the final stack but not the END after it; every scored label is still right."""

    name = "unscored_end"

    def sample(self, rng, length, batch_size):
        x, y, m = super().sample(rng, length, batch_size)
        return Batch(x, y, m & (y != self.token_id("END")))


class ScoredFiller(StackManipulationTask):
    """Scores one "0" of filler after END (where there is one); the solver agrees with the filler."""

    name = "scored_filler"

    def sample(self, rng, length, batch_size):
        x, y, m = super().sample(rng, length, batch_size)
        m[:, 1:] |= m[:, :-1]
        return Batch(x, y, m)


class ScoredMarkers(ParityTask):
    """Scores the markers of the markup format too; the solver writes the same markers."""

    name = "scored_markers"

    def __init__(self, **options):
        super().__init__(**{"format": "markup", **options})

    def sample(self, rng, length, batch_size):
        x, y, m = super().sample(rng, length, batch_size)
        return Batch(x, y, np.ones_like(m))


class WrongPastEvalLength(CopyTask):
    """Flips a label only at lengths above the default eval.max_length."""

    name = "wrong_past_eval_length"

    def sample(self, rng, length, batch_size):
        x, y, m = super().sample(rng, length, batch_size)
        if length > EvalConfig().max_length:
            y[:, -1] = 1 - y[:, -1]
        return Batch(x, y, m)


@pytest.mark.parametrize("cls,check", [
    (Mislabels, "labels"), (IgnoresGenerator, "determinism"), (FixedSize, "sizes"), (UnscoredRows, "mask"),
    (OutOfVocab, "shapes"), (CrashingSolver, "labels"), (EmptyInputPlaceholder, "layouts"),
    (UnscoredEnd, "mask"), (ScoredFiller, "mask"), (ScoredMarkers, "mask"), (WrongPastEvalLength, "labels"),
])
def test_broken_tasks_fail_the_right_check(cls, check):
    failed = [r.name for r in run_checks(cls()) if not r.ok]
    assert failed and failed[0] == check, failed


def test_default_lengths_reach_far_past_the_default_eval_length():
    assert max(DEFAULT_LENGTHS) >= 100 * EvalConfig().max_length and EvalConfig().max_length in DEFAULT_LENGTHS
    problems = check_task(WrongPastEvalLength())
    assert len(problems) == 1 and problems[0].startswith("labels: length 100 row 0:")


def test_cli_help_states_the_default_lengths(capsys):
    with pytest.raises(SystemExit):
        cli.main(["check-task", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {','.join(map(str, DEFAULT_LENGTHS))})" in text
    assert f"(at most {LONG_ROWS} at lengths above {LONG_LENGTH})" in text


def test_mask_report_names_the_position_and_both_masks():
    problems = check_task(UnscoredEnd())
    assert len(problems) == 1 and problems[0].startswith("mask: length 1 row 0: target position ")
    assert "is unscored, scored_mask says scored" in problems[0]


def test_a_task_without_scored_mask_is_checked_on_its_labels_only():
    class NoScoredMask(CopyTask):
        name = "no_scored_mask"
        scored_mask = Task.scored_mask

    results = {r.name: r for r in run_checks(NoScoredMask())}
    assert all(r.ok for r in results.values())
    assert results["mask"].detail == "every row has a scored position; no scored_mask declared"


def test_mislabel_report_names_the_row_and_both_answers():
    problems = check_task(Mislabels())
    assert len(problems) == 1 and problems[0].startswith("labels: length ")
    assert "sampler gives" in problems[0] and "solver gives" in problems[0]


def test_cli_prints_one_line_per_check(capsys):
    cli.main(["check-task", "parity", "--option", "format=padded_scratchpad", "--option", "pad_length=12",
              "--lengths", "1,5,12,40"])
    out = capsys.readouterr().out.splitlines()
    assert all(line.startswith("ok ") for line in out[:-1]) and len(out) == 9
    assert "lengths 1, 5, 12" in out[0] and "40" not in out[0]


def test_cli_fails_a_broken_plugin_with_one_line(capsys, monkeypatch):
    monkeypatch.setitem(TASKS._entries, "mislabels", Mislabels)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check-task", "mislabels"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "FAIL  labels" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lengthgen: task 'mislabels' failed check 'labels'")


def test_cli_bad_option_is_a_config_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check-task", "flip_flop", "--option", "p_i=1.5"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "lengthgen: error: task 'flip_flop': p_i must be in [0, 1), got 1.5"


def test_installed_command_checks_a_builtin():
    proc = run_cli("lengthgen", "check-task", "stack_manipulation", "--batches", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "task 'stack_manipulation' passed 8 checks"


class ConstantSampler(CopyTask):
    name = "constant_sampler"

    def sample(self, rng, length, batch_size):
        x = np.zeros((batch_size, length), np.int64)
        return Batch(x, x.copy(), np.ones_like(x, bool))


@pytest.mark.parametrize("cls,message", [
    (IgnoresGenerator, "task 'ignores_generator': sample() is not a pure function of its generator (same seed gave "
                       "different batches at length 4); use the rng argument, not NumPy's global RNG"),
    (ConstantSampler, "task 'constant_sampler': batches from different seeds are identical at length 4 "
                      "(is the generator used?)"),
])
def test_training_refuses_a_sampler_that_is_not_a_function_of_its_generator(cls, message, monkeypatch):
    monkeypatch.setitem(TASKS._entries, cls.name, cls)
    with pytest.raises(ConfigError) as error:
        build(tiny_config(task=cls.name, m=8))
    assert str(error.value) == message


def test_training_accepts_every_builtin_sampler():
    for name in TASKS.names():
        task = TASKS.get(name)()
        low = task.min_length
        model = "encoder" if "placeholder" in task.layouts else "decoder"
        build(tiny_config(task=name, model=model, n=low + 1, m=low + 2,
                          train=TrainConfig(min_length=low, max_length=low + 1),
                          eval=EvalConfig(min_length=low, max_length=low + 2)))

"""needed_slots of the parity and variable_assignment formats and of flip_flop, checked on laid-out sequences:
the tokens at a step's needed slots alone determine its label, and the slots are visible to it."""

from __future__ import annotations

import numpy as np
import pytest

from lengthgen.attention import attention_mask
from lengthgen.data import encode, seq_len
from lengthgen.registry import TASKS

PARITY_FORMATS = ("direct", "scratchpad", "padded_scratchpad", "no_distractor", "markup")
VA_FORMATS = ("direct", "scratchpad", "padded_scratchpad", "no_distractor")


def laid_out(task, length, layout, samples=6, seed=0):
    batch = task.sample(np.random.default_rng(seed), length, samples)
    size = seq_len(task, length)
    ex = encode(task, batch, length, layout, size)
    I = batch.inputs_BxI.shape[1]
    visible = np.asarray(attention_mask(size, size, layout == "teacher_forced", task.attention_window))
    for b in range(samples):
        need = task.needed_slots(batch.inputs_BxI[b], batch.targets_BxT[b], layout)
        assert need.shape == (batch.targets_BxT.shape[1], size)
        yield batch, b, I, ex.tokens_BxS[b], need, visible


def layouts(task):
    return [layout for layout in ("placeholder", "teacher_forced") if layout in task.layouts]


@pytest.mark.parametrize("fmt", PARITY_FORMATS)
def test_a_parity_step_is_the_xor_of_its_needed_tokens(fmt):
    task = TASKS.get("parity")(format=fmt, pad_length=12)
    for layout in layouts(task):
        for batch, b, I, tokens, need, visible in laid_out(task, 9, layout):
            scored = batch.mask_BxT[b]
            for t in range(len(scored)):
                if not scored[t]:
                    assert not need[t].any()
                    continue
                slots = np.flatnonzero(need[t])
                assert slots.size and visible[I + t, slots].all(), (layout, t, slots)
                assert int(tokens[slots].sum()) % 2 == batch.targets_BxT[b, t], (layout, t, slots)


@pytest.mark.parametrize("fmt", VA_FORMATS)
@pytest.mark.parametrize("distractors", [False, True])
def test_a_variable_assignment_step_reads_its_answer_from_the_needed_statement(fmt, distractors):
    task = TASKS.get("variable_assignment")(format=fmt, distractors=distractors, names=40, pad_length=8)
    eq = task.token_id("=")
    for layout in layouts(task):
        for batch, b, I, tokens, need, visible in laid_out(task, 6, layout):
            for t in np.flatnonzero(batch.mask_BxT[b]):
                slots = np.flatnonzero(need[t])
                label = batch.targets_BxT[b, t]
                assert visible[I + t, slots].all(), (layout, t, slots)
                if fmt == "no_distractor":
                    assert list(tokens[slots]) == [label]
                    continue
                statements = [s for s in slots[:-1] if tokens[s + 1] == eq and s + 2 in slots]
                if fmt == "direct" or layout == "placeholder":
                    assert len(statements) == t + 1 if fmt != "direct" else len(statements) == 6
                    continue
                # teacher forced: one statement `name = rhs` whose name is the fed variable, rhs the label
                [start] = statements
                fed = [s for s in slots if s not in (start, start + 1, start + 2)]
                assert len(fed) == 1 and tokens[start] == tokens[fed[0]] and tokens[start + 2] == label


def test_tasks_without_a_definition_say_so():
    task = TASKS.get("reverse_string")()
    batch = task.sample(np.random.default_rng(0), 4, 1)
    assert task.needed_slots(batch.inputs_BxI[0], batch.targets_BxT[0], "placeholder") is None


@pytest.mark.parametrize("p_i", [0.1, 0.8, 0.98])
def test_a_flip_flop_read_needs_the_slot_holding_the_last_written_bit(p_i):
    task = TASKS.get("flip_flop")(p_i=p_i)
    for batch, b, I, tokens, need, visible in laid_out(task, 40, "teacher_forced", samples=20):
        assert I == 0
        scored = batch.mask_BxT[b]
        assert not need[~scored].any()
        for t in np.flatnonzero(scored):
            [slot] = np.flatnonzero(need[t])
            assert visible[t, slot] and tokens[slot] == batch.targets_BxT[b, t]
            writes = [k for k in range(0, t, 2) if tokens[k + 1] == task.token_id("w")]
            assert slot == writes[-1] + 2  # the bit after the last w, fed one slot later

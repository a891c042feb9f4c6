"""Tasks are right at every length they accept, including past 2**15, where int16 counters,
positions and token ids would wrap around."""

import numpy as np
import pytest

from lengthgen.check import label_mismatch, mask_mismatch
from lengthgen.errors import ConfigError
from lengthgen.registry import TASKS
from lengthgen.task import check_batch

LONG = 2**15 + 232

# compute_sqrt works on Python ints (nothing to overflow) but its reference solver is quadratic in
# the length; variable_assignment needs a name per statement and its solver looks each one up.
SLOW_SOLVERS = {"compute_sqrt", "variable_assignment"}
CONFIGS = ([(name, {}) for name in TASKS.names() if name not in SLOW_SOLVERS]
           + [("parity", {"format": f}) for f in TASKS.get("parity").FORMATS if f != "padded_scratchpad"]
           + [("addition", {"format": f}) for f in TASKS.get("addition").FORMATS if f != "index_hints"]
           + [("addition", {"format": "index_hints", "hints": LONG + 1}),
              ("addition", {"format": "index_hints", "hints": 40_000, "hint_offset": True})])


@pytest.mark.parametrize("name,options", CONFIGS, ids=str)
def test_labels_and_mask_equal_the_references_beyond_int16(name, options):
    task = TASKS.get(name)(**options)
    batch = task.sample(np.random.default_rng(LONG), LONG, 2)
    check_batch(task, batch, LONG, 2)
    assert label_mismatch(task, batch, LONG) is None
    assert mask_mismatch(task, batch, LONG) is None


def test_stack_manipulation_beyond_int16_is_bits_then_actions():
    task = TASKS.get("stack_manipulation")()
    n = 40_000
    x, y, m = task.sample(np.random.default_rng(0), n, 4)
    bits = np.isin(x, [task.token_id("0"), task.token_id("1")])
    for row in bits:
        first_action = int(np.argmin(row))
        assert 1 <= first_action < n and not row[first_action:].any()
    assert label_mismatch(task, (x, y, m), n) is None and mask_mismatch(task, (x, y, m), n) is None


def test_addition_carries_past_column_2_to_the_15():
    task = TASKS.get("addition")(format="scratchpad")
    n = 60_000
    batch = task.sample(np.random.default_rng(0), n, 8)
    fill = task.token_id("_")
    digits_a = (batch.inputs_BxI[:, :n] != fill).sum(axis=1)
    digits_b = (batch.inputs_BxI[:, n + 1:] != fill).sum(axis=1)
    assert (np.minimum(digits_a, digits_b) > 2**15 + 1000).sum() >= 2
    assert label_mismatch(task, batch, n) is None


def test_lengths_a_format_cannot_hold_are_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"^task 'addition': length 40000 needs 40001 index hints but hints = "
                                          r"128; raise task.hints$"):
        TASKS.get("addition")(format="index_hints").sample(np.random.default_rng(0), 40_000, 1)

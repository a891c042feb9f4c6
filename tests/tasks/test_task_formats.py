"""Task-specific definitions: formats, padding, conventions of the original code, bad options."""

import numpy as np
import pytest

from lengthgen.errors import ConfigError
from lengthgen.registry import TASKS


def make(name, **options):
    return TASKS.get(name)(**options)


def rng(seed=0):
    return np.random.default_rng(seed)


# --- Anil et al.: parity and variable assignment formats -------------------------------------

def test_padded_parity_puts_every_bit_and_step_at_the_same_slot_at_every_length():
    task = make("parity", format="padded_scratchpad", pad_length=12)
    pad = task.token_id("_")
    for length in (1, 5, 12):
        x, y, m = task.sample(rng(length), length, 64)
        assert x.shape == y.shape == (64, 12)
        assert (x[:, length:] == pad).all() and (x[:, :length] != pad).all()
        assert (y[:, length:] == pad).all() and (m.sum(1) == length).all() and m[:, :length].all()
        np.testing.assert_array_equal(y[:, :length], np.cumsum(x[:, :length], 1) % 2)


def test_padded_scratchpad_rejects_lengths_beyond_pad_length_in_one_line():
    for name in ("parity", "variable_assignment"):
        task = make(name, format="padded_scratchpad", pad_length=8)
        task.check_length(8)
        with pytest.raises(ConfigError, match="length 9 exceeds pad_length 8") as info:
            task.check_length(9)
        assert "\n" not in str(info.value)


def test_parity_scratchpad_markup_and_no_distractor_layouts():
    bits_steps = make("parity", format="no_distractor")
    assert bits_steps.layouts == ("teacher_forced",) and bits_steps.shapes(5) == (0, 10)
    _, y, m = bits_steps.sample(rng(), 5, 32)
    np.testing.assert_array_equal(y[:, 1::2], np.cumsum(y[:, 0::2], 1) % 2)
    assert m[:, 1::2].all() and not m[:, 0::2].any()
    markup = make("parity", format="markup")
    x, y, m = markup.sample(rng(), 5, 32)
    assert (y[:, 1::2] == markup.token_id("|")).all() and not m[:, 1::2].any()
    np.testing.assert_array_equal(y[:, 0::2], np.cumsum(x, 1) % 2)


def test_parity_bad_options():
    with pytest.raises(ConfigError, match="unknown value 'padded'; valid: direct, scratchpad, padded_scratchpad"):
        make("parity", format="padded")
    with pytest.raises(ConfigError, match="pad_length must be >= 1, got 0"):
        make("parity", format="padded_scratchpad", pad_length=0)


def test_variable_assignment_chain_and_scratchpad_trace():
    task = make("variable_assignment", format="scratchpad")
    x, y, _ = task.sample(rng(), 4, 8)
    for row, trace in zip(x, y):
        words = task.decode(row).split()
        assert words[-2] == "?" and words[1::3][:4] == ["="] * 4
        defined = {words[k]: words[k + 2] for k in range(0, 12, 3)}
        current, steps = words[-1], []
        while current in defined:
            current = defined[current]
            steps.append(current)
        assert task.decode(trace).split() == steps and steps[-1] in ("0", "1")


def test_variable_assignment_distractors_interleave_a_second_chain():
    task = make("variable_assignment", distractors=True)
    x, _, _ = task.sample(rng(), 6, 64)
    assert x.shape == (64, 3 * 12 + 2)
    first_is_queried = []
    for row in x:
        words = task.decode(row).split()
        names = words[0::3][:12]
        assert len(set(names)) == 12
        first_is_queried.append(words[2] in ("0", "1") and _chain_end(words, names[0]) == words[-1])
    assert 0.2 < np.mean(first_is_queried) < 0.8


def _chain_end(words, start):
    uses = {words[k + 2]: words[k] for k in range(0, len(words) - 2, 3)}
    while start in uses:
        start = uses[start]
    return start


def test_padded_variable_assignment_keeps_the_last_statement_and_query_in_place():
    task = make("variable_assignment", format="padded_scratchpad", pad_length=10)
    for length in (1, 4, 10):
        x, y, m = task.sample(rng(length), length, 16)
        assert x.shape == (16, 32) and y.shape == (16, 10) and (m.sum(1) == length).all()
        for row in x:
            words = task.decode(row).split()
            assert words[:3 * (10 - length)] == ["_"] * (3 * (10 - length))
            assert words[-2] == "?" and words[-5] == words[-1]


def test_variable_assignment_needs_enough_names():
    with pytest.raises(ConfigError, match="length 5 needs 10 distinct names but names = 8"):
        make("variable_assignment", names=8, distractors=True).check_length(5)
    with pytest.raises(ConfigError, match="values must be >= 2, got 1"):
        make("variable_assignment", values=1)


# --- Liu et al.: flip-flop -----------------------------------------------------------------

def test_flip_flop_sequences_follow_the_language():
    task = make("flip_flop", p_i=0.5)
    x, y, m = task.sample(rng(), 64, 256)
    assert x.shape == (256, 0) and task.layouts == ("teacher_forced",)
    ops = np.array(task.vocab)[y[:, 0::2]]
    assert (ops[:, 0] == "w").all() and (ops[:, -1] == "r").all()
    assert set(np.unique(ops)) == {"w", "r", "i"}
    np.testing.assert_array_equal(m[:, 1::2], ops == "r")
    assert not m[:, 0::2].any()
    middle = ops[:, 1:-1]
    assert abs((middle == "i").mean() - 0.5) < 0.03 and abs((middle == "w").mean() - 0.25) < 0.03


def test_flip_flop_odd_length_uses_one_token_less_and_variants_are_declared():
    task = make("flip_flop")
    assert task.shapes(9) == task.shapes(8) == (0, 8)
    assert task.eval_variants == {"sparse": {"p_i": 0.98}, "dense": {"p_i": 0.1}}
    assert task.variant(task.eval_variants["sparse"]).options.p_i == 0.98


@pytest.mark.parametrize("p_i", [-0.1, 1.0, 2])
def test_flip_flop_rejects_p_i_outside_unit_interval(p_i):
    with pytest.raises(ConfigError, match=r"p_i must be in \[0, 1\)"):
        make("flip_flop", p_i=p_i)


# --- addition formats ----------------------------------------------------------------------

def _operands(task, x):
    text = "".join(t for t in task.decode(x).split() if not t.startswith("h"))
    return [int(s.strip("_")) for s in text.split("+")]


@pytest.mark.parametrize("fmt", ["plain", "reversed", "index_hints", "scratchpad", "markup"])
@pytest.mark.parametrize("reverse", [False, True])
def test_addition_formats_spell_the_sum(fmt, reverse):
    task = make("addition", format=fmt, reverse_output=reverse)
    n = 7
    x, y, m = task.sample(rng(), n, 128)
    lsb_first = reverse or fmt == "reversed"
    for row, target, scored in zip(x, y, m):
        a, b = _operands(task, row)
        digits = [task.vocab[t] for t in target[scored]]
        if fmt == "scratchpad":
            steps, digits = digits[:2 * n], digits[2 * n:]
            for k in range(n):
                col = _digit(a, k) + _digit(b, k) + (int(steps[2 * k - 1]) if k else 0)
                assert int(steps[2 * k]) == col % 10 and int(steps[2 * k + 1]) == col // 10
        assert len(digits) == n + 1
        assert int("".join(digits[::-1] if lsb_first else digits)) == a + b


def _digit(value, k):
    return value // 10 ** k % 10


def test_index_hints_tie_digits_of_equal_significance():
    task = make("addition", format="index_hints", hint_offset=True, hints=20)
    x, y, _ = task.sample(rng(), 5, 64)
    offsets = set()
    for row, target in zip(x, y):
        words = task.decode(row).split()
        left, right = words[:10], words[11:]
        assert left[0::2] == right[0::2]
        low = int(left[-2][1:])
        assert [int(h[1:]) for h in left[0::2]] == list(range(low + 4, low - 1, -1))
        assert [int(h[1:]) for h in task.decode(target).split()[0::2]] == list(range(low + 5, low - 1, -1))
        offsets.add(low)
    assert len(offsets) > 5
    with pytest.raises(ConfigError, match="length 20 needs 21 index hints but hints = 20"):
        task.check_length(20)


def test_reverse_output_option_still_means_reversed_digits():
    old = make("addition", reverse_output=True).sample(rng(3), 6, 32)
    new = make("addition", format="reversed").sample(rng(3), 6, 32)
    assert all(np.array_equal(u, v) for u, v in zip(old, new))


def test_addition_samples_unequal_operands_of_every_size():
    task = make("addition")
    x, _, _ = task.sample(rng(), 6, 2048)
    fill = task.token_id("_")
    sizes = (x[:, :6] != fill).sum(1)
    assert set(sizes) == set(range(1, 7))
    assert ((x[:, :6] != fill).sum(1) != (x[:, 7:] != fill).sum(1)).mean() > 0.5


# --- Deletang et al. conventions -----------------------------------------------------------

def test_modular_arithmetic_even_length_uses_one_symbol_less():
    task = make("modular_arithmetic")
    assert task.shapes(6) == task.shapes(5) == (5, 1)
    x, _, _ = task.sample(rng(), 6, 16)
    assert (x[:, 0::2] < 5).all() and (x[:, 1::2] >= 5).all()


def test_stack_manipulation_scores_through_end():
    task = make("stack_manipulation")
    x, y, m = task.sample(rng(), 12, 256)
    end = task.token_id("END")
    assert y.shape == (256, 13)
    for row, target, scored in zip(x, y, m):
        stop = list(target).index(end)
        assert scored[:stop + 1].all() and not scored[stop + 1:].any() and (target[stop + 1:] == 0).all()
        assert task.vocab[row[0]] in ("0", "1") and task.vocab[row[-1]] in ("POP", "PUSH0", "PUSH1")


@pytest.mark.parametrize("name", ["binary_addition", "binary_multiplication"])
def test_binary_operands_are_nonzero_and_fill_the_input(name):
    task = make(name)
    x, y, m = task.sample(rng(), 9, 256)
    op = 2
    assert ((x == op).sum(1) == 1).all() and (x[:, 0] != op).all() and (x[:, -1] != op).all()
    for row in x:
        a, b = task.decode(row).replace(" ", "").split(task.vocab[op])
        assert "1" in a and "1" in b
    assert y.shape[1] == (10 if name == "binary_addition" else 9)


def test_missing_duplicate_string_pads_odd_lengths():
    task = make("missing_duplicate_string")
    x, _, _ = task.sample(rng(), 7, 64)
    assert (x[:, -1] == task.token_id("_")).all() and ((x == task.token_id("?")).sum(1) == 1).all()
    with pytest.raises(ConfigError, match="below its minimum 2"):
        task.check_length(1)


def test_compute_sqrt_widths_and_even_pairs_at_length_one():
    assert make("compute_sqrt").shapes(7) == (7, 4)
    _, y, _ = make("even_pairs").sample(rng(), 1, 64)
    assert (y == 0).all()


def test_solve_equation_hides_exactly_one_digit():
    task = make("solve_equation")
    x, _, _ = task.sample(rng(), 15, 128)
    assert ((x == task.token_id("x")).sum(1) == 1).all() and (x[:, -2] == task.token_id("=")).all()


@pytest.mark.parametrize("name,options,message", [
    ("bucket_sort", {"alphabet": 1}, "alphabet must be in [2, 10], got 1"),
    ("cycle_navigation", {"states": 11}, "states must be in [2, 10], got 11"),
    ("modular_arithmetic", {"modulus": 1}, "modulus must be in [2, 10], got 1"),
    ("modular_arithmetic_brackets", {"modulus": 12}, "modulus must be in [2, 10], got 12"),
    ("solve_equation", {"modulus": 0}, "modulus must be in [2, 10], got 0"),
    ("addition", {"format": "hints"}, "unknown value 'hints'; valid: plain, reversed, index_hints"),
    ("addition", {"hints": 1}, "hints must be >= 2, got 1"),
    ("variable_assignment", {"format": "markup"}, "unknown value 'markup'; valid: direct, scratchpad"),
])
def test_bad_options_are_one_line_config_errors(name, options, message):
    with pytest.raises(ConfigError) as info:
        make(name, **options)
    assert message in str(info.value) and "\n" not in str(info.value)

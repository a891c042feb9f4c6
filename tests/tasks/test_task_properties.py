"""Property-based tests: samplers agree with solvers for any seed and length, and the
reference solvers satisfy the defining properties of their tasks on arbitrary inputs."""

import math
import re
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lengthgen.check import label_mismatch, usable_lengths
from lengthgen.registry import TASKS
from lengthgen.task import check_batch

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
CONFIGS = [(name, {}) for name in TASKS.names()] + [
    ("parity", {"format": f}) for f in TASKS.get("parity").FORMATS] + [
    ("variable_assignment", {"format": f, "distractors": True}) for f in TASKS.get("variable_assignment").FORMATS] + [
    ("addition", {"format": f}) for f in TASKS.get("addition").FORMATS]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(config=st.sampled_from(CONFIGS), length=st.integers(1, 70), seed=st.integers(0, 2**32 - 1),
       batch=st.integers(1, 9))
def test_sampler_agrees_with_solver(config, length, seed, batch):
    name, options = config
    task = TASKS.get(name)(**options)
    valid = usable_lengths(task, [length])
    length = valid[-1] if length in valid else task.min_length
    sample = task.sample(np.random.default_rng(seed), length, batch)
    check_batch(task, sample, length, batch)
    assert sample.mask_BxT.any(axis=1).all()
    assert label_mismatch(task, sample, length) is None


def encode(task, words):
    return np.array([task.token_id(w) for w in words])


@SETTINGS
@given(a=st.integers(1, 2**90), b=st.integers(1, 2**90), pad_a=st.integers(0, 3), pad_b=st.integers(0, 3))
def test_binary_solvers_add_and_multiply(a, b, pad_a, pad_b):
    bits_a = list(format(a, "b")[::-1]) + ["0"] * pad_a
    bits_b = list(format(b, "b")[::-1]) + ["0"] * pad_b
    for name, op, value in (("binary_addition", "+", a + b), ("binary_multiplication", "*", a * b)):
        task = TASKS.get(name)()
        out = [task.vocab[t] for t in task.solve(encode(task, bits_a + [op] + bits_b))]
        stop = out.index("END")
        assert int("".join(out[:stop][::-1]), 2) == value and set(out[stop + 1:]) <= {"0"}


@SETTINGS
@given(value=st.integers(1, 2**120), pad=st.integers(0, 4))
def test_sqrt_solver_brackets_the_root(value, pad):
    task = TASKS.get("compute_sqrt")()
    bits = "0" * pad + format(value, "b")
    root = int("".join(task.vocab[t] for t in task.solve(encode(task, list(bits)))), 2)
    assert root * root <= value < (root + 1) ** 2
    assert len(task.solve(encode(task, list(bits)))) == math.ceil(len(bits) / 2)


@SETTINGS
@given(digits=st.lists(st.integers(0, 4), min_size=1, max_size=30), data=st.data())
def test_modular_arithmetic_solver_matches_python_precedence(digits, data):
    ops = data.draw(st.lists(st.sampled_from("+-*"), min_size=len(digits) - 1, max_size=len(digits) - 1))
    text = str(digits[0]) + "".join(o + str(d) for o, d in zip(ops, digits[1:]))
    task = TASKS.get("modular_arithmetic")()
    assert task.solve(encode(task, list(text)))[0] == eval(text) % 5


@SETTINGS
@given(length=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_bracket_expressions_are_python_expressions_with_the_same_value(length, seed):
    task = TASKS.get("modular_arithmetic_brackets")()
    x, y, _ = task.sample(np.random.default_rng(seed), length, 4)
    for row, value in zip(x, y[:, 0]):
        text = task.decode(row).replace(" ", "")
        assert re.fullmatch(r"[0-4+\-*()]+", text) and eval(text) % 5 == value


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(3, 40))
def test_solve_equation_answer_satisfies_the_equation(seed, length):
    task = TASKS.get("solve_equation")()
    x, y, _ = task.sample(np.random.default_rng(seed), length, 4)
    for row, answer in zip(x, y[:, 0]):
        left, right = task.decode(row).replace(" ", "").split("=")
        assert eval(left.replace("x", str(answer))) % 5 == int(right)


ACTIONS = st.lists(st.sampled_from(["POP", "PUSH0", "PUSH1"]), max_size=20)


@SETTINGS
@given(stack=st.lists(st.sampled_from("01"), min_size=1, max_size=10), actions=ACTIONS, bit=st.sampled_from("01"))
def test_stack_solver_push_then_pop_is_a_no_op(stack, actions, bit):
    task = TASKS.get("stack_manipulation")()

    def final(words):
        out = [task.vocab[t] for t in task.solve(encode(task, words))]
        return out[:out.index("END")]

    base = final(stack + actions)
    assert final(stack + actions + ["PUSH" + bit]) == [bit] + base
    assert final(stack + actions + ["PUSH" + bit, "POP"]) == base
    assert final(stack + actions + ["POP"]) == base[1:]


@SETTINGS
@given(moves=st.lists(st.sampled_from("LSR"), min_size=1, max_size=60), seed=st.integers(0, 1000))
def test_cycle_solver_counts_net_steps_in_any_order(moves, seed):
    task = TASKS.get("cycle_navigation")()
    shuffled = list(np.random.default_rng(seed).permutation(moves))
    answer = task.solve(encode(task, moves))[0]
    assert answer == task.solve(encode(task, shuffled))[0] == (moves.count("R") - moves.count("L")) % 5


@SETTINGS
@given(symbols=st.lists(st.sampled_from("01234"), min_size=1, max_size=60))
def test_bucket_sort_solver_outputs_a_sorted_permutation(symbols):
    task = TASKS.get("bucket_sort")()
    out = [task.vocab[t] for t in task.solve(encode(task, symbols))]
    assert out == sorted(out) and Counter(out) == Counter(symbols)


@SETTINGS
@given(pairs=st.lists(st.tuples(st.sampled_from("wri"), st.sampled_from("01")), min_size=1, max_size=40))
def test_flip_flop_solver_reads_the_last_write(pairs):
    task = TASKS.get("flip_flop")()
    words = ["w", "1"] + [w for pair in pairs for w in pair] + ["r", "0"]
    out = [task.vocab[t] for t in task.solve(encode(task, words))]
    memory = None
    for k in range(0, len(words), 2):
        if words[k] == "w":
            memory = words[k + 1]
        assert out[k + 1] == (memory if words[k] == "r" else words[k + 1])


@SETTINGS
@given(a=st.integers(0, 10**12), b=st.integers(0, 10**12))
def test_addition_solver_adds(a, b):
    n = max(len(str(a)), len(str(b)))
    task = TASKS.get("addition")()
    words = list(str(a).rjust(n, "_")) + ["+"] + list(str(b).rjust(n, "_"))
    assert int("".join(str(d) for d in task.solve(encode(task, words)))) == a + b


@SETTINGS
@given(length=st.integers(1, 20), seed=st.integers(0, 2**32 - 1), order_seed=st.integers(0, 1000))
def test_variable_assignment_answer_ignores_statement_order(length, seed, order_seed):
    task = TASKS.get("variable_assignment")(distractors=True)
    x, y, _ = task.sample(np.random.default_rng(seed), length, 1)
    statements = x[0, :-2].reshape(-1, 3)
    shuffled = statements[np.random.default_rng(order_seed).permutation(len(statements))]
    assert task.solve(np.concatenate([shuffled.ravel(), x[0, -2:]]))[0] == y[0, 0]


@SETTINGS
@given(bits=st.lists(st.sampled_from("01"), min_size=1, max_size=40), junk=st.lists(st.sampled_from("01"), min_size=40))
def test_no_distractor_parity_solver_ignores_the_scored_steps(bits, junk):
    task = TASKS.get("parity")(format="no_distractor")
    words = [w for pair in zip(bits, junk) for w in pair]
    steps = task.solve(encode(task, words))[1::2]
    assert list(steps) == list(np.cumsum([int(b) for b in bits]) % 2)

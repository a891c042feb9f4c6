"""modular_arithmetic_brackets (Deletang et al. 2023, DCF): evaluate a bracketed expression mod 5."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task
from lengthgen_tasks._common import estimated_chance

OPERATORS = ("+", "-", "*")


@dataclasses.dataclass(frozen=True)
class ModularArithmeticBracketsOptions:
    modulus: int = 5


class ModularArithmeticBracketsTask(Task):
    """Input: an expression of exactly `length` symbols from the grammar of the original
    code: length 1 = d, 2 = -d, 3 = (d), 4 = (-d) with a digit d uniform in
    {0 .. modulus-1}; length n >= 5 = (A op B) with op uniform over + - * and |A|
    uniform in [1, n-4], |B| = n - 3 - |A|. Unary minus appears only before a digit.
    Target: one token, the value mod `modulus`.
    """

    name = "modular_arithmetic_brackets"
    description = "value of a nested (A op B) expression over + - * mod 5"
    family = "DCF"
    length_meaning = "expression symbols"
    Options = ModularArithmeticBracketsOptions

    def validate(self):
        if not 2 <= self.options.modulus <= 10:
            raise ConfigError(
                f"task 'modular_arithmetic_brackets': modulus must be in [2, 10], got {self.options.modulus}")

    @functools.cached_property
    def vocab(self):
        return tuple(str(d) for d in range(self.options.modulus)) + OPERATORS + ("(", ")")

    @functools.cached_property
    def chance(self):
        return estimated_chance(self)

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        x, value = sample_expressions(rng, length, batch_size, self.options.modulus, OPERATORS)
        return Batch(x, value[:, None], np.ones((batch_size, 1), bool))

    def solve(self, inputs_I):
        return np.array([evaluate([self.vocab[int(t)] for t in inputs_I], self.options.modulus)])



    def scored_mask(self, inputs_I):
        return np.ones(1, bool)
def sample_expressions(rng: np.random.Generator, length: int, batch_size: int, modulus: int,
                       operators: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Random expressions of `length` symbols (grammar in the task docstring) and their values.

    Token ids: digits 0 .. m-1, then + - * ( ) at m .. m+4, whichever operators are
    allowed. The trees of the whole batch are grown one level at a time; tokens are written
    and values computed (deepest level first) once the shapes are fixed.
    """
    m = modulus
    plus, minus, times, left, right = m, m + 1, m + 2, m + 3, m + 4
    op_ids = np.array([{"+": plus, "-": minus, "*": times}[o] for o in operators], np.int8)
    start, size = np.arange(batch_size) * length, np.full(batch_size, length)
    node, next_id = np.arange(batch_size), batch_size
    nodes, splits = [], []
    while start.size:
        nodes.append((start, size, node))
        inner = size > 4
        s, n = start[inner], size[inner]
        left_size = rng.integers(1, n - 3) if s.size else n
        splits.append((node[inner], next_id, s, n, left_size))
        start = np.concatenate([s + 1, s + 2 + left_size])
        size = np.concatenate([left_size, n - 3 - left_size])
        node = np.arange(next_id, next_id + 2 * s.size)
        next_id += 2 * s.size

    flat = np.zeros(batch_size * length, np.int8)
    values = np.zeros(next_id, np.int8)
    start, size, node = (np.concatenate(parts) for parts in zip(*nodes))
    leaf = size <= 4
    ls, ln = start[leaf], size[leaf]
    digit = rng.integers(0, m, ls.size, dtype=np.int8)
    negated = (ln == 2) | (ln == 4)
    bracketed = ln >= 3
    flat[ls[bracketed]] = left
    flat[(ls + ln - 1)[bracketed]] = right
    at = ls + bracketed
    flat[at[negated]] = minus
    flat[at + negated] = digit
    values[node[leaf]] = np.where(negated, -digit, digit) % m

    s, n, left_size = (np.concatenate([split[k] for split in splits]) for k in (2, 3, 4))
    op = op_ids[rng.integers(0, len(op_ids), s.size)]
    flat[s] = left
    flat[s + 1 + left_size] = op
    flat[s + n - 1] = right
    end = s.size
    for parents, first_kid, *_ in reversed(splits):
        k = parents.size
        o, va, vb = op[end - k:end], values[first_kid:first_kid + k], values[first_kid + k:first_kid + 2 * k]
        values[parents] = np.where(o == plus, va + vb, np.where(o == minus, va - vb, va * vb)) % m
        end -= k
    return flat.reshape(batch_size, length), values[:batch_size]


def evaluate(symbols: list[str], modulus: int) -> int:
    """Value mod `modulus` of a fully bracketed expression (recursive descent)."""

    def expr(i: int) -> tuple[int, int]:
        if symbols[i] == "(":
            a, i = expr(i + 1)
            if symbols[i] == ")":
                return a, i + 1
            op = symbols[i]
            b, i = expr(i + 1)
            assert symbols[i] == ")", symbols
            return {"+": a + b, "-": a - b, "*": a * b}[op] % modulus, i + 1
        if symbols[i] == "-":
            a, i = expr(i + 1)
            return -a % modulus, i
        return int(symbols[i]) % modulus, i + 1

    value, end = expr(0)
    assert end == len(symbols), symbols
    return value

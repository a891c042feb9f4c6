"""solve_equation (Deletang et al. 2023, DCF): find the digit x in `expression = value` mod 5."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task
from lengthgen_tasks.modular_arithmetic_brackets import evaluate, sample_expressions


@dataclasses.dataclass(frozen=True)
class SolveEquationOptions:
    modulus: int = 5


class SolveEquationTask(Task):
    """Input (`length` tokens): a bracketed expression of L - 2 symbols over + and -
    (the modular_arithmetic_brackets grammar without *), one of its digits replaced by
    `x`, then `=` and the expression's value mod `modulus`. Target: one token, the
    hidden digit. Without * the value is x plus or minus a constant, so the answer is
    unique.

    Choices: the hidden digit is uniform over the expression's digits (the original
    code scans forward from a uniform position, favouring digits after long operator
    runs); lengths start at 3, the shortest equation `x=v` (the original returns a
    dummy all-zero instance below 3).
    """

    name = "solve_equation"
    description = "the digit hidden as x in a bracketed +/- equation mod 5"
    family = "DCF"
    length_meaning = "equation tokens"
    Options = SolveEquationOptions
    min_length = 3

    def validate(self):
        if not 2 <= self.options.modulus <= 10:
            raise ConfigError(f"task 'solve_equation': modulus must be in [2, 10], got {self.options.modulus}")

    @functools.cached_property
    def vocab(self):
        return tuple(str(d) for d in range(self.options.modulus)) + ("+", "-", "(", ")", "x", "=")

    @property
    def chance(self):
        return 1.0 / self.options.modulus

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        m = self.options.modulus
        expr, value = sample_expressions(rng, length - 2, batch_size, m, ("+", "-"))
        expr = np.where(expr > m + 2, expr - 1, expr)
        where = np.argmax(np.where(expr < m, rng.random(expr.shape, np.float32), -1.0), axis=1)
        rows = np.arange(batch_size)
        y = expr[rows, where].copy()
        expr[rows, where] = self.token_id("x")
        tail = np.stack([np.full(batch_size, self.token_id("=")), value], axis=1)
        return Batch(np.concatenate([expr, tail], axis=1), y[:, None], np.ones((batch_size, 1), bool))

    def solve(self, inputs_I):
        symbols = [self.vocab[int(t)] for t in inputs_I]
        left, right = symbols[:-2], int(symbols[-1])
        roots = [d for d in range(self.options.modulus)
                 if evaluate([str(d) if s == "x" else s for s in left], self.options.modulus) == right]
        assert len(roots) == 1, (symbols, roots)
        return np.array(roots)

    def scored_mask(self, inputs_I):
        return np.ones(1, bool)

"""modular_arithmetic (Deletang et al. 2023, regular): evaluate d op d op ... d mod 5."""

from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task
from lengthgen_tasks._common import estimated_chance


@dataclasses.dataclass(frozen=True)
class ModularArithmeticOptions:
    modulus: int = 5


class ModularArithmeticTask(Task):
    """Input: digits uniform over {0 .. modulus-1} alternating with operators uniform over
    + - * (no brackets), starting and ending with a digit. An odd length L gives L
    symbols, an even L gives L - 1 (so lengths 2k-1 and 2k are the same instance size).
    Target: one token, the value mod `modulus` with the usual precedence (* before +
    and -; a - b * c = a + (-b) * c). Values are reduced at every step, so long products
    never overflow.
    """

    name = "modular_arithmetic"
    description = "value of a bracket-free expression over + - * mod 5"
    family = "regular"
    length_meaning = "expression symbols (odd; even L uses L-1)"
    Options = ModularArithmeticOptions

    def validate(self):
        if not 2 <= self.options.modulus <= 10:
            raise ConfigError(f"task 'modular_arithmetic': modulus must be in [2, 10], got {self.options.modulus}")

    @functools.cached_property
    def vocab(self):
        return tuple(str(d) for d in range(self.options.modulus)) + ("+", "-", "*")

    @functools.cached_property
    def chance(self):
        return estimated_chance(self)

    def shapes(self, length):
        return length - 1 + length % 2, 1

    def sample(self, rng, length, batch_size):
        m = self.options.modulus
        plus, minus, times = m, m + 1, m + 2
        size = self.shapes(length)[0]
        digits = rng.integers(0, m, (batch_size, size // 2 + 1), dtype=np.int8)
        ops = rng.integers(plus, times + 1, (batch_size, size // 2), dtype=np.int8)
        x = np.empty((batch_size, size), np.int8)
        x[:, 0::2], x[:, 1::2] = digits, ops
        joined = ops == times
        start = np.ones(digits.shape, bool)
        start[:, 1:] = ~joined
        negate = np.zeros(digits.shape, bool)
        negate[:, 1:] = ops == minus
        term = _segment_products(np.where(negate, -digits % m, digits), start, m)
        end = np.ones(digits.shape, bool)
        end[:, :-1] = ~joined
        y = np.where(end, term, 0).sum(axis=1, dtype=np.int64) % m
        return Batch(x, y[:, None], np.ones((batch_size, 1), bool))

    def solve(self, inputs_I):
        text = "".join(self.vocab[int(t)] for t in inputs_I)
        value = 0
        for sign, term in re.findall(r"([+-]?)([0-9*]+)", text):
            product = 1
            for factor in term.split("*"):
                product *= int(factor)
            value += -product if sign == "-" else product
        return np.array([value % self.options.modulus])



    def scored_mask(self, inputs_I):
        return np.ones(1, bool)
def _segment_products(values_BxK: np.ndarray, start_BxK: np.ndarray, m: int) -> np.ndarray:
    """Running product mod m within segments that begin where `start_BxK` is True
    (a log-depth scan, so long rows need no Python loop over positions)."""
    v, closed = values_BxK.copy(), start_BxK.copy()
    shift = 1
    while shift < v.shape[1]:
        open_ = ~closed[:, shift:]
        v[:, shift:] = np.where(open_, v[:, shift:] * v[:, :-shift] % m, v[:, shift:])
        closed[:, shift:] |= closed[:, :-shift]
        shift *= 2
    return v

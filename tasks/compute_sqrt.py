"""compute_sqrt (Deletang et al. 2023, CS): floor of the square root of a binary number."""

from __future__ import annotations

import functools
import math

import numpy as np

from lengthgen.task import Batch, Task
from lengthgen_tasks._common import bits_to_ints, estimated_chance, ints_to_bits, nonzero_bit_rows


class ComputeSqrtTask(Task):
    """Input: a number uniform in [1, 2**L - 1], big-endian, zero-padded to `length` bits.
    Target: floor(sqrt(number)), big-endian, zero-padded to ceil(L / 2) bits, all scored."""

    name = "compute_sqrt"
    description = "floor of the square root of a big-endian binary number"
    family = "CS"
    length_meaning = "input bits"
    vocab = ("0", "1")

    @functools.cached_property
    def chance(self):
        return estimated_chance(self)

    def shapes(self, length):
        return length, -(-length // 2)

    def sample(self, rng, length, batch_size):
        x = nonzero_bit_rows(rng, batch_size, length)
        roots = [math.isqrt(v) for v in bits_to_ints(x[:, ::-1])]
        y = ints_to_bits(roots, self.shapes(length)[1])[:, ::-1]
        return Batch(x, np.ascontiguousarray(y), np.ones(y.shape, bool))

    def solve(self, inputs_I):
        value = int("".join(self.vocab[int(t)] for t in inputs_I), 2)
        low, high = 0, value + 1
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if mid * mid <= value else (low, mid)
        width = -(-len(inputs_I) // 2)
        return np.array([int(c) for c in format(low, "b").zfill(width)])

    def scored_mask(self, inputs_I):
        return np.ones(-(-len(inputs_I) // 2), bool)

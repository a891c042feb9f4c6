"""first (Chiang & Cholak 2022): does the bit string start with 1?"""

from __future__ import annotations

import numpy as np

from lengthgen.task import Batch, Task


class FirstTask(Task):
    """Input: `length` uniform bits. Target: one token, the first bit (1 = the string
    starts with 1). Solvable by attending to one fixed position, which makes it the
    easy counterpart of parity when testing attention at long lengths."""

    name = "first"
    description = "does the bit string start with 1"
    family = "regular"
    length_meaning = "input bits"
    vocab = ("0", "1")
    chance = 0.5

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length))
        return Batch(x, x[:, :1].copy(), np.ones((batch_size, 1), bool))

    def solve(self, inputs_I):
        return np.array([1 if self.vocab[int(inputs_I[0])] == "1" else 0])

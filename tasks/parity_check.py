"""parity_check (Deletang et al. 2023, regular): is the number of ones odd?"""

from __future__ import annotations

import numpy as np

from lengthgen.task import Batch, Task


class ParityCheckTask(Task):
    """Input: `length` uniform bits. Target: one token, 1 if the count of ones is odd.

    The same question as `parity` with format `direct`; kept under the Deletang et al.
    name so that the 15-task suite is complete and independent of parity's options.
    """

    name = "parity_check"
    description = "parity of the number of ones in a bit string"
    family = "regular"
    length_meaning = "input bits"
    vocab = ("0", "1")
    chance = 0.5

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length))
        return Batch(x, x.sum(axis=1, keepdims=True) % 2, np.ones((batch_size, 1), bool))

    def solve(self, inputs_I):
        ones = [int(t) for t in inputs_I].count(1)
        return np.array([ones % 2])

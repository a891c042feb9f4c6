"""reverse_string (Deletang et al. 2023, DCF): output the binary input reversed."""

from __future__ import annotations

import numpy as np

from lengthgen.task import Batch, Task


class ReverseStringTask(Task):
    """Input: `length` uniform bits; target: the bits in reverse order (all scored)."""

    name = "reverse_string"
    description = "output the binary input reversed"
    family = "DCF"
    length_meaning = "input bits"
    vocab = ("0", "1")
    chance = 0.5

    def shapes(self, length):
        return length, length

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length))
        return Batch(x, x[:, ::-1].copy(), np.ones_like(x, bool))

    def solve(self, inputs_I):
        return np.array(list(reversed([int(t) for t in inputs_I])))

    def scored_mask(self, inputs_I):
        return np.ones(len(inputs_I), bool)

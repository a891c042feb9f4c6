"""odds_first (Deletang et al. 2023, CS): symbols at odd positions first, then the rest."""

from __future__ import annotations

import numpy as np

from lengthgen.task import Batch, Task


class OddsFirstTask(Task):
    """Input: `length` uniform bits s_0 .. s_{L-1}. Target (L tokens, all scored):
    s_1 s_3 s_5 ... followed by s_0 s_2 s_4 ..., i.e. the 0-based odd positions first.

    This is what the original code computes (its docstring speaks of 1-based odd
    positions, which would be the other order).
    """

    name = "odds_first"
    description = "bits at odd positions, then bits at even positions"
    family = "CS"
    length_meaning = "input bits"
    vocab = ("0", "1")
    chance = 0.5

    def shapes(self, length):
        return length, length

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length))
        y = np.concatenate([x[:, 1::2], x[:, 0::2]], axis=1)
        return Batch(x, y, np.ones_like(y, bool))

    def solve(self, inputs_I):
        odd, even = [], []
        for i, t in enumerate(inputs_I):
            (odd if i % 2 else even).append(int(t))
        return np.array(odd + even)

    def scored_mask(self, inputs_I):
        return np.ones(len(inputs_I), bool)

"""duplicate_string (Deletang et al. 2023, CS): output the binary input twice."""

from __future__ import annotations

import numpy as np

from lengthgen.task import Batch, Task


class DuplicateStringTask(Task):
    """Input: `length` uniform bits w. Target: ww (2 * length tokens, all scored)."""

    name = "duplicate_string"
    description = "output the binary input twice"
    family = "CS"
    length_meaning = "input bits"
    vocab = ("0", "1")
    chance = 0.5

    def shapes(self, length):
        return length, 2 * length

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length))
        y = np.concatenate([x, x], axis=1)
        return Batch(x, y, np.ones_like(y, bool))

    def solve(self, inputs_I):
        word = [int(t) for t in inputs_I]
        return np.array(word + word)

    def scored_mask(self, inputs_I):
        return np.ones(2 * len(inputs_I), bool)

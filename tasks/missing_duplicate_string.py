"""missing_duplicate_string (Deletang et al. 2023, CS): recover the hidden symbol of ww."""

from __future__ import annotations

import numpy as np

from lengthgen.task import Batch, Task

MISSING, PAD = 2, 3


class MissingDuplicateStringTask(Task):
    """Input (`length` tokens): ww for uniform bits w of length L // 2, one uniformly
    chosen position of ww replaced by `?`, and for odd L a trailing `_` filler.
    Target: one token, the hidden bit.

    Lengths start at 2 (the original code returns a fixed dummy instance at length 1).
    """

    name = "missing_duplicate_string"
    description = "the symbol hidden by ? in a string written twice"
    family = "CS"
    length_meaning = "input tokens"
    vocab = ("0", "1", "?", "_")
    min_length = 2
    chance = 0.5

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        half = length // 2
        word = rng.integers(0, 2, (batch_size, half))
        x = np.concatenate([word, word, np.full((batch_size, length % 2), PAD)], axis=1)
        rows = np.arange(batch_size)
        hidden = rng.integers(0, 2 * half, batch_size)
        y = x[rows, hidden].copy()
        x[rows, hidden] = MISSING
        return Batch(x, y[:, None], np.ones((batch_size, 1), bool))

    def solve(self, inputs_I):
        text = [self.vocab[int(t)] for t in inputs_I if self.vocab[int(t)] != "_"]
        half = len(text) // 2
        hole = text.index("?")
        twin = hole + half if hole < half else hole - half
        return np.array([int(text[twin])])

    def scored_mask(self, inputs_I):
        return np.ones(1, bool)

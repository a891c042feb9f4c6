"""parity: is the number of ones in a bit string odd?"""

from __future__ import annotations

import dataclasses

import numpy as np

from lengthgen.task import Batch, Task, choice


@dataclasses.dataclass(frozen=True)
class ParityOptions:
    format: str = "direct"


class ParityTask(Task):
    """Input: `length` uniform bits. Target (format `direct`): one bit, 1 if the count of ones is odd."""

    name = "parity"
    description = "parity bit of a bit string"
    family = "regular"
    length_meaning = "input bits"
    vocab = ("0", "1")
    Options = ParityOptions
    chance = 0.5
    FORMATS = ("direct",)

    def validate(self):
        choice(self.options.format, self.FORMATS, "task 'parity' option 'format'")

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length))
        y = x.sum(axis=1, keepdims=True) % 2
        return Batch(x, y, np.ones_like(y, bool))

    def solve(self, inputs_I):
        odd = False
        for t in inputs_I:
            if int(t) == 1:
                odd = not odd
        return np.array([int(odd)])

"""copy: output the input string unchanged."""

from __future__ import annotations

import dataclasses

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task

SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclasses.dataclass(frozen=True)
class CopyOptions:
    alphabet: int = 2


class CopyTask(Task):
    """Input: `length` symbols drawn uniformly from an alphabet; target: the same string."""

    name = "copy"
    description = "output the input string unchanged"
    family = "CS"
    length_meaning = "input symbols"
    Options = CopyOptions

    def validate(self):
        if not 2 <= self.options.alphabet <= len(SYMBOLS):
            raise ConfigError(f"task 'copy': alphabet must be in [2, {len(SYMBOLS)}], got {self.options.alphabet}")

    @property
    def vocab(self):
        return tuple(SYMBOLS[: self.options.alphabet])

    @property
    def chance(self):
        return 1.0 / self.options.alphabet

    def shapes(self, length):
        return length, length

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, self.options.alphabet, (batch_size, length))
        return Batch(x, x.copy(), np.ones_like(x, bool))

    def solve(self, inputs_I):
        return np.array([int(t) for t in inputs_I])

    def scored_mask(self, inputs_I):
        return np.ones(len(inputs_I), bool)

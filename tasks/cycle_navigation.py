"""cycle_navigation (Deletang et al. 2023, regular): walk on a cycle, report the end state."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task


@dataclasses.dataclass(frozen=True)
class CycleNavigationOptions:
    states: int = 5


class CycleNavigationTask(Task):
    """Input: `length` moves, each uniform over L (step left, -1), S (stay) and R (step
    right, +1). Target: one token, the final state on a cycle of `states` states
    starting at 0 (state tokens "0" .. "4" for the paper's 5 states)."""

    name = "cycle_navigation"
    description = "final position after moves on a cycle of 5 states"
    family = "regular"
    length_meaning = "moves"
    Options = CycleNavigationOptions

    def validate(self):
        if not 2 <= self.options.states <= 10:
            raise ConfigError(f"task 'cycle_navigation': states must be in [2, 10], got {self.options.states}")

    @functools.cached_property
    def vocab(self):
        return tuple(str(s) for s in range(self.options.states)) + ("L", "S", "R")

    @property
    def chance(self):
        return 1.0 / self.options.states

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        k = self.options.states
        moves = rng.integers(0, 3, (batch_size, length))
        y = (moves - 1).sum(axis=1, keepdims=True) % k
        return Batch(moves + k, y, np.ones_like(y, bool))

    def solve(self, inputs_I):
        step = {"L": -1, "S": 0, "R": 1}
        state = 0
        for t in inputs_I:
            state = (state + step[self.vocab[int(t)]]) % self.options.states
        return np.array([state])

    def scored_mask(self, inputs_I):
        return np.ones(1, bool)

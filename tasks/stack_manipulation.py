"""stack_manipulation (Deletang et al. 2023, DCF): run stack actions, output the final stack."""

from __future__ import annotations

import functools

import numpy as np

from lengthgen.task import Batch, Task
from lengthgen_tasks._common import estimated_chance, through_first

POP, PUSH0, PUSH1, END = 2, 3, 4, 5


class StackManipulationTask(Task):
    """Input (`length` tokens): an initial stack of k uniform bits, bottom to top, with k
    uniform in [1, L-1], then L - k actions uniform over POP, PUSH0, PUSH1 (at least one
    action; a POP on an empty stack does nothing). At length 1 the input is one bit and
    no action. Target (L + 1 tokens): the final stack top to bottom, then END, then "0"
    filler; scored up to and including END.
    """

    name = "stack_manipulation"
    description = "final stack (top first) after POP/PUSH actions on a bit stack"
    family = "DCF"
    length_meaning = "initial stack bits + actions"
    vocab = ("0", "1", "POP", "PUSH0", "PUSH1", "END")

    @functools.cached_property
    def chance(self):
        return estimated_chance(self)

    def shapes(self, length):
        return length, length + 1

    def sample(self, rng, length, batch_size):
        B, L = batch_size, length
        pos = np.arange(L)[None, :]
        stack_size = rng.integers(1, L, B) if L > 1 else np.ones(B, np.int64)
        bits = rng.integers(0, 2, (B, L), dtype=np.int8)
        actions = rng.integers(POP, PUSH1 + 1, (B, L), dtype=np.int8)
        x = np.where(pos < stack_size[:, None], bits, actions)
        pushed = np.where(x >= PUSH0, x - PUSH0, x)
        # Heights after each step of the walk that never goes below 0 (a reflected
        # walk); an element survives iff the height never drops below its own later.
        walk = np.cumsum(np.where(x == POP, -1, 1), axis=1)
        height = walk - np.minimum(0, np.minimum.accumulate(walk, axis=1))
        lowest_after = np.minimum.accumulate(height[:, ::-1], axis=1)[:, ::-1]
        survives = (x != POP) & (lowest_after >= height)
        final = height[:, -1]
        y = np.zeros((B, L + 1), np.int8)
        r, c = np.nonzero(survives)
        y[r, final[r] - height[r, c]] = pushed[r, c]
        y[np.arange(B), final] = END
        return Batch(x, y, np.arange(L + 1)[None, :] <= final[:, None])

    def solve(self, inputs_I):
        stack = []
        for t in inputs_I:
            token = self.vocab[int(t)]
            if token in ("0", "1"):
                stack.append(int(token))
            elif token == "POP":
                if stack:
                    stack.pop()
            else:
                stack.append(int(token[-1]))
        out = stack[::-1] + [END]
        return np.array(out + [0] * (len(inputs_I) + 1 - len(out)))

    def scored_mask(self, inputs_I):
        return through_first(self.solve(inputs_I), END)

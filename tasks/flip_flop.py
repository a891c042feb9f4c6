"""flip_flop (Liu et al. 2023): flip-flop language modelling, FFL(p_i)."""

from __future__ import annotations

import dataclasses

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task

W, R, I = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class FlipFlopOptions:
    p_i: float = 0.8


class FlipFlopTask(Task):
    """A language-modelling task: the input is empty and the target is the whole sequence
    of T = `length` tokens (an odd T uses T - 1), i.e. T/2 pairs (instruction, bit).
    The first instruction is w, the last r, the others i.i.d. with p(i) = p_i and
    p(w) = p(r) = (1 - p_i) / 2. The bit after w or i is uniform; the bit after r equals
    the bit of the most recent w. Only the bits after r are scored.

    Reference solver: `solve` reads the whole sequence (there is no input) and
    recomputes every bit after r from the writes before it; it never reads those bits.
    Evaluation adds the paper's sparse FFL(0.98) and dense FFL(0.1) sets.
    """

    name = "flip_flop"
    description = "flip-flop language: recall the last written bit at each read"
    family = "regular"
    length_meaning = "sequence tokens T (instruction + bit pairs)"
    vocab = ("w", "r", "i", "0", "1")
    Options = FlipFlopOptions
    layouts = ("teacher_forced",)
    min_length = 4
    chance = 0.5
    eval_variants = {"sparse": {"p_i": 0.98}, "dense": {"p_i": 0.1}}

    def validate(self):
        if not 0.0 <= self.options.p_i < 1.0:
            raise ConfigError(f"task 'flip_flop': p_i must be in [0, 1), got {self.options.p_i}")

    def shapes(self, length):
        return 0, length - length % 2

    def sample(self, rng, length, batch_size):
        pairs = length // 2
        p_wr = (1.0 - self.options.p_i) / 2
        u = rng.random((batch_size, pairs))
        op = np.where(u < self.options.p_i, I, np.where(u < self.options.p_i + p_wr, W, R))
        op[:, 0], op[:, -1] = W, R
        bits = rng.integers(0, 2, (batch_size, pairs))
        last_write = np.maximum.accumulate(np.where(op == W, np.arange(pairs), 0), axis=1)
        bits = np.where(op == R, np.take_along_axis(bits, last_write, axis=1), bits)
        y = np.empty((batch_size, 2 * pairs), np.int64)
        y[:, 0::2], y[:, 1::2] = op, bits + 3
        mask = np.zeros(y.shape, bool)
        mask[:, 1::2] = op == R
        return Batch(np.zeros((batch_size, 0), np.int64), y, mask)

    def solve(self, inputs_I):
        out = np.array(inputs_I, dtype=np.int64)
        memory = None
        for k in range(0, len(out) - 1, 2):
            instruction = self.vocab[int(out[k])]
            if instruction == "w":
                memory = out[k + 1]
            elif instruction == "r":
                out[k + 1] = memory
        return out

    def needed_slots(self, inputs_I, targets_T, layout):
        """A read needs one slot: the one fed with the bit of the most recent w (target j is
        fed at slot j + 1). Every other visible slot, earlier writes included, is a distractor."""
        T = len(targets_T)
        need = np.zeros((T, T), bool)
        last_bit = None
        for k in range(0, T - 1, 2):
            if targets_T[k] == W:
                last_bit = k + 1
            elif targets_T[k] == R:
                need[k + 1, last_bit + 1] = True
        return need

    def scored_mask(self, inputs_I):
        """The bit after every r."""
        mask = np.zeros(len(inputs_I), bool)
        mask[1::2] = np.asarray(inputs_I)[0::2] == R
        return mask

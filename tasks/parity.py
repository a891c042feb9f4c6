"""parity (Anil et al. 2022): is the number of ones odd? With scratchpad formats."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.config import choice
from lengthgen.task import Batch, Task

FORMATS = ("direct", "scratchpad", "padded_scratchpad", "no_distractor", "markup")
PAD, MARK = "_", "|"


@dataclasses.dataclass(frozen=True)
class ParityOptions:
    format: str = "direct"
    pad_length: int = 64


class ParityTask(Task):
    """Input: `length` uniform bits b_1 .. b_L; p_k = b_1 xor .. xor b_k is the running parity.

    Formats (I input / T target tokens; scored tokens in brackets):
      direct: I = L, T = 1 [p_L].
      scratchpad: I = L, T = L [p_1 .. p_L]; the last step is the answer.
      padded_scratchpad: I = T = P (P = `pad_length`, L <= P): the input is the bits then
        P - L `_`, the target p_1 .. p_L then P - L `_`; only p_1 .. p_L are scored.
        Input and scratchpad carry the same P - L pads, both on the right, so b_k and
        p_k sit at the same slots (k - 1 and P + k - 1 in either layout) at every length
        and every sequence has the same size: no position is unseen and nothing marks
        the end by its place.
      no_distractor: I = 0, T = 2L: b_1 [p_1] b_2 [p_2] .. b_L [p_L], a language-modelling
        sequence (teacher-forced layout only). Each step's two inputs, the new bit and the
        previous step, are the two tokens right before it, and attention is masked to
        those two slots (`attention_window` = 2): every other token is hidden.
      markup: I = L, T = 2L: [p_1] | [p_2] | .. [p_L] |, the scratchpad with a marker
        after each completed step (Bueno et al. 2022); markers are not scored.
    For no_distractor the reference solver reads the sequence and recomputes each p_k
    from the bits b_1 .. b_k alone.
    """

    name = "parity"
    description = "parity of a bit string; direct, scratchpad, padded, no-distractor, markup"
    family = "regular"
    length_meaning = "input bits"
    Options = ParityOptions
    chance = 0.5
    FORMATS = FORMATS

    @property
    def attention_window(self):
        return 2 if self.options.format == "no_distractor" else 0

    def validate(self):
        choice(self.options.format, FORMATS, "task 'parity' option 'format'")
        if self.options.pad_length < 1:
            raise ConfigError(f"task 'parity': pad_length must be >= 1, got {self.options.pad_length}")

    def check_length(self, length):
        super().check_length(length)
        if self.options.format == "padded_scratchpad" and length > self.options.pad_length:
            raise ConfigError(f"task 'parity': length {length} exceeds pad_length {self.options.pad_length} "
                              f"of format padded_scratchpad; raise task.pad_length to at least {length}")

    @functools.cached_property
    def vocab(self):
        extra = {"padded_scratchpad": (PAD,), "markup": (MARK,)}.get(self.options.format, ())
        return ("0", "1") + extra

    @property
    def layouts(self):
        return ("teacher_forced",) if self.options.format == "no_distractor" else ("placeholder", "teacher_forced")

    def shapes(self, length):
        P = self.options.pad_length
        return {"direct": (length, 1), "scratchpad": (length, length), "padded_scratchpad": (P, P),
                "no_distractor": (0, 2 * length), "markup": (length, 2 * length)}[self.options.format]

    def sample(self, rng, length, batch_size):
        fmt = self.options.format
        x = rng.integers(0, 2, (batch_size, length))
        p = np.cumsum(x, axis=1) % 2
        if fmt == "direct":
            return Batch(x, p[:, -1:], np.ones((batch_size, 1), bool))
        if fmt == "scratchpad":
            return Batch(x, p, np.ones_like(p, bool))
        if fmt == "padded_scratchpad":
            pad = np.full((batch_size, self.options.pad_length - length), self.token_id(PAD))
            mask = np.arange(self.options.pad_length)[None, :].repeat(batch_size, 0) < length
            return Batch(np.concatenate([x, pad], 1), np.concatenate([p, pad], 1), mask)
        y = np.empty((batch_size, 2 * length), np.int64)
        mask = np.zeros(y.shape, bool)
        if fmt == "no_distractor":
            y[:, 0::2], y[:, 1::2] = x, p
            mask[:, 1::2] = True
            return Batch(np.zeros((batch_size, 0), np.int64), y, mask)
        y[:, 0::2], y[:, 1::2] = p, self.token_id(MARK)
        mask[:, 0::2] = True
        return Batch(x, y, mask)

    def solve(self, inputs_I):
        fmt = self.options.format
        tokens = [self.vocab[int(t)] for t in inputs_I]
        bits = tokens[0::2] if fmt == "no_distractor" else [t for t in tokens if t != PAD]
        steps, odd = [], False
        for bit in bits:
            odd = odd != (bit == "1")
            steps.append(int(odd))
        if fmt == "direct":
            return np.array(steps[-1:])
        if fmt == "scratchpad":
            return np.array(steps)
        if fmt == "padded_scratchpad":
            return np.array(steps + [self.token_id(PAD)] * (len(tokens) - len(steps)))
        if fmt == "no_distractor":
            return np.array([v for bit, step in zip(bits, steps) for v in (int(bit), step)])
        return np.array([v for step in steps for v in (step, self.token_id(MARK))])

    def needed_slots(self, inputs_I, targets_T, layout):
        """Step p_k needs b_k and p_(k-1) (the slot fed with it in a teacher-forced layout; in the
        placeholder layout, where steps are not fed back, the bits b_1 .. b_k); the direct
        answer needs every bit. Unscored targets need nothing."""
        fmt, I, T = self.options.format, len(inputs_I), len(targets_T)
        need = np.zeros((T, I + T), bool)
        if fmt == "direct":
            need[0, :I] = True
            return need
        if fmt == "no_distractor":
            for t in range(1, T, 2):
                need[t, t] = True  # b_k, fed at the query slot
                need[t, t - 1] = t >= 3  # p_(k-1)
            return need
        bits = int((np.asarray(inputs_I) != self.token_id(PAD)).sum()) if fmt == "padded_scratchpad" else I
        stride = 2 if fmt == "markup" else 1
        for k in range(bits):
            t = stride * k
            if layout == "placeholder":
                need[t, :k + 1] = True
            else:
                need[t, k] = True
                if k:
                    need[t, I + 1 + t - stride] = True  # the slot fed with p_k = y_(t - stride)
        return need

    def scored_mask(self, inputs_I):
        """Every step p_k; pads and markers are not scored, nor the bits of no_distractor."""
        fmt, n = self.options.format, len(inputs_I)
        if fmt == "direct":
            return np.ones(1, bool)
        if fmt == "scratchpad":
            return np.ones(n, bool)
        if fmt == "padded_scratchpad":
            return np.asarray(inputs_I) != self.token_id(PAD)
        if fmt == "no_distractor":
            return np.arange(n) % 2 == 1
        return np.arange(2 * n) % 2 == 0

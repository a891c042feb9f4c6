"""variable_assignment (Anil et al. 2022): follow a chain `a=1 b=a c=b ... ? c`."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.config import choice
from lengthgen.task import Batch, Task
from lengthgen_tasks._common import estimated_chance

FORMATS = ("direct", "scratchpad", "padded_scratchpad", "no_distractor")
EQ, QUERY, PAD = "=", "?", "_"


@dataclasses.dataclass(frozen=True)
class VariableAssignmentOptions:
    format: str = "direct"
    distractors: bool = False
    names: int = 128
    values: int = 2
    pad_length: int = 32


class VariableAssignmentTask(Task):
    """A chain of `length` assignments v_1 = c, v_2 = v_1, .., v_L = v_{L-1}, then the query
    `? v_L`; the answer is the constant c. Each statement is 3 tokens (name = rhs). Names
    are distinct, drawn without replacement from `names` symbols; c is uniform over
    `values` symbols. With `distractors` a second chain of the same length (other names,
    its own constant) is interleaved at random, each chain keeping its order.

    The scratchpad traces the query back: step j is the right-hand side of the statement
    that defines the variable reached so far, i.e. v_{L-1}, .., v_1, c (L steps, the last
    is the answer); each step is one lookup among the statements.

    Formats (S = statements = L, or 2L with distractors; scored tokens in brackets):
      direct: I = 3S + 2, T = 1 [c].
      scratchpad: I = 3S + 2, T = L [v_{L-1} .. v_1 c].
      padded_scratchpad: the statements are padded on the left with `_ _ _` to
        P = `pad_length` chains (3P or 6P tokens + 2) and the scratchpad on the right with
        `_` to P tokens: the same P - L pads on each side. The query sits at the end, so
        the statement a step needs (without distractors) and the step itself are at the
        same slots at every length L <= P; only the L steps are scored.
      no_distractor: I = 0, T = 2 + 4L: `? v_L`, then per step the one statement it needs
        followed by the step: v_k = r [r] (teacher-forced layout only; `distractors`
        has no effect since nothing unneeded is present), with attention masked to the
        last two slots (`attention_window` = 2) so that earlier statements are hidden.
    For no_distractor the reference solver reads the sequence and takes each step from
    the statement before it.
    """

    name = "variable_assignment"
    description = "value at the end of an assignment chain a=1 b=a ... ? z"
    family = "reasoning"
    length_meaning = "assignments in the queried chain"
    Options = VariableAssignmentOptions
    FORMATS = FORMATS

    def validate(self):
        o = self.options
        choice(o.format, FORMATS, "task 'variable_assignment' option 'format'")
        for key, low in (("names", 2), ("values", 2), ("pad_length", 1)):
            if getattr(o, key) < low:
                raise ConfigError(f"task 'variable_assignment': {key} must be >= {low}, got {getattr(o, key)}")

    @property
    def _chains(self) -> int:
        return 2 if self.options.distractors and self.options.format != "no_distractor" else 1

    def check_length(self, length):
        super().check_length(length)
        o = self.options
        if o.format == "padded_scratchpad" and length > o.pad_length:
            raise ConfigError(f"task 'variable_assignment': length {length} exceeds pad_length {o.pad_length} "
                              f"of format padded_scratchpad; raise task.pad_length to at least {length}")
        if self._chains * length > o.names:
            raise ConfigError(f"task 'variable_assignment': length {length} needs {self._chains * length} distinct "
                              f"names but names = {o.names}; raise task.names")

    @functools.cached_property
    def vocab(self):
        o = self.options
        pad = (PAD,) if o.format == "padded_scratchpad" else ()
        return (tuple(str(v) for v in range(o.values)) + tuple(f"v{k}" for k in range(o.names))
                + (EQ, QUERY) + pad)

    @property
    def attention_window(self):
        return 2 if self.options.format == "no_distractor" else 0

    @property
    def layouts(self):
        return ("teacher_forced",) if self.options.format == "no_distractor" else ("placeholder", "teacher_forced")

    @functools.cached_property
    def chance(self):
        if self.options.format == "direct":
            return 1.0 / self.options.values
        return estimated_chance(self)

    def shapes(self, length):
        o, S = self.options, self._chains * length
        if o.format == "direct":
            return 3 * S + 2, 1
        if o.format == "scratchpad":
            return 3 * S + 2, length
        if o.format == "padded_scratchpad":
            return 3 * self._chains * o.pad_length + 2, o.pad_length
        return 0, 2 + 4 * length

    def sample(self, rng, length, batch_size):
        o, B, L = self.options, batch_size, length
        eq, query = self.token_id(EQ), self.token_id(QUERY)
        chains = self._chains
        names = o.values + np.argsort(rng.random((B, o.names)), axis=1)[:, :chains * L].reshape(B, chains, L)
        const = rng.integers(0, o.values, (B, chains, 1))
        rhs = np.concatenate([const, names[:, :, :-1]], axis=2)
        statements = np.stack([names, np.full_like(names, eq), rhs], axis=3)
        if chains == 2:
            order = rng.permuted(np.tile(np.repeat([0, 1], L), (B, 1)), axis=1)
            index = np.where(order == 0, np.cumsum(order == 0, axis=1) - 1, np.cumsum(order == 1, axis=1) - 1)
            statements = statements[np.arange(B)[:, None], order, index]
        else:
            statements = statements[:, 0]
        trace = rhs[:, 0, ::-1]
        head = np.stack([np.full(B, query), names[:, 0, -1]], axis=1)
        if o.format == "no_distractor":
            chain = np.stack([names[:, 0, ::-1], np.full((B, L), eq), trace, trace], axis=2)
            y = np.concatenate([head, chain.reshape(B, 4 * L)], axis=1)
            mask = np.zeros(y.shape, bool)
            mask[:, 5::4] = True
            return Batch(np.zeros((B, 0), np.int64), y, mask)
        body = statements.reshape(B, -1)
        if o.format == "direct":
            return Batch(np.concatenate([body, head], 1), trace[:, -1:], np.ones((B, 1), bool))
        if o.format == "scratchpad":
            return Batch(np.concatenate([body, head], 1), trace, np.ones((B, L), bool))
        pad = self.token_id(PAD)
        left = np.full((B, 3 * chains * (o.pad_length - L)), pad)
        right = np.full((B, o.pad_length - L), pad)
        mask = np.zeros((B, o.pad_length), bool)
        mask[:, :L] = True
        return Batch(np.concatenate([left, body, head], 1), np.concatenate([trace, right], 1), mask)

    def solve(self, inputs_I):
        fmt = self.options.format
        tokens = [self.vocab[int(t)] for t in inputs_I]
        if fmt == "no_distractor":
            out = list(int(t) for t in inputs_I)
            for k in range(2, len(out), 4):
                out[k + 3] = out[k + 2]
            return np.array(out)
        words = [t for t in tokens if t != PAD]
        defined = {words[k]: words[k + 2] for k in range(0, len(words) - 2, 3)}
        steps, current = [], words[-1]
        while current in defined:
            current = defined[current]
            steps.append(self.token_id(current))
        if fmt == "direct":
            return np.array(steps[-1:])
        if fmt == "scratchpad":
            return np.array(steps)
        return np.array(steps + [self.token_id(PAD)] * (self.options.pad_length - len(steps)))

    def needed_slots(self, inputs_I, targets_T, layout):
        """A step needs the statement defining the variable reached so far (its 3 slots) and
        the slot holding that variable (the query's `v_L`, or the step before, fed back in a
        teacher-forced layout); in the placeholder layout, where steps are not fed back, the
        query and every statement of the trace so far; the direct answer needs the whole
        chain. no_distractor: each step needs the restated right-hand side before it."""
        fmt, I, T = self.options.format, len(inputs_I), len(targets_T)
        need = np.zeros((T, I + T), bool)
        if fmt == "no_distractor":
            for t in range(5, T, 4):
                need[t, t] = True
            return need
        tokens, eq = [int(v) for v in inputs_I], self.token_id(EQ)
        defined = {tokens[k]: k for k in range(0, I - 2, 3) if tokens[k + 1] == eq}
        chain, current = [], tokens[I - 1]
        while current in defined:
            chain.append(defined[current])
            current = tokens[defined[current] + 2]
        for t in range(min(len(chain), T)):
            if fmt == "direct":
                steps, fed = chain, I - 1
            elif layout == "placeholder":
                steps, fed = chain[:t + 1], I - 1
            else:
                steps, fed = chain[t:t + 1], I - 1 if t == 0 else I + t
            need[t, fed] = True
            for k in steps:
                need[t, k:k + 3] = True
        return need

    def scored_mask(self, inputs_I):
        """Every step of the trace; pads and the restated statements are not scored."""
        fmt = self.options.format
        if fmt == "no_distractor":
            mask = np.zeros(len(inputs_I), bool)
            mask[5::4] = True
            return mask
        steps = self.solve(inputs_I)
        return steps != self.token_id(PAD) if fmt == "padded_scratchpad" else np.ones(len(steps), bool)

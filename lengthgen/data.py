"""From task batches to model sequences: layouts, length buckets, padding, data streams.

A model sees `tokens_BxS` plus per-slot `labels_BxS` and `weights_BxS` (1 where
a slot is scored). All rows of a batch share one task length, so the real
sequence length is a scalar; slots past it are padding (PAD tokens, masked
keys, zero weight). Padding always sits at the end of the sequence, so a
real slot's position and context never depend on the bucket it is padded to.

Layouts, with I input and T target tokens (S = I + T in both):
  placeholder:     [x_1 .. x_I, Q .. Q]          labels at slots I .. I+T-1
  teacher_forced:  [x_1 .. x_I, SEP, y_1 .. y_{T-1}]  slot I+t predicts y_{t+1}
Q and SEP are the same extra token id (vocab_size + 1); PAD is vocab_size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lengthgen.task import Batch, Task

LAYOUTS = ("placeholder", "teacher_forced")


class Example(NamedTuple):
    """Model-ready arrays; a leading axis may stack steps or seeds."""

    tokens_BxS: np.ndarray
    labels_BxS: np.ndarray
    weights_BxS: np.ndarray
    length: np.ndarray  # number of real slots (scalar per batch)
    ids_S: np.ndarray  # natural position id of each slot (0..S-1 unless the task gives ids)


def pad_id(task: Task) -> int:
    return task.vocab_size


def sep_id(task: Task) -> int:
    return task.vocab_size + 1


def model_vocab(task: Task) -> int:
    """Input vocabulary of the model: task tokens + PAD + SEP/placeholder."""
    return task.vocab_size + 2


def seq_len(task: Task, length: int) -> int:
    inputs, targets = task.shapes(length)
    return inputs + targets


def encode(task: Task, batch: Batch, length: int, layout: str, size: int, rows: int | None = None) -> Example:
    """Lay a task batch of `length` out for the model, padded to `size` slots and `rows` rows."""
    x_BxI, y_BxT, m_BxT = batch
    B, I = x_BxI.shape
    T = y_BxT.shape[1]
    rows = B if rows is None else rows
    S = I + T
    if S > size:
        raise ValueError(f"sequence of {S} slots does not fit a bucket of {size}")
    tokens = np.full((rows, size), pad_id(task), np.int32)
    labels = np.zeros((rows, size), np.int32)
    weights = np.zeros((rows, size), np.float32)
    tokens[:B, :I] = x_BxI
    if layout == "placeholder":
        tokens[:B, I:S] = sep_id(task)
    elif layout == "teacher_forced":
        tokens[:B, I] = sep_id(task)
        tokens[:B, I + 1:S] = y_BxT[:, :-1]
    else:
        raise ValueError(f"unknown layout '{layout}'; valid: {', '.join(LAYOUTS)}")
    labels[:B, I:S] = y_BxT
    weights[:B, I:S] = m_BxT
    return Example(tokens, labels, weights, np.int32(S), slot_ids(task, length, layout, size))


def slot_ids(task: Task, length: int, layout: str, size: int) -> np.ndarray:
    """Natural position ids of the slots: 0..size-1, or the task's own ids laid out like its tokens."""
    given = task.position_ids(length)
    if given is None:
        return np.arange(size, dtype=np.int32)
    ids_I, ids_T = given
    I, T = len(ids_I), len(ids_T)
    ids = np.zeros(size, np.int32)
    ids[:I] = ids_I
    ids[I:I + T] = ids_T if layout == "placeholder" else np.concatenate([[0], ids_T[:-1]])
    return ids


def stack(examples: list[Example]) -> Example:
    return Example(*(np.stack(parts) for parts in zip(*examples)))


def split_buckets(lengths: list[int], count: int) -> list[list[int]]:
    """Split sorted lengths into at most `count` contiguous groups of near-equal size."""
    count = max(1, min(count, len(lengths)))
    edges = [round(i * len(lengths) / count) for i in range(count + 1)]
    return [lengths[a:b] for a, b in zip(edges[:-1], edges[1:]) if b > a]


MAX_CUT_POINTS = 2048


def cost_buckets(lengths: list[int], count: int, slots: list[int], quadratic_at: float) -> list[list[int]]:
    """Split sorted lengths into at most `count` contiguous groups with the least padded cost.

    Each length is padded to its group's longest sequence; a sequence of S slots
    costs S * (1 + S / quadratic_at): per-token layers plus attention, which
    overtakes them at S = quadratic_at. `slots[i]` is the sequence size of
    `lengths[i]` (non-decreasing). Exact dynamic programme over cut points; beyond
    MAX_CUT_POINTS lengths, cuts fall on MAX_CUT_POINTS evenly spaced points, which
    keeps planning under a second for any number of lengths.
    """
    n = len(lengths)
    points = np.unique(np.linspace(0, n, min(n, MAX_CUT_POINTS) + 1).round().astype(np.int64))
    s_N = np.asarray(slots, np.float64)
    cost_N = s_N * (1.0 + s_N / quadratic_at)
    best = np.full(len(points), np.inf)
    best[0] = 0.0
    cuts = []
    for _ in range(max(1, min(count, n))):
        new, cut = np.zeros(len(points)), np.zeros(len(points), np.int64)
        for end in range(1, len(points)):
            total = best[:end] + cost_N[points[end] - 1] * (points[end] - points[:end])
            cut[end] = int(np.argmin(total))
            new[end] = total[cut[end]]
        best = new
        cuts.append(cut)
    groups, end = [], len(points) - 1
    for cut in reversed(cuts):
        if end == 0:
            break
        groups.append(lengths[points[cut[end]]:points[end]])
        end = int(cut[end])
    return groups[::-1]


def rng_for(*words: int) -> np.random.Generator:
    """A NumPy generator fixed by integer words (seed, stream, step, ...)."""
    return np.random.default_rng([int(w) & 0xFFFFFFFF for w in words])


def raw_key(*words: int) -> np.ndarray:
    """A threefry PRNG key built on the host (no device op, no compilation) from integer words."""
    return rng_for(*words).integers(0, 2**32, 2, dtype=np.uint64).astype(np.uint32)


TRAIN_STREAM = 0x7A11
BUCKET_STREAM = 0xB0C7
EVAL_STREAM = 0xE7A1


class TrainStream:
    """Training data as a pure function of (seed, step): resumable from any chunk.

    Each chunk of K steps uses one length bucket, chosen with probability
    proportional to its number of lengths from a stream that does not depend on
    the seed (so every seed of a sweep sees the same bucket schedule and a run
    with several seeds reproduces single-seed runs). Each step then draws its
    length uniformly within the bucket from the seed's own stream, so the
    per-step length is uniform over [min_length, max_length].
    """

    def __init__(self, task: Task, layout: str, lengths: list[int], buckets: int, batch_size: int, chunk_steps: int):
        self.task, self.layout = task, layout
        self.buckets = split_buckets(lengths, buckets)
        self.sizes = [max(seq_len(task, n) for n in b) for b in self.buckets]
        weights = np.array([len(b) for b in self.buckets], np.float64)
        self.bucket_p = weights / weights.sum()
        self.batch_size, self.chunk_steps = batch_size, chunk_steps

    def chunk(self, seeds: list[int], chunk: int) -> tuple[int, Example]:
        """Examples for steps [chunk*K, (chunk+1)*K) of every seed: arrays SxKxBx... (a seed
        listed twice, for two models of one seed, is sampled once)."""
        b = int(rng_for(BUCKET_STREAM, chunk).choice(len(self.buckets), p=self.bucket_p))
        group, size = self.buckets[b], self.sizes[b]
        per_seed = {}
        for seed in dict.fromkeys(seeds):
            steps = []
            for step in range(chunk * self.chunk_steps, (chunk + 1) * self.chunk_steps):
                rng = rng_for(TRAIN_STREAM, seed, step)
                length = group[int(rng.integers(len(group)))]
                steps.append(encode(self.task, self.task.sample(rng, length, self.batch_size), length, self.layout, size))
            per_seed[seed] = stack(steps)
        return b, stack([per_seed[seed] for seed in seeds])


def eval_batch(task: Task, length: int, samples: int, seed: int) -> Batch:
    """The fixed evaluation instances at `length`: same seed, same instances, for every model."""
    return task.sample(rng_for(EVAL_STREAM, seed, length), length, samples)

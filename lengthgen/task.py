"""The task contract: what a task generator provides to the harness.

A task maps a *length* (its own notion, documented per task) to batches of
`(inputs_BxI, targets_BxT, mask_BxT)` int/bool arrays over a shared token
vocabulary. Sampling is a pure function of a NumPy generator, so the data for
any training step is fixed by `(seed, step)` and a run can resume exactly.
Every task also carries an independent reference solver that the tests and
`lengthgen check-task` compare the sampler's labels against.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, NamedTuple

import numpy as np

from lengthgen.config import make_options
from lengthgen.errors import ConfigError


class Batch(NamedTuple):
    """One batch of task instances that all have the same length.

    inputs_BxI: int tokens in [0, vocab_size).
    targets_BxT: int tokens in [0, vocab_size).
    mask_BxT: True where a target position is scored (loss and accuracy).
    """

    inputs_BxI: np.ndarray
    targets_BxT: np.ndarray
    mask_BxT: np.ndarray


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """Options dataclass for tasks without options."""


class Task:
    """Base class of every task; subclasses set the class attributes and methods.

    Subclasses define:
      name, description, family, length_meaning: strings for listings.
      vocab: tuple of token strings; ids are indices into it.
      Options: a frozen dataclass of the task's options (defaults = config defaults).
      shapes(length) -> (I, T): input and target lengths for a given length.
      sample(rng, length, batch_size) -> Batch. It is only ever run at lengths that
        `check_length` accepts: the base class wraps every subclass's `sample` so that any
        other length is a one-line ConfigError, not an error from deep inside NumPy.
      solve(inputs_I) -> targets_T: the reference solver for one instance.
    Optional:
      scored_mask(inputs_I) -> bool array of length T: the reference for which target
        positions are scored, from the argument `solve` takes; None (the default) when the
        task does not say, and then `lengthgen check-task` checks the scored labels only.
      layouts: which sequence layouts the task supports ("placeholder": an encoder
        reads the input then predicts at output placeholders; "teacher_forced": a
        causal model reads input, separator, target). Language-modelling tasks
        whose input is empty support only "teacher_forced".
      min_length: the smallest valid length.
      chance: accuracy of guessing the most common scored token (for listings).
      eval_variants: extra named evaluation sets, each a dict of option overrides
        (e.g. flip-flop's sparse and dense sequences); results carry the name in
        the `eval_set` column.
      attention_window: if > 0, a causal model's attention is masked so that each
        slot sees only the last `attention_window` slots (itself included): how a
        no-distractor format masks out every token its next step does not need.
      position_ids(length): per-slot position ids of inputs and targets for
        schemes that need task structure (e.g. digit significance); None = 0..S-1.
      needed_slots(inputs_I, targets_T, layout): the slots each target's prediction
        needs (for attention inspection); None = not defined.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    family: ClassVar[str] = ""
    length_meaning: ClassVar[str] = "number of input symbols"
    vocab: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type] = NoOptions
    layouts: ClassVar[tuple[str, ...]] = ("placeholder", "teacher_forced")
    min_length: ClassVar[int] = 1
    chance: ClassVar[float | None] = None
    eval_variants: ClassVar[dict[str, dict[str, Any]]] = {}
    attention_window: ClassVar[int] = 0

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "sample" in cls.__dict__:
            cls.sample = _length_checked(cls.__dict__["sample"])

    def __init__(self, **options: Any):
        self.options = make_options(self.Options, options, f"task '{self.name}'")
        self.validate()

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def validate(self) -> None:
        """Raise ConfigError for option values out of range (override to add checks)."""

    def check_length(self, length: int) -> None:
        """Raise ConfigError if `length` is not valid for this task's options."""
        if length < self.min_length:
            raise ConfigError(f"task '{self.name}': length {length} is below its minimum {self.min_length}")

    def shapes(self, length: int) -> tuple[int, int]:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, length: int, batch_size: int) -> Batch:
        raise NotImplementedError

    def solve(self, inputs_I: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def scored_mask(self, inputs_I: np.ndarray) -> np.ndarray | None:
        return None

    def position_ids(self, length: int) -> tuple[np.ndarray, np.ndarray] | None:
        return None

    def needed_slots(self, inputs_I: np.ndarray, targets_T: np.ndarray, layout: str) -> np.ndarray | None:
        """Which slots the prediction of each target needs, for one instance laid out in
        `layout` (`lengthgen.data.encode`): bool T x (I + T), row t = target t, column = slot
        (inputs at 0..I-1, then the target slots). Attention to the other visible slots is
        attention to distractors (`lengthgen attention`). None (the default): not defined."""
        return None

    def variant(self, overrides: dict[str, Any]) -> "Task":
        """The same task with some options replaced."""
        return type(self)(**{**dataclasses.asdict(self.options), **overrides})

    def decode(self, tokens: np.ndarray) -> str:
        """Human-readable string of a token sequence."""
        return " ".join(self.vocab[int(t)] for t in tokens)

    def token_id(self, token: str) -> int:
        return self.vocab.index(token)


def _length_checked(sample):
    """`sample` preceded by `check_length`, so that a length the task does not accept fails
    with the task's one-line ConfigError before the sampler runs."""

    @functools.wraps(sample)
    def checked(self, rng, length, batch_size):
        self.check_length(length)
        return sample(self, rng, length, batch_size)

    return checked


def check_batch(task: Task, batch: Batch, length: int, batch_size: int) -> None:
    """Raise ValueError if a sampled batch breaks the contract (shapes, dtypes, vocab)."""
    I, T = task.shapes(length)
    want = {"inputs_BxI": (batch_size, I), "targets_BxT": (batch_size, T), "mask_BxT": (batch_size, T)}
    for field, shape in want.items():
        array = getattr(batch, field)
        if not isinstance(array, np.ndarray) or array.shape != shape:
            got = getattr(array, "shape", type(array).__name__)
            raise ValueError(f"task '{task.name}' at length {length}: {field} has shape {got}, expected {shape}")
    for field in ("inputs_BxI", "targets_BxT"):
        array = getattr(batch, field)
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"task '{task.name}': {field} has dtype {array.dtype}, expected integers")
        if array.size and (array.min() < 0 or array.max() >= task.vocab_size):
            raise ValueError(f"task '{task.name}': {field} has tokens outside [0, {task.vocab_size})")
    if batch.mask_BxT.dtype != np.bool_:
        raise ValueError(f"task '{task.name}': mask_BxT has dtype {batch.mask_BxT.dtype}, expected bool")

"""What a position scheme is: a Flax module with four hooks, plus a position sampler.

The transformer calls the hooks at fixed points, so a scheme only overrides
what it changes:
  embed(x_BxSxD, pos_S)            absolute schemes add (or concatenate) to embeddings;
  rotate(q_BxSxHxK, k, pos_S)      rotary schemes rotate queries and keys;
  bias(pos_Q, pos_S) -> HxQxS      relative schemes add a bias to the attention logits of
                                   queries at pos_Q and keys at pos_S (by default the same
                                   slots; other keys under context parallelism), computed
                                   once per forward pass and shared by the layers;
  logits(q_BxSxHxK, k, pos_S)      schemes whose score is not the dot product of separately
      -> BxHxSxS                   rotated q and k (ReRoPE, dual chunk, Transformer-XL) return
                                   the full logits, already scaled by 1/sqrt(K).
Parameters a hook creates belong to the scheme and are shared by all layers.

`pos_S` holds the position index of every sequence slot. It comes from the
spec's sampler: the slot indices `0..S-1` by default, a sorted random subset of
`[0, max_len)` for Ruoss et al.'s randomized schemes (one subset per batch, at
training and at test time), slot indices plus a random training-time offset
(random padding), or the task's own ids (`Task.position_ids`, e.g. digit
significance) for schemes that declare `task_ids`.

Besides its options a scheme sees `train_length` (the run's longest training
sequence, in slots: L_train for schemes that extend a trained context), and,
per call, `train` and `length` (the batch's number of real slots, traced) for
schemes that act differently at evaluation.
"""

from __future__ import annotations

import dataclasses
import math
from collections import ChainMap
from typing import Any, Callable, ClassVar, NamedTuple, NoReturn

import flax.linen as nn
import jax
import jax.numpy as jnp

from lengthgen.errors import ConfigError
from lengthgen.task import NoOptions


class Scheme(nn.Module):
    """Base position scheme: every hook is the identity (registered as is: NoPE)."""

    options: Any
    d_model: int
    heads: int
    causal: bool
    train_length: int = 0
    train: bool = False
    length: Any = None

    def embed(self, x_BxSxD: jax.Array, pos_S: jax.Array) -> jax.Array:
        return x_BxSxD

    def rotate(self, q_BxSxHxK: jax.Array, k_BxSxHxK: jax.Array, pos_S: jax.Array):
        return q_BxSxHxK, k_BxSxHxK

    def bias(self, pos_Q: jax.Array, pos_S: jax.Array | None = None) -> jax.Array | None:
        return None

    def logits(self, q_BxSxHxK: jax.Array, k_BxSxHxK: jax.Array, pos_S: jax.Array) -> jax.Array | None:
        return None


Sampler = Callable[[jax.Array, jax.Array, jax.Array, Any, bool], jax.Array]


def contiguous_positions(key: jax.Array, ids_S: jax.Array, length: jax.Array, options: Any, train: bool) -> jax.Array:
    """The slot indices 0..S-1 (slots past `length` are masked)."""
    del key, length, options, train
    return jnp.arange(ids_S.shape[0], dtype=jnp.int32)


def randomized_positions(key: jax.Array, ids_S: jax.Array, length: jax.Array, options: Any, train: bool) -> jax.Array:
    """A sorted, uniformly random `length`-subset of [0, max_len) (Ruoss et al. 2023).

    Padding slots (index >= length) get max_len - 1 so that table lookups stay in
    range; they are masked out of attention and of the loss.
    """
    del train
    size = ids_S.shape[0]
    max_len = options.max_len
    draw = jax.random.permutation(key, max_len)[:size].astype(jnp.int32)
    slot = jnp.arange(size, dtype=jnp.int32)
    draw = jnp.where(slot < length, draw, max_len + slot)
    return jnp.minimum(jnp.sort(draw), max_len - 1)


def training_offset(key: jax.Array, options: Any, train: bool) -> jax.Array:
    """One offset per batch, uniform in [0, options.max_offset] at training time, 0 at test time."""
    if not train:
        return jnp.int32(0)
    return jax.random.randint(key, (), 0, options.max_offset + 1, dtype=jnp.int32)


def offset_positions(key: jax.Array, ids_S: jax.Array, length: jax.Array, options: Any, train: bool) -> jax.Array:
    """Slot indices shifted by a random training-time offset (Tao et al.'s random front padding)."""
    del length
    return jnp.arange(ids_S.shape[0], dtype=jnp.int32) + training_offset(key, options, train)


class Rule(NamedTuple):
    """A valid range for one option: `holds(value)`, and the range as error messages state it."""

    holds: Callable[[Any], bool]
    text: str


def at_least(low: float, note: str = "") -> Rule:
    return Rule(lambda v: v >= low, f">= {low:g}{note}")


def above(low: float, note: str = "") -> Rule:
    return Rule(lambda v: v > low, f"> {low:g}{note}")


def zero_or_at_least(low: float, zero: str) -> Rule:
    """0 selects an automatic value (`zero` says which); any other value must be >= low."""
    return Rule(lambda v: v == 0 or v >= low, f"0 ({zero}) or >= {low:g}")


def fail(options: Any, message: str) -> NoReturn:
    """Raise the one-line ConfigError for a bad option of `options`' scheme."""
    scheme = getattr(type(options), "scheme", "")
    raise ConfigError(f"position '{scheme}': {message}" if scheme else f"{type(options).__name__}: {message}")


class CheckedOptions:
    """Base of a scheme's frozen options dataclass: bad values are refused when it is built.

    `bounds` maps a field to its Rule; a subclass lists only the fields it adds or
    narrows (the bounds of its bases still apply). Every float field must also be
    finite. Cross-field checks extend `__post_init__` and call `fail`. `scheme` (set by
    PositionSpec, as one Options class may serve several schemes) names the scheme in errors.
    """

    bounds: ClassVar[dict[str, Rule]] = {}
    scheme: ClassVar[str] = ""

    def __post_init__(self):
        rules = ChainMap(*(cls.__dict__.get("bounds", {}) for cls in type(self).__mro__))
        for field in dataclasses.fields(self):
            value, rule = getattr(self, field.name), rules.get(field.name)
            finite = not isinstance(value, float) or math.isfinite(value)
            if finite and (rule is None or rule.holds(value)):
                continue
            wanted = ([] if finite else ["finite"]) + ([rule.text] if rule else [])
            fail(self, f"{field.name} must be {' and '.join(wanted)}, got {value}")


@dataclasses.dataclass(frozen=True)
class PositionSpec:
    """A registered position scheme: its module, options and how positions are drawn.

    family: none | absolute | rotary | relative.
    Options: the frozen options dataclass; a CheckedOptions one is replaced by a
      subclass whose errors name this scheme.
    table_size: given options, the largest position index + 1 the scheme can
      take (None = unbounded); used to reject a config before training.
    train_offset: given options, the largest offset the sampler adds to
      positions at training time (checked against table_size too).
    causal_only: the scheme is defined for causal (decoder) models only.
    task_ids: positions come from the task (`Task.position_ids`); a task
      without ids is rejected at build time.
    diagnostics: (params of one seed, NetConfig) -> JSON-able dict, added to
      the run summary.
    """

    name: str
    family: str
    description: str
    formula: str
    paper: str
    module: type[Scheme]
    Options: type = NoOptions
    sampler: Sampler = contiguous_positions
    causal_only: bool = False
    table_size: Callable[[Any], int | None] = lambda options: None
    train_offset: Callable[[Any], int] = lambda options: 0
    task_ids: bool = False
    diagnostics: Callable[[Any, Any], dict] | None = None

    def __post_init__(self):
        if issubclass(self.Options, CheckedOptions) and self.Options.__dict__.get("scheme") != self.name:
            named = type(self.Options.__name__, (self.Options,),
                         {"scheme": self.name, "__module__": self.Options.__module__,
                          "__qualname__": self.Options.__qualname__})
            object.__setattr__(self, "Options", named)

    @property
    def randomized(self) -> bool:
        return self.sampler is randomized_positions

    @property
    def parameters(self) -> str:
        return ", ".join(f.name for f in dataclasses.fields(self.Options)) or "-"


def extend_options(options: type, name: str, bounds: dict[str, Rule] | None = None, **defaults: Any) -> type:
    """A frozen subclass of the dataclass `options` with extra (or re-defaulted) int/float fields,
    range-checked by `bounds` (see CheckedOptions)."""
    fields = [(key, type(value), dataclasses.field(default=value)) for key, value in defaults.items()]
    bases = (options,) if issubclass(options, CheckedOptions) else (options, CheckedOptions)
    cls = dataclasses.make_dataclass(name, fields, bases=bases, frozen=True, namespace={"bounds": bounds or {}})
    cls.__module__ = __name__
    return cls


def resolve_length(option: int, scheme: Scheme, what: str) -> int:
    """An option that defaults (0) to the run's training length, in slots."""
    value = option or scheme.train_length
    if value < 1:
        raise ValueError(f"{what}: no training length given (set the option or Scheme.train_length)")
    return value

"""Frozen run configuration and its validation, in one place.

`schema()` is `RunConfig` as a structured config: Hydra composes against it (`lengthgen.app`)
and `RunConfig.from_dict` merges a plain dict into it, so OmegaConf checks keys and types;
`validate` checks ranges and every cross-field rule, so bad input fails with one line before
anything compiles. Task and position nodes are `{name: ..., <options>}`: their options are
checked against the task's or scheme's own `Options` dataclass (`make_options`). Only rules
that need the built objects (a scheme against the model, lengths against tables) are in
`lengthgen.build`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from lengthgen import trackers
from lengthgen.errors import ConfigError

SEED_LIMIT = 2**32
SET_KEYS = ("samples_per_length", "min_length", "max_length")
ATTENTION_KINDS = ("softmax", "relu")
LOGIT_SCALES = ("none", "logn", "qwen")
# Settings that must be >= 1 and >= 0, checked in this order by `validate`.
AT_LEAST_ONE = ("train.max_length", "train.min_length", "train.steps", "train.batch_size", "train.chunk_steps",
                "train.buckets", "train.seeds", "eval.max_length", "eval.min_length", "eval.stride",
                "eval.samples_per_length", "eval.batch_size", "eval.buckets", "model.layers", "model.d_model",
                "model.heads", "model.mlp_dim", "mesh.data", "mesh.models", "mesh.context")
AT_LEAST_ZERO = ("train.warmup_steps", "train.weight_decay", "train.grad_clip", "train.checkpoint_every",
                 "train.fit_every", "xla_threads")
# Settings that change neither training nor results: how a run is shown, paced or guarded.
NOT_RESULTS = ("progress", "xla_threads", "overwrite", "memory_gb", "logger", "mesh", "train.checkpoint_every", "eval.max_tflop")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "encoder"
    layout: str = ""  # "" = the model's default layout
    layers: int = 2
    d_model: int = 64
    heads: int = 4
    mlp_dim: int = 256
    dropout: float = 0.0
    embed_dropout: float = 0.0


@dataclass(frozen=True)
class AttentionConfig:
    """Attention variants, orthogonal to the position scheme (see `lengthgen.attention`).

    kind: softmax | relu. logit_scale: none | logn | qwen. reference_length: L of
    the log-n scalings, in slots (0 = the longest training sequence).
    entropy_penalty: weight of the mean attention entropy in the loss (Liu et
    al.'s sharpening; with relu, of the row-normalized weights). rowsum_penalty:
    weight of mean (row sum - 1)^2 for relu attention (Shen et al.).
    """

    kind: str = "softmax"
    logit_scale: str = "none"
    reference_length: int = 0
    entropy_penalty: float = 0.0
    rowsum_penalty: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """Training settings.

    checkpoint_every: save the full training state every this many steps,
    rounded up to whole chunks of `chunk_steps` (500 with chunks of 25 is every
    20 chunks; 30 with chunks of 25 becomes 50), and when training ends; 0
    disables checkpoints, so an interrupted run starts over. With 500, a kill
    loses at most 500 steps (about half a minute on two CPU cores at the
    default sizes) while saving, an fsync'ed write of parameters and optimizer
    state, stays rare.

    lrs: learning rates trained together in one program, like `seeds`: one model per
    (lr, seed), each with the results it would have in a run of its own (up to float
    rounding); empty = just `lr`.

    fit_every: every this many steps (rounded up to whole chunks) and at the end,
    evaluate every model on the training lengths of the evaluation set; the summary
    records, per model, the first such step at which exact match is >= 0.9 at every
    training length (`steps_to_fit`, null if never) and the history. 0 = off.
    stop_when_fit: end training at the first such check where every model fits
    (`steps_trained` in the summary says where); needs fit_every > 0.
    """

    max_length: int = 16
    min_length: int = 1
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 100
    schedule: str = "constant"
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    chunk_steps: int = 25
    buckets: int = 2
    seeds: int = 1
    lrs: tuple[float, ...] = ()
    checkpoint_every: int = 500
    fit_every: int = 0
    stop_when_fit: bool = False


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation at every `stride`-th length in min_length..max_length, on a fixed set.

    buckets: compiled evaluation programs; the lengths are split into this many
    contiguous groups where padding to each group's longest sequence costs the
    least compute (`lengthgen.data.cost_buckets`).
    max_tflop: refuse, before training, an evaluation estimated to take more
    than this many TFLOP (10^12 floating-point operations; `lengthgen.cost`).
    The default, 1,000, is about 11 hours at the 25 GFLOP/s evaluation reaches on
    two CPU cores, and 23 times the evaluation of lengths 41..500 in the Ruoss et
    al. setting (43 TFLOP).
    attention_lengths: after evaluation, capture every layer's attention on the
    evaluation instances of these lengths and write attention.csv and steps.csv
    (`lengthgen.attention_maps.analyze`) from the first attention_samples of them (0 =
    all: the weights take models x layers x instances x heads x slots^2 floats);
    attention_maps: how many of those instances to keep as maps (attention_L<length>.npz
    and .png per length; 0 = none).
    sets: per evaluation set (default or a task's variant), other samples_per_length,
    min_length or max_length, e.g. {sparse: {samples_per_length: 65536, max_length: 64}}
    (`lengthgen.evaluate.eval_plan`).
    """

    max_length: int = 48
    min_length: int = 1
    stride: int = 1
    samples_per_length: int = 128
    batch_size: int = 128
    seed: int = 1234
    buckets: int = 4
    max_tflop: float = 1000.0
    attention_lengths: tuple[int, ...] = ()
    attention_maps: int = 0
    attention_samples: int = 0
    sets: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggerConfig:
    """Where a run also logs its config, training curves and per-length results
    (`lengthgen.trackers`). kind: none | tensorboard | mlflow (`logger=mlflow` on the
    command line). dir: TensorBoard's root ("" = tensorboard/ beside the run directory).
    tracking_uri: MLflow's store ("" = sqlite:///<beside the run directory>/mlflow.db).
    experiment: the MLflow experiment name."""

    kind: str = "none"
    dir: str = ""
    tracking_uri: str = ""
    experiment: str = "lengthgen"


@dataclass(frozen=True)
class MeshConfig:
    """Devices a run is spread over (`lengthgen.sharding`); 1 = not split. data: the batch's
    rows are split over this many devices (data parallel); models: the run's models
    (lr, seed) are split over this many; context: an evaluation sequence is split over
    this many (context parallel, `lengthgen.context`). data x models devices and context
    devices must exist (on a CPU: XLA_FLAGS=--xla_force_host_platform_device_count=N)."""

    data: int = 1
    models: int = 1
    context: int = 1


@dataclass(frozen=True)
class RunConfig:
    """One run. overwrite: replace what the run directory holds (a finished run or a
    checkpoint of another configuration) instead of refusing. memory_gb: the memory
    a run may use, in GiB (0 = this machine's); a run whose estimated peak exceeds it is
    refused before training (`lengthgen.cost`)."""

    task: dict[str, Any] = field(default_factory=lambda: {"name": "reverse_string"})
    position: dict[str, Any] = field(default_factory=lambda: {"name": "rope"})
    model: ModelConfig = field(default_factory=ModelConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    seed: int = 0
    xla_threads: int = 0
    progress: bool = True
    overwrite: bool = False
    memory_gb: float = 0.0

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.train.seeds)]

    @property
    def lrs(self) -> list[float]:
        return list(self.train.lrs) or [self.train.lr]

    @property
    def models(self) -> list[tuple[float, int]]:
        """(lr, seed) of every model the run trains, learning rates outermost."""
        return [(lr, seed) for lr in self.lrs for seed in self.seeds]

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunConfig":
        """Build from a plain dict (a resolved Hydra config, or any part of one: the rest keeps its
        defaults), typed and checked by OmegaConf against the schema; unknown keys and values
        of the wrong type are one-line ConfigErrors."""
        raw = {k: v for k, v in raw.items() if k != "hydra"}
        try:
            cfg = OmegaConf.to_object(OmegaConf.merge(schema(), raw))
        except OmegaConfBaseException as exc:
            raise ConfigError(omegaconf_error(exc)) from None
        tuples = {s: {f.name: tuple(getattr(getattr(cfg, s), f.name)) for f in dataclasses.fields(getattr(cfg, s))
                      if str(f.type).startswith("tuple")} for s in ("train", "eval")}
        return dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s), **t) for s, t in tuples.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def schema() -> DictConfig:
    """`RunConfig` as an OmegaConf structured config that merges accept (frozen dataclasses give
    read-only nodes); eval.sets takes any set name. It is also Hydra's schema (`lengthgen.app`)."""
    node = OmegaConf.structured(RunConfig)
    for child in [node, *(node[key] for key in node)]:
        if OmegaConf.is_config(child):
            OmegaConf.set_readonly(child, False)
    OmegaConf.set_struct(node.eval.sets, False)
    return node


def omegaconf_error(exc: OmegaConfBaseException) -> str:
    """One line for an OmegaConf merge error: the unknown key with the valid ones at its place, or
    the key and what is wrong with its value."""
    key = getattr(exc, "full_key", "") or ""
    first = str(exc).strip().splitlines()[0]
    if isinstance(exc, ConfigKeyError) and key:
        parent, _, _ = key.rpartition(".")
        section = getattr(RunConfig(), parent) if parent else RunConfig()
        valid = ", ".join(f.name for f in dataclasses.fields(section)) if dataclasses.is_dataclass(section) else ""
        return f"unknown config key '{key}'" + (f"; valid: {valid}" if valid else "")
    return f"{key}: {first}" if key else first


def _floats(cfg: RunConfig):
    """(dotted key, value) of every float setting."""
    sections = {"": cfg, "model.": cfg.model, "attention.": cfg.attention, "train.": cfg.train, "eval.": cfg.eval}
    for prefix, section in sections.items():
        for f in dataclasses.fields(section):
            if isinstance(getattr(section, f.name), float):
                yield prefix + f.name, getattr(section, f.name)


def _at_least(cfg: RunConfig, bound: int, keys: tuple[str, ...]) -> None:
    """Raise a ConfigError for the first of the dotted `keys` whose value is below `bound`."""
    for key in keys:
        value = attrgetter(key)(cfg)
        if value < bound:
            raise ConfigError(f"{key} must be >= {bound}, got {value}")


def validate(cfg: RunConfig) -> None:
    """Check cross-field rules that do not need the task or model objects."""
    t, e, m = cfg.train, cfg.eval, cfg.model
    _at_least(cfg, 1, AT_LEAST_ONE)
    _at_least(cfg, 0, AT_LEAST_ZERO)
    for key, value in _floats(cfg):
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
    for key, value in [("train.lr", t.lr), *((f"train.lrs[{i}]", lr) for i, lr in enumerate(t.lrs))]:
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{key} must be a finite number > 0, got {value}")
    if t.stop_when_fit and not t.fit_every:
        raise ConfigError("train.stop_when_fit=true needs train.fit_every > 0 (the steps between fit checks), got 0")
    if len(set(t.lrs)) < len(t.lrs):
        raise ConfigError(f"train.lrs must not repeat a value, got {list(t.lrs)}")
    _at_least(cfg, 0, ("seed", "eval.seed"))
    if cfg.seed + t.seeds > SEED_LIMIT:
        raise ConfigError(f"seed + train.seeds must be <= {SEED_LIMIT} (seeds are 32-bit words), got "
                          f"{cfg.seed} + {t.seeds}")
    if e.seed >= SEED_LIMIT:
        raise ConfigError(f"eval.seed must be < {SEED_LIMIT} (seeds are 32-bit words), got {e.seed}")
    for name, node in e.sets.items():
        if not isinstance(node, dict):
            raise ConfigError(f"eval.sets.{name}: expected a mapping, got {node!r}")
        for key, value in node.items():
            if key not in SET_KEYS:
                raise ConfigError(f"unknown key 'eval.sets.{name}.{key}'; valid: {', '.join(SET_KEYS)}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"eval.sets.{name}.{key} must be an integer >= 1, got {value!r}")
    for length in e.attention_lengths:
        if not e.min_length <= length <= e.max_length:
            raise ConfigError(f"eval.attention_lengths: {length} is outside the evaluated lengths "
                              f"{e.min_length}..{e.max_length}")
    if e.attention_samples < 0:
        raise ConfigError(f"eval.attention_samples must be >= 0 (0 = every instance), got {e.attention_samples}")
    if not 0 <= e.attention_maps <= e.samples_per_length:
        raise ConfigError(f"eval.attention_maps must be in 0..eval.samples_per_length ({e.samples_per_length}), "
                          f"got {e.attention_maps}")
    if not e.max_tflop > 0:
        raise ConfigError(f"eval.max_tflop must be > 0, got {e.max_tflop}")
    if cfg.memory_gb < 0:
        raise ConfigError(f"memory_gb must be >= 0 (0 = this machine's memory), got {cfg.memory_gb}")
    if t.min_length > t.max_length:
        raise ConfigError(f"train.min_length ({t.min_length}) must be <= train.max_length ({t.max_length})")
    if e.max_length <= t.max_length:
        raise ConfigError(f"eval.max_length ({e.max_length}) must be > train.max_length ({t.max_length}) "
                          "to test length generalization")
    if e.min_length > e.max_length:
        raise ConfigError(f"eval.min_length ({e.min_length}) must be <= eval.max_length ({e.max_length})")
    if m.d_model % m.heads:
        raise ConfigError(f"model.heads ({m.heads}) must divide model.d_model ({m.d_model})")
    for key, value in {"model.dropout": m.dropout, "model.embed_dropout": m.embed_dropout}.items():
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{key} must be in [0, 1), got {value}")
    trackers.check(cfg.logger.kind)
    choice(cfg.attention.kind, ATTENTION_KINDS, "attention.kind")
    choice(cfg.attention.logit_scale, LOGIT_SCALES, "attention.logit_scale")
    _at_least(cfg, 0, ("attention.reference_length", "attention.entropy_penalty", "attention.rowsum_penalty"))
    choice(t.schedule, ("constant", "cosine"), "train.schedule")


def fingerprint(cfg: RunConfig, with_eval: bool = True) -> dict[str, Any]:
    """The settings a run's results depend on; without `eval`, those its checkpoint depends on."""
    out = cfg.to_dict()
    for key in NOT_RESULTS + (() if with_eval else ("eval",)):
        section, _, leaf = key.rpartition(".")
        (out.get(section, {}) if section else out).pop(leaf, None)
    return json.loads(json.dumps(out, sort_keys=True, default=str))


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """'key: old there, new now' for every dotted key whose value differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)
                for d in differences(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [f"{prefix.rstrip('.')}: {old!r} there, {new!r} now"]


def listed(diffs: list[str], shown: int = 3) -> str:
    more = f"; and {len(diffs) - shown} more" if len(diffs) > shown else ""
    return "; ".join(diffs[:shown]) + more


# What `coerce` accepts for a default of each type (true/false only where the default is a bool).
EXPECTED = {bool: ("true/false", bool), int: ("an integer", int), float: ("a number", (int, float)), str: ("a string", str)}


def make_options(options_cls: type, values: dict[str, Any], owner: str):
    """Build a frozen options dataclass from a dict, with one-line errors."""
    fields = {f.name: f for f in dataclasses.fields(options_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        valid = ", ".join(sorted(fields)) or "(none)"
        raise ConfigError(f"{owner}: unknown option '{unknown[0]}'; valid options: {valid}")
    converted = {}
    for key, value in values.items():
        default = getattr(options_cls(), key) if _has_default(fields[key]) else None
        converted[key] = coerce(value, default, f"{owner} option '{key}'")
    return options_cls(**converted)


def _has_default(field: dataclasses.Field) -> bool:
    return field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING


def coerce(value: Any, default: Any, where: str) -> Any:
    """Coerce a config value to the type of its default, or raise a ConfigError."""
    if default is None or value is None:
        return value
    kind = type(default)
    if kind is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(coerce(v, 0.0, f"{where}[{i}]") for i, v in enumerate(value))
    if kind not in EXPECTED:
        return value
    what, accepted = EXPECTED[kind]
    if not isinstance(value, accepted) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return float(value) if kind is float else value


def choice(value: str, valid: tuple[str, ...], where: str) -> None:
    """Raise a ConfigError unless `value` is one of `valid`."""
    if value not in valid:
        raise ConfigError(f"{where}: unknown value '{value}'; valid: {', '.join(valid)}")

"""The compiled programs of one model structure: init, a chunk of training steps, an evaluation
batch; pure functions under `jax.jit` over explicit state, for several models at once.

`TrainState` holds everything a run needs to continue exactly: parameters,
optimizer state, step, PRNG key and the hyperparameters (the data position is the
step: training data is a pure function of (seed, step), see
`lengthgen.data.TrainStream`). A compiled chunk runs K steps with `lax.scan` and is
`vmap`ped over models, one per (lr, seed), so one dispatch trains every model for K
steps; there is one program per length bucket. Learning rate, schedule lengths,
weight decay and clipping are state, not constants, so runs that differ only in
them share compiled programs (through the persistent compilation cache).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from lengthgen.build import Built
from lengthgen.config import TrainConfig
from lengthgen.context import ContextEval
from lengthgen.data import Example, raw_key
from lengthgen.sharding import Placement


@struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    key: jax.Array
    hyper: dict[str, jax.Array]


def hyperparams(t: TrainConfig, lr: float) -> dict[str, np.ndarray]:
    """The training settings that only change numbers, as arrays: inputs of the compiled programs, not
    constants in them (see the module docstring). grad_clip 0 (no clipping) is an infinite bound."""
    return {k: np.float32(v) for k, v in {
        "lr": lr, "warmup_steps": max(t.warmup_steps, 1), "decay_steps": max(t.steps, t.warmup_steps + 1),
        "cosine": t.schedule == "cosine", "weight_decay": t.weight_decay,
        "grad_clip": t.grad_clip if t.grad_clip > 0 else np.inf}.items()}


def learning_rate(count: jax.Array, h: dict[str, jax.Array]) -> jax.Array:
    """Linear warmup from 0 over warmup_steps, then constant or a cosine decay to 0 at decay_steps
    (optax's join of linear_schedule and constant_schedule / warmup_cosine_decay_schedule)."""
    count = count.astype(jnp.float32)
    warm = h["lr"] * count / h["warmup_steps"]
    done = jnp.clip((count - h["warmup_steps"]) / (h["decay_steps"] - h["warmup_steps"]), 0.0, 1.0)
    after = jnp.where(h["cosine"] > 0, h["lr"] * 0.5 * (1.0 + jnp.cos(jnp.pi * done)), h["lr"])
    return jnp.where(count < h["warmup_steps"], warm, after)


ADAM = optax.scale_by_adam()

# Initialization runs once per run but compiled for as long as a training chunk: most of it is
# random-bit generation, one kernel per parameter shape. LLVM's lighter optimization level
# cuts that by about a third on a CPU and yields the same bits (tests/test_program.py; benchmarks/compile.py).
INIT_OPTIONS = {"xla_backend_optimization_level": 1}


def apply_adamw(params, grads, adam_state, step, h: dict[str, jax.Array]):
    """AdamW (optax's defaults) with global-norm clipping, every setting read from `h`:
    returns (params, adam_state)."""
    g_norm = optax.global_norm(grads)
    grads = jax.tree.map(lambda g: jnp.where(g_norm < h["grad_clip"], g, g / g_norm * h["grad_clip"]), grads)
    updates, adam_state = ADAM.update(grads, adam_state, params)
    lr = learning_rate(step, h)
    params = jax.tree.map(lambda p, u: (p - lr * (u + h["weight_decay"] * p)).astype(p.dtype), params, updates)
    return params, adam_state


def scored_stats(logits_BxSxV, labels_BxS, weights_BxS):
    """Per-row (correct scored tokens, scored tokens, whole sequence correct)."""
    hit = (jnp.argmax(logits_BxSxV, -1) == labels_BxS) & (weights_BxS > 0)
    correct_B = hit.sum(-1)
    total_B = (weights_BxS > 0).sum(-1)
    return correct_B, total_B, correct_B == total_B


class Functions:
    """The jitted init, train chunk and eval batch of one program structure (model, network and
    position scheme), which every run of that structure can use (see `functions`)."""

    def __init__(self, model, net, position, options):
        self.net: nn.Module = model.module(net)
        self.positions: Callable = lambda key, ids, length, train: position.sampler(key, ids, length, options, train)
        self.init_models = jax.vmap(self._init, in_axes=(0, 0, None))
        self.init = jax.jit(self.init_models, static_argnums=2,
                            compiler_options=INIT_OPTIONS if jax.default_backend() == "cpu" else None)
        self.train_chunk = jax.jit(jax.vmap(self._train_chunk), donate_argnums=0)
        self.eval_batch = jax.jit(jax.vmap(self._eval_batch, in_axes=(0, None, None)))

    def _init(self, key, hyper, size: int) -> TrainState:
        init_key, run_key = jax.random.split(key)
        tokens = jnp.zeros((1, size), jnp.int32)
        params = self.net.init(init_key, tokens, jnp.arange(size, dtype=jnp.int32), jnp.int32(size))["params"]
        return TrainState(jnp.int32(0), params, ADAM.init(params), run_key, hyper)

    def loss(self, params, ex: Example, key, train: bool):
        """Mean scored NLL; when training, plus the auxiliary losses the model sows into "losses"."""
        pos_key, drop_key = jax.random.split(key)
        pos_S = self.positions(pos_key, ex.ids_S, ex.length, train)
        args = ({"params": params}, ex.tokens_BxS, pos_S, ex.length, train)
        aux = jnp.float32(0.0)
        if train:
            logits, sown = self.net.apply(*args, rngs={"dropout": drop_key}, mutable=["losses"])
            aux = sum((jnp.sum(v).astype(jnp.float32) for v in jax.tree.leaves(sown)), aux)
        else:
            logits = self.net.apply(*args, rngs={"dropout": drop_key})
        logp = jax.nn.log_softmax(logits.astype(jnp.float32))
        nll_BxS = -jnp.take_along_axis(logp, ex.labels_BxS[..., None], -1)[..., 0]
        loss = (nll_BxS * ex.weights_BxS).sum() / jnp.maximum(ex.weights_BxS.sum(), 1.0)
        return loss + aux, logits

    def _train_step(self, state: TrainState, ex: Example):
        key, step_key = jax.random.split(state.key)
        (loss, logits), grads = jax.value_and_grad(self.loss, has_aux=True)(state.params, ex, step_key, True)
        params, opt_state = apply_adamw(state.params, grads, state.opt_state, state.step, state.hyper)
        correct, total, _ = scored_stats(logits, ex.labels_BxS, ex.weights_BxS)
        metrics = {"loss": loss, "acc": correct.sum() / jnp.maximum(total.sum(), 1)}
        return TrainState(state.step + 1, params, opt_state, key, state.hyper), metrics

    def _train_chunk(self, state: TrainState, chunk: Example):
        return jax.lax.scan(self._train_step, state, chunk)

    def _eval_batch(self, params, ex: Example, key):
        _, logits = self.loss(params, ex, key, False)
        return scored_stats(logits, ex.labels_BxS, ex.weights_BxS)


def structure(built: Built) -> tuple:
    """What a run's compiled programs depend on besides input shapes: model, network, position
    scheme and its options. Runs of one structure share `functions`."""
    return built.model, built.net, built.position, built.position_options


@functools.lru_cache(maxsize=16)
def functions(model, net, position, options) -> Functions:
    """One `Functions` per structure in this process: the runs of a sweep launched in one process
    reuse the traced, compiled programs instead of tracing, lowering and loading them again."""
    return Functions(model, net, position, options)


class Program:
    """The jitted functions of one run (shared with every run of its structure) and its models."""

    def __init__(self, built: Built):
        self.built = built
        self.functions = f = functions(*structure(built))
        self.net, self.loss, self.positions = f.net, f.loss, f.positions
        self.place = Placement(built.cfg)
        parts = built.cfg.mesh.context
        self.context = ContextEval(f, parts, scored_stats) if parts > 1 else None

    def init(self, keys, hyper, size: int) -> TrainState:
        return self.place.models(self.functions.init(keys, hyper, size))

    def train_chunk(self, state: TrainState, chunk: Example):
        """K steps of every model; with a device mesh, the state and the chunk are placed on it first."""
        return self.functions.train_chunk(self.place.models(state), self.place.chunk(chunk))

    def eval_batch(self, params, ex: Example, key):
        if self.context is not None:
            return self.context(params, ex, key)
        return self.functions.eval_batch(self.place.models(params), self.place.batch(ex), key)

    def model_inputs(self, models: list[tuple[float, int]] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(PRNG keys, hyperparameters) of every (lr, seed) model, stacked; default: the run's models."""
        models = self.built.cfg.models if models is None else models
        keys = np.stack([raw_key(seed) for _, seed in models])
        hypers = [hyperparams(self.built.cfg.train, lr) for lr, _ in models]
        return keys, {k: np.stack([h[k] for h in hypers]) for k in hypers[0]}

    def state_shape(self, size: int) -> TrainState:
        """The shapes and dtypes of `start(size)`'s state (to restore a checkpoint into), traced only.
        (`init` itself can only be called at the top level: its compiler options are its own.)"""
        keys, hyper = self.model_inputs()
        return jax.eval_shape(lambda k, h: self.functions.init_models(k, h, size), keys, hyper)

    def start(self, size: int, models: list[tuple[float, int]] | None = None) -> TrainState:
        """The initial state of every model, for sequences of up to `size` slots."""
        return self.init(*self.model_inputs(models), size)

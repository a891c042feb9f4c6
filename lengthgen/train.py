"""Pure, jitted training over explicit state, for several seeds at once.

`TrainState` holds everything a run needs to continue exactly: parameters,
optimizer state, step and PRNG key (the data position is the step: training
data is a pure function of (seed, step), see `lengthgen.data.TrainStream`).
A compiled chunk runs K steps with `lax.scan` and is `vmap`ped over seeds, so
one dispatch trains every seed for K steps; there is one program per length
bucket.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from lengthgen.build import Built
from lengthgen.config import TrainConfig
from lengthgen.data import Example


@struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    key: jax.Array


def raw_key(*words: int) -> np.ndarray:
    """A threefry PRNG key built on the host (no device op, no compilation)."""
    mixed = np.random.default_rng([int(w) & 0xFFFFFFFF for w in words]).integers(0, 2**32, 2, dtype=np.uint64)
    return mixed.astype(np.uint32)


def make_optimizer(t: TrainConfig) -> optax.GradientTransformation:
    if t.schedule == "cosine":
        lr = optax.warmup_cosine_decay_schedule(0.0, t.lr, max(t.warmup_steps, 1), max(t.steps, t.warmup_steps + 1))
    else:
        lr = optax.join_schedules(
            [optax.linear_schedule(0.0, t.lr, max(t.warmup_steps, 1)), optax.constant_schedule(t.lr)],
            [max(t.warmup_steps, 1)])
    parts = [optax.clip_by_global_norm(t.grad_clip)] if t.grad_clip > 0 else []
    return optax.chain(*parts, optax.adamw(lr, weight_decay=t.weight_decay))


def scored_stats(logits_BxSxV, labels_BxS, weights_BxS):
    """Per-row (correct scored tokens, scored tokens, whole sequence correct)."""
    hit = (jnp.argmax(logits_BxSxV, -1) == labels_BxS) & (weights_BxS > 0)
    correct_B = hit.sum(-1)
    total_B = (weights_BxS > 0).sum(-1)
    return correct_B, total_B, correct_B == total_B


class Program:
    """The jitted functions of one run: init, train chunk, eval batch."""

    def __init__(self, built: Built):
        self.built = built
        self.net: nn.Module = built.model.module(built.net)
        self.tx = make_optimizer(built.cfg.train)
        spec, opts = built.position, built.position_options
        self.positions: Callable = lambda key, ids, length, train: spec.sampler(key, ids, length, opts, train)
        self.init = jax.jit(jax.vmap(self._init, in_axes=(0, None)), static_argnums=1)
        self.train_chunk = jax.jit(jax.vmap(self._train_chunk), donate_argnums=0)
        self.eval_batch = jax.jit(jax.vmap(self._eval_batch, in_axes=(0, None, None)))

    def _init(self, key, size: int) -> TrainState:
        init_key, run_key = jax.random.split(key)
        tokens = jnp.zeros((1, size), jnp.int32)
        params = self.net.init(init_key, tokens, jnp.arange(size, dtype=jnp.int32), jnp.int32(size))["params"]
        return TrainState(jnp.int32(0), params, self.tx.init(params), run_key)

    def _loss(self, params, ex: Example, key, train: bool):
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
        (loss, logits), grads = jax.value_and_grad(self._loss, has_aux=True)(state.params, ex, step_key, True)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        correct, total, _ = scored_stats(logits, ex.labels_BxS, ex.weights_BxS)
        metrics = {"loss": loss, "acc": correct.sum() / jnp.maximum(total.sum(), 1)}
        return TrainState(state.step + 1, params, opt_state, key), metrics

    def _train_chunk(self, state: TrainState, chunk: Example):
        return jax.lax.scan(self._train_step, state, chunk)

    def _eval_batch(self, params, ex: Example, key):
        _, logits = self._loss(params, ex, key, False)
        return scored_stats(logits, ex.labels_BxS, ex.weights_BxS)

"""A run spread over several JAX devices with `jax.sharding` (`mesh.data`, `mesh.models`).

The devices form a mesh of `models x data`. Every array of the training state has a
leading model axis (one model per (lr, seed), see `lengthgen.program`): it is split over
the mesh's "models" axis and copied along "data". Training and evaluation batches are
split over "data" by their row axis. The compiled programs are the same functions as on
one device: XLA partitions them from the placement of their inputs, summing the
gradients of the batch's parts across "data" devices (data parallelism), and models on
different "models" devices never communicate. Results equal those of one device up to
float rounding (the order of the sums changes).

On a CPU, `XLA_FLAGS=--xla_force_host_platform_device_count=N` makes N devices of the
host's cores; on a GPU node each GPU is a device.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lengthgen.config import RunConfig
from lengthgen.errors import ConfigError

FORCE_DEVICES = "XLA_FLAGS=--xla_force_host_platform_device_count=N"


def check(cfg: RunConfig) -> None:
    """One-line errors for a mesh this machine or this run cannot have, before any training."""
    m = cfg.mesh
    if cfg.train.batch_size % m.data:
        raise ConfigError(f"train.batch_size ({cfg.train.batch_size}) must be a multiple of mesh.data ({m.data})")
    if len(cfg.models) % m.models:
        raise ConfigError(f"mesh.models ({m.models}) must divide the run's {len(cfg.models)} models "
                          "(train.seeds x learning rates)")
    available = jax.device_count()
    for name, size in (("mesh.data x mesh.models", m.data * m.models), ("mesh.context", m.context)):
        if size > available:
            raise ConfigError(f"{name} = {size} needs {size} devices, {available} available "
                              f"({jax.default_backend()}; on a CPU, {FORCE_DEVICES} makes N)")


class Placement:
    """Where a run's arrays live: on one device (mesh None), or split over a models x data mesh."""

    def __init__(self, cfg: RunConfig):
        m = cfg.mesh
        self.mesh = None
        self.devices = {"backend": jax.default_backend(), "data": m.data, "models": m.models, "context": m.context}
        if m.data * m.models > 1:
            devices = np.array(jax.devices()[:m.data * m.models]).reshape(m.models, m.data)
            self.mesh = Mesh(devices, ("models", "data"))

    def _put(self, tree: Any, spec_of) -> Any:
        if self.mesh is None:
            return tree
        return jax.tree.map(lambda a: jax.device_put(a, NamedSharding(self.mesh, spec_of(np.ndim(a)))), tree)

    def models(self, tree: Any) -> Any:
        """State or parameters: the leading model axis split over "models"."""
        return self._put(tree, lambda ndim: P("models") if ndim else P())

    def chunk(self, examples: Any) -> Any:
        """A training chunk, arrays of models x steps x rows x ...: rows split over "data"."""
        return self._put(examples, lambda ndim: P("models", None, "data") if ndim >= 4 else P("models"))

    def batch(self, example: Any) -> Any:
        """An evaluation batch, arrays of rows x ... shared by every model: rows split over "data"."""
        return self._put(example, lambda ndim: P("data") if ndim >= 2 else P())


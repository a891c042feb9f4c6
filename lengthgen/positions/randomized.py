"""Randomized positional encodings (Ruoss et al. 2023): the base scheme, fed a sorted
random subset of [0, max_len) as positions, at training and at test time."""

from __future__ import annotations

import dataclasses

from lengthgen.positions.absolute import LEARNED, SINUSOIDAL
from lengthgen.positions.base import PositionSpec, randomized_positions
from lengthgen.positions.rotary import ROPE, RopeOptions


@dataclasses.dataclass(frozen=True)
class RandomizedOptions:
    max_len: int = 2048


@dataclasses.dataclass(frozen=True)
class RandomizedRopeOptions(RopeOptions):
    max_len: int = 2048


def randomized(base: PositionSpec, options: type = RandomizedOptions) -> PositionSpec:
    """The randomized variant of `base`: same module, positions drawn by `randomized_positions`."""
    return dataclasses.replace(
        base,
        name=f"randomized_{base.name}",
        description=f"{base.name} at a sorted random subset of [0, max_len) per batch",
        paper="Ruoss et al. 2023",
        Options=options,
        sampler=randomized_positions,
        table_size=lambda o: o.max_len,
    )


RANDOMIZED_SINUSOIDAL = randomized(SINUSOIDAL)
RANDOMIZED_LEARNED = randomized(LEARNED)
RANDOMIZED_ROPE = randomized(ROPE, RandomizedRopeOptions)

"""Random front padding (Tao et al. 2023) for absolute schemes.

At training time all positions of a batch are shifted by one offset drawn
uniformly from [0, max_offset], as if that many padding tokens preceded the
sequence, so the vectors of positions beyond the training length get updates;
at test time the offset is 0. To cover every test position, choose
max_offset >= (longest test sequence - longest training sequence) in slots.
"""

from __future__ import annotations

import dataclasses

from lengthgen.positions.absolute import LEARNED, SINUSOIDAL
from lengthgen.positions.base import PositionSpec, at_least, extend_options, offset_positions


def padded(base: PositionSpec, name: str, max_offset: int = 32) -> PositionSpec:
    """`base` with Tao et al.'s random training-time offset."""
    options = extend_options(base.Options, f"Padded{base.Options.__name__}", {"max_offset": at_least(0)}, max_offset=max_offset)
    return dataclasses.replace(
        base, name=name, paper="Tao et al. 2023", Options=options, sampler=offset_positions,
        train_offset=lambda o: o.max_offset,
        description=f"{base.name}, positions shifted by a random offset in [0, max_offset] while training",
        formula=f"{base.formula}; p -> p + U{{0..max_offset}} (train), p (test)")


RANDOM_PADDING = padded(LEARNED, "random_padding")
RANDOM_PADDING_SINUSOIDAL = padded(SINUSOIDAL, "random_padding_sinusoidal")

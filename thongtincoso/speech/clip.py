"""A piece of mono audio in memory: the unit every speech layer hands to the next."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The pipeline works at 48 kHz, Opus's native rate; engines may return any rate and
# `dsp.resample` converts.
PIPELINE_RATE = 48_000


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray  # float32, mono, nominally within [-1.0, 1.0]
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0

    @classmethod
    def silence(cls, seconds: float, sample_rate: int = PIPELINE_RATE) -> Clip:
        return cls(np.zeros(round(seconds * sample_rate), dtype=np.float32), sample_rate)

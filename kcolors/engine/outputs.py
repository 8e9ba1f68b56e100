"""What the engine makes of one input: its outputs and their statistics (quantize.py makes
them, autok.py searches among them; both import them from here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class QuantizedOutput:
    """One k-colour version of the input: encoded bytes and their statistics."""

    k: int
    data: bytes
    media_type: str
    extension: str
    stats: dict[str, Any]


@dataclass(frozen=True)
class QuantizeReport:
    """Statistics of the input and every output, in the order of the requested k."""

    input_stats: dict[str, Any]
    outputs: list[QuantizedOutput] = field(default_factory=list)

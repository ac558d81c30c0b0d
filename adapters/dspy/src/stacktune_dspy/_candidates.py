"""Feeding DSPy's own optimizers' results in as Categorical candidates.

Run MIPROv2, BootstrapFewShot, COPRO... as usual, then hand their outputs here: the
instructions and demos they found become choices of the tuned program's space,
next to its current ones, to be combined with models, temperatures and module types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dspy

from stacktune_dspy._discovery import find_predictors, predictor_at


@dataclass
class Candidates:
    """Instruction and demo-set candidates by predictor path; ``**as_options()`` into the adapter."""

    instructions: dict[str, list[str]] = field(default_factory=dict)
    demo_sets: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def as_options(self) -> dict[str, Any]:
        return {"instructions": self.instructions, "demo_sets": self.demo_sets}


def candidates_from_programs(programs: Mapping[str, dspy.Module] | Sequence[dspy.Module]) -> Candidates:
    """Instructions and demos of optimized copies of one program, keyed by the original's paths.

    Each program's demos become a named set (the mapping's key, or ``program<i>``).
    """
    named = dict(programs) if isinstance(programs, Mapping) else {f"program{i}": p for i, p in enumerate(programs)}
    found = Candidates()
    for label, program in named.items():
        if not isinstance(program, dspy.Module):
            raise TypeError(f"candidate {label!r} is a {type(program).__name__}, not a dspy.Module")
        for info in find_predictors(program):
            predictor = predictor_at(program, info)
            texts = found.instructions.setdefault(info.path, [])
            if predictor.signature.instructions not in texts:
                texts.append(predictor.signature.instructions)
            if predictor.demos:
                found.demo_sets.setdefault(info.path, {})[str(label)] = list(predictor.demos)
    return found


__all__ = ["Candidates", "candidates_from_programs"]

"""Configurations in words: what people read in reports, tables and optuna-dashboard.

A configuration holds choice *keys* (``Classify the sentiment o…#24abfe18``), because Optuna
stores primitives only. People want the text behind the key. The study keeps its space in
the study user attribute ``stacktune:space``, choices' values included, so a stored study
can be read in words without the program that produced it: :class:`ReadableSpace` does that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from stacktune.space import Space
from stacktune.texts import stored_text

#: Characters of one value in a one-line configuration (tables, the dashboard's ``configuration``).
VALUE_CHARS = 60
#: Characters of the whole one-line configuration.
LINE_CHARS = 600


class ReadableSpace:
    """Turns configurations into words with a stored space (the JSON form of a :class:`Space`).

    Works with no space at all (a study of another tool): values are then shown as stored.
    """

    def __init__(self, stored: Mapping[str, Any] | None = None) -> None:
        variables = stored.get("variables", []) if isinstance(stored, Mapping) else []
        self._variables: dict[str, Mapping[str, Any]] = {
            v["name"]: v for v in variables if isinstance(v, Mapping) and "name" in v
        }

    @classmethod
    def of(cls, space: Space) -> ReadableSpace:
        """From a live space (what a running study has)."""
        return cls(json.loads(space.to_json()))

    def description(self, name: str) -> str:
        """The variable's description, or "" when it has none."""
        variable = self._variables.get(name, {})
        return str(variable.get("description") or "")

    def label(self, name: str) -> str:
        """The variable's name with its description, for a chart's axis or a table's row."""
        description = self.description(name)
        return f"{name}: {description}" if description else name

    def value(self, name: str, value: object) -> str:
        """The whole text behind one value: a choice's text or object, a number shortly written."""
        if isinstance(value, bool) or value is None:
            return str(value)
        if isinstance(value, float):
            return f"{value:.4g}" if math.isfinite(value) else str(value)
        variable = self._variables.get(name)
        if variable is None or variable.get("kind") != "categorical":
            return str(value)
        keys = list(variable.get("keys", []))
        values = list(variable.get("values", []))
        for key, choice in zip(keys, values, strict=False):
            if key == value and type(key) is type(value):
                return _choice_text(key, choice)
        return str(value)

    def short(self, name: str, value: object, limit: int = VALUE_CHARS) -> str:
        """One value in at most ``limit`` characters, on one line."""
        return stored_text(self.value(name, value), limit)

    def configuration(self, configuration: Mapping[str, object]) -> dict[str, str]:
        """Every value of a configuration in words (whole texts), in the configuration's order."""
        return {name: self.value(name, value) for name, value in configuration.items()}

    def line(self, configuration: Mapping[str, object], limit: int = VALUE_CHARS) -> str:
        """A configuration on one line: ``name=value · name=value``, each value shortened."""
        text = " · ".join(f"{name}={self.short(name, value, limit)}" for name, value in configuration.items())
        return stored_text(text, LINE_CHARS)


def _choice_text(key: object, choice: object) -> str:
    """A choice as people read it: a text as is, other JSON (demo sets) compactly, anything else by its key.

    A number, a bool or an opaque object behind a key says less than the key the adapter gave it
    (``shuffle-1@aac938df`` for a seed 1).
    """
    if isinstance(choice, str):
        return choice
    if isinstance(choice, (list, dict)) and not (isinstance(choice, dict) and "$opaque" in choice):
        return json.dumps(choice, ensure_ascii=False)
    return str(key)


__all__ = ["LINE_CHARS", "VALUE_CHARS", "ReadableSpace"]

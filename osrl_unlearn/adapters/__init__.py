"""One thin adapter per OSRL algorithm: how to build it, train it, and where its parts are."""

from __future__ import annotations

from types import ModuleType

from osrl_unlearn.errors import UserInputError

ALGORITHMS = ("bcql", "bearl", "cpq", "coptidice")


def get_adapter(algorithm: str) -> ModuleType:
    """The adapter module of an OSRL algorithm, by OSRL's lower-case name."""
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS:
        raise UserInputError(f"unknown algorithm {algorithm!r}; supported: {', '.join(ALGORITHMS)}")
    from importlib import import_module

    return import_module(f"osrl_unlearn.adapters.{algorithm}")


def adapter_for_config(config: dict) -> ModuleType:
    """The adapter of a saved run, from the algorithm prefix OSRL puts in its config."""
    prefix = str(config.get("prefix") or "").lower()
    for algorithm in ALGORITHMS:
        if prefix.startswith(algorithm):
            return get_adapter(algorithm)
    raise UserInputError(
        f"cannot tell the algorithm of this run from its config prefix {prefix!r}; "
        f"supported: {', '.join(ALGORITHMS)}"
    )

"""Boundary entries of prodint.checks: every validator's own arguments under hostile values.

Each valid call passes (the value is valid, and ``argument`` names the parameter that holds
it), so a mutation of the value must be refused in the message form the module promises, and
a mutation of a bound, a kind or a name must be refused naming that parameter, or give a
correct result. Estimates (``nbytes``, ``count``) are reals.
"""

from __future__ import annotations

import torch

from prodint.checks import (
    FLOATING,
    check_bool,
    check_choice,
    check_count,
    check_float,
    check_int,
    check_memory,
    check_same_device,
    check_tensor,
    format_bytes,
    memory_limit,
)
from prodint.testing.contract import Entry


def _x() -> torch.Tensor:
    return torch.randn(2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


ENTRIES = [
    Entry(("prodint.checks.check_int",), lambda a: check_int(**a),
          lambda: dict(value=5, argument="value", minimum=1, maximum=10),
          free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_float",), lambda a: check_float(**a),
          lambda: dict(value=0.5, argument="value", minimum=0.0, maximum=1.0,
                       strict_minimum=True, strict_maximum=False, finite=True),
          free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_bool",), lambda a: check_bool(**a),
          lambda: dict(value=True, argument="value"), free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_choice",), lambda a: check_choice(**a),
          lambda: dict(value="mean", argument="value", choices=("mean", "sum")),
          free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_tensor",), lambda a: check_tensor(**a),
          lambda: dict(value=_x(), argument="value", rank=2, layout="[B, D]",
                       dtypes=FLOATING),
          free_text=frozenset({"argument", "layout"})),
    Entry(("prodint.checks.check_tensor",), lambda a: check_tensor(**a),
          lambda: dict(value=_x(), argument="value", shape=[2, None], like=_x()),
          free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_same_device",), lambda a: check_same_device(**a),
          lambda: dict(x=_x(), y=_x())),
    Entry(("prodint.checks.format_bytes",), lambda a: format_bytes(**a),
          lambda: dict(count=3.5e6)),
    Entry(("prodint.checks.memory_limit",), lambda a: memory_limit(), dict),
    Entry(("prodint.checks.check_memory",), lambda a: check_memory(**a),
          lambda: dict(nbytes=1024.0, argument="nbytes", what="table", limit=1 << 20),
          free_text=frozenset({"argument", "what"})),
    Entry(("prodint.checks.check_count",), lambda a: check_count(**a),
          lambda: dict(count=10.0, argument="count", what="interactions", limit=100),
          free_text=frozenset({"argument", "what"})),
]

EXEMPT = {"prodint.checks.FLOATING": "a constant: the default floating dtypes"}

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
    check_callable,
    check_choice,
    check_count,
    check_device,
    check_dtype,
    check_features,
    check_float,
    check_generator,
    check_instance,
    check_int,
    check_layer_input,
    check_layer_options,
    check_memory,
    check_name,
    check_names,
    check_parameter_memory,
    check_same_device,
    check_seed,
    check_tensor,
    describe,
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

ENTRIES += [
    Entry(("prodint.checks.check_callable",), lambda a: check_callable(**a),
          lambda: dict(value=len, argument="value", optional=False),
          free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_instance",), lambda a: check_instance(**a),
          lambda: dict(value=3, argument="value", kind=int, optional=True, name="count"),
          free_text=frozenset({"argument", "name"})),
    Entry(("prodint.checks.check_device",), lambda a: check_device(**a),
          lambda: dict(value="cpu", argument="value", optional=False),
          free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_dtype",), lambda a: check_dtype(**a),
          lambda: dict(value=torch.float32, argument="value", dtypes=FLOATING, optional=True),
          free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_generator",), lambda a: check_generator(**a),
          lambda: dict(value=torch.Generator(), argument="value"),
          free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_seed",), lambda a: check_seed(**a),
          lambda: dict(value=7, argument="value"), free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_name",), lambda a: check_name(**a),
          lambda: dict(value="heads", argument="value"), free_text=frozenset({"argument"})),
    Entry(("prodint.checks.check_names",), lambda a: check_names(**a),
          lambda: dict(value=["t", "c"], argument="value", single=False, empty=False),
          free_text=frozenset({"argument"})),
    Entry(("prodint.checks.describe",), lambda a: describe(**a), lambda: dict(value=_x())),
]

ENTRIES += [
    Entry(("prodint.checks.check_layer_options",), lambda a: check_layer_options(**a),
          lambda: dict(device="cpu", dtype=torch.float64, generator=torch.Generator())),
    Entry(("prodint.checks.check_parameter_memory",), lambda a: check_parameter_memory(**a),
          lambda: dict(count=100, argument="count", dtype=torch.float32, tables=10,
                       what="the weights"),
          free_text=frozenset({"argument", "what"})),
    Entry(("prodint.checks.check_layer_input",), lambda a: check_layer_input(**a),
          lambda: dict(x=_x(), argument="x", like=_x(), rank=2, layout="[B, D]"),
          free_text=frozenset({"argument", "layout"})),
    Entry(("prodint.checks.check_features",), lambda a: check_features(**a),
          lambda: dict(x=_x(), features=3, like=_x(), argument="x", name="in_features"),
          free_text=frozenset({"argument", "name"})),
]

EXEMPT = {"prodint.checks.FLOATING": "a constant: the default floating dtypes"}

"""Boundary entries of prodint.testing: the property checks and the contract checkers under
hostile arguments.

The functions under test are chosen so that the property holds for every mutated input
(a linear map of any shape, a map both invariant and equivariant), so that the only way to
fail is a refused argument. The contract checkers run on a tiny valid call of their own.
"""

from __future__ import annotations

from typing import Any

import torch

from prodint.checks import check_int
from prodint.groups import cyclic, regular, so3_vector
from prodint.testing import (
    Entry,
    Mutation,
    Violation,
    assert_bilinear,
    assert_contract,
    assert_equivariant,
    assert_linear,
    check_contract,
    check_mutation,
    count_cases,
    default_tolerance,
    mutations,
)

F64 = torch.float64


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(1)


def _scale(t: torch.Tensor) -> torch.Tensor:
    return 3.0 * t


def _sum_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.sum() * b.sum()


def _symmetric(t: torch.Tensor) -> torch.Tensor:
    """The mean of the last dim in every entry: invariant and equivariant under every
    permutation of the last dim."""
    return t.mean(-1, keepdim=True).expand(t.shape)


def _norm(t: torch.Tensor) -> torch.Tensor:
    return t.norm(dim=-1, keepdim=True)


def _roll(g: str, t: torch.Tensor) -> torch.Tensor:
    """The cyclic shift of the last dim (a 0-dim tensor has none: every shift fixes it)."""
    return t.roll({"identity": 0, "shift": 1}[g], -1) if t.dim() else t


def _tiny_run(a: dict[str, Any]) -> int:
    return check_int(a["n"], "n", minimum=1)


def _tiny_arguments() -> dict[str, Any]:
    return {"n": 2}


def _labels(found: list[Any]) -> list[str]:
    return [str(v) for v in found]


_C3 = regular(cyclic(3))

ENTRIES = [
    Entry(("prodint.testing.assert_linear",), lambda a: assert_linear(**a),
          lambda: dict(fn=_scale, x=_randn(3, 4), atol=1e-3, rtol=1e-3,
                       generator=_generator())),
    Entry(("prodint.testing.assert_bilinear",), lambda a: assert_bilinear(**a),
          lambda: dict(fn=_sum_product, x=_randn(3, 4), y=_randn(2, 5, seed=1), atol=1e-3,
                       rtol=1e-3, generator=_generator())),
    Entry(("prodint.testing.assert_equivariant",), lambda a: assert_equivariant(**a),
          lambda: dict(fn=_symmetric, args=_randn(2, 3), rep_in=_C3, rep_out=_C3,
                       elements=[0, 2], n_samples=3, atol=1e-9, rtol=1e-9,
                       generator=_generator())),
    Entry(("prodint.testing.assert_equivariant",), lambda a: assert_equivariant(**a),
          lambda: dict(fn=_norm, args=(_randn(4, 3),), rep_in=so3_vector(), n_samples=3,
                       generator=_generator())),
    Entry(("prodint.testing.assert_equivariant",), lambda a: assert_equivariant(**a),
          lambda: dict(fn=_symmetric, args=_randn(2, 3), actions_in=_roll, action_out=_roll,
                       elements=("identity", "shift"))),
    Entry(("prodint.testing.default_tolerance",), lambda a: default_tolerance(**a),
          lambda: dict(dtype=torch.float32)),
    Entry(("prodint.testing.Entry",), lambda a: Entry(**a).id,
          lambda: dict(names=("prodint.checks.check_int",), run=_tiny_run,
                       arguments=_tiny_arguments, fixed=frozenset(), free_text=frozenset(),
                       aliases={"n": ("count",)})),
    Entry(("prodint.testing.Violation",), lambda a: str(Violation(**a)),
          lambda: dict(argument="n", label="2.5", problem="accepted"),
          free_text=frozenset({"argument", "label", "problem"})),
    Entry(("prodint.testing.Mutation",), lambda a: Mutation(**a).make(2),
          lambda: dict(label="twice", make=lambda v: 2 * v, must_raise=True, finite_input=False,
                       reference=None), free_text=frozenset({"label"})),
    # any object is a valid value: a tensor's own mutations are all valid values too
    Entry(("prodint.testing.mutations",), lambda a: [m.label for m in mutations(**a)],
          lambda: dict(value=_randn(2, 3), tensors=2, free_text=False)),
    Entry(("prodint.testing.count_cases",), lambda a: count_cases(**a),
          lambda: dict(arguments=_tiny_arguments, fixed=(), free_text=())),
    Entry(("prodint.testing.check_contract",), lambda a: _labels(check_contract(**a)),
          lambda: dict(run=_tiny_run, arguments=_tiny_arguments, fixed=(), free_text=(),
                       aliases={"n": ["count"]}, timeout=5.0, memory=1 << 30)),
    Entry(("prodint.testing.assert_contract",), lambda a: assert_contract(**a),
          lambda: dict(run=_tiny_run, arguments=_tiny_arguments, name="check_int"),
          free_text=frozenset({"name"})),
    Entry(("prodint.testing.check_mutation",), lambda a: check_mutation(**a),
          lambda: dict(run=_tiny_run, arguments=_tiny_arguments(), argument="n",
                       mutation=Mutation("2.5", lambda v: 2.5, must_raise=True),
                       aliases=("count",), timeout=5.0, memory=1 << 30, valid_finite=True),
          free_text=frozenset({"argument"})),
]

EXEMPT = {
    "prodint.testing.TOLERANCES": "a constant: the default tolerance per dtype",
    "prodint.testing.Action": "a type alias of the action callables",
}

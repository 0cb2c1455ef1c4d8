"""Suite ``symmetry``: the equivariant tensor product against e3nn, and the TFN convolution.

- ``tp 16x0e+16x1o batch=1024``: prodint's fully connected
  :class:`~prodint.symmetry.tensor_product.TensorProduct` for ``16x0e+16x1o ⊗ 16x0e+16x1o →
  16x0e+16x1o`` (4 paths, 16,384 weights) against ``e3nn.o3.FullyConnectedTensorProduct``
  (``e3nn``, the baseline) with the same weights, float32, forward and forward+backward (input
  and weight gradients). Target: ratio ≤ 1 for both. ``naive`` (the dense-structure-constant
  einsum reference) is timed alongside for scale. ``--quick`` uses batch 256.
- ``tfn conv``: one :class:`~prodint.symmetry.tfn.PointConvolution` layer
  (``8x0e+4x1o+2x2e → 8x0e+4x1o+2x2e``, harmonics up to ``l = 2``) on 64 clouds of 16
  points (radius graph inside each cloud); no baseline of another library.

e3nn is imported here only, as the reference implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from prodint.bench.harness import Case
from prodint.symmetry.tensor_product import TensorProduct
from prodint.symmetry.tfn import PointConvolution

IRREPS = "16x0e+16x1o"


def _timed(fn: Callable[[], Tensor], leaves: list[Tensor], params: list[nn.Parameter]
           ) -> tuple[Callable[[], Tensor], Callable[[], None]]:
    def forward() -> Tensor:
        with torch.no_grad():
            return fn()

    def forward_backward() -> None:
        for t in [*leaves, *params]:
            t.grad = None
        fn().sum().backward()

    return forward, forward_backward


def tensor_product_cases(batch: int, device: str, naive: bool = True) -> Iterator[Case]:
    """prodint vs e3nn (and the naive reference) on the same inputs and weights."""
    from e3nn import o3

    gen = torch.Generator().manual_seed(0)
    ours = TensorProduct(IRREPS, IRREPS, IRREPS).to(device)
    theirs = o3.FullyConnectedTensorProduct(IRREPS, IRREPS, IRREPS).to(device)
    with torch.no_grad():
        theirs.weight.copy_(ours.weight)
    x = torch.randn(batch, ours.irreps1.dim, generator=gen).to(device).requires_grad_()
    y = torch.randn(batch, ours.irreps2.dim, generator=gen).to(device).requires_grad_()
    params = {"irreps": IRREPS, "batch": batch, "paths": len(ours.paths),
              "weights": ours.weight.numel(), "device": device, "dtype": "float32"}
    name = f"tp {IRREPS} batch={batch}"
    impls = [("e3nn", lambda: theirs(x, y), [theirs.weight]),
             ("prodint", lambda: ours(x, y), [ours.weight])]
    if naive:
        impls.append(("naive", lambda: ours.naive(x, y), [ours.weight]))
    for impl, fn, weights in impls:
        forward, forward_backward = _timed(fn, [x, y], weights)
        yield Case(name, impl, params, forward, forward_backward, baseline="e3nn")


def tfn_cases(clouds: int, points: int, device: str) -> Iterator[Case]:
    """One TFN convolution layer on ``clouds`` random clouds of ``points`` points."""
    gen = torch.Generator().manual_seed(1)
    irreps = "8x0e+4x1o+2x2e"
    conv = PointConvolution(irreps, irreps, lmax=2, r_max=1.5, avg_neighbors=points).to(device)
    pos = (torch.randn(clouds * points, 3, generator=gen)).to(device)
    batch = torch.arange(clouds).repeat_interleave(points).to(device)
    x = torch.randn(clouds * points, conv.irreps_in.dim, generator=gen).to(device)
    x.requires_grad_()
    forward, forward_backward = _timed(lambda: conv(x, pos, batch=batch), [x],
                                       list(conv.parameters()))
    yield Case(f"tfn conv {clouds}x{points} points", "prodint",
               {"irreps": irreps, "clouds": clouds, "points": points, "device": device},
               forward, forward_backward, baseline="prodint")


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    yield from tensor_product_cases(256 if quick else 1024, device)
    yield from tfn_cases(16 if quick else 64, 16, device)

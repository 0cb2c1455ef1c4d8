"""Suite ``symmetry``: the equivariant tensor product against e3nn, and the TFN convolution.

- ``tp 16x0e+16x1o batch=1024``: prodint's fully connected
  :class:`~prodint.symmetry.tensor_product.TensorProduct` for ``16x0e+16x1o ⊗ 16x0e+16x1o →
  16x0e+16x1o`` (4 paths, 16,384 weights) against ``e3nn.o3.FullyConnectedTensorProduct``
  (``e3nn``, the baseline) with the same weights, float32, forward and forward+backward (input
  and weight gradients). Target: ratio ≤ 1 for both. ``oracle`` (the dense-structure-constant
  einsum reference) is timed alongside for scale. ``--quick`` uses batch 256.
- ``tfn conv``: one :class:`~prodint.symmetry.tfn.PointConvolution` layer
  (``8x0e+4x1o+2x2e → 8x0e+4x1o+2x2e``, harmonics up to ``l = 2``) on 64 clouds of 16
  points (radius graph inside each cloud); no baseline of another library.

e3nn is imported here only, as the reference implementation.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from prodint.bench.harness import Case, timed_case
from prodint.symmetry.tensor_product import TensorProduct
from prodint.symmetry.tfn import PointConvolution

IRREPS = "16x0e+16x1o"


def tensor_product_cases(batch: int, device: str, oracle: bool = True) -> Iterator[Case]:
    """prodint vs e3nn (and the layer's dense oracle) on the same inputs and weights."""
    from e3nn import o3

    gen = torch.Generator().manual_seed(0)
    ours = TensorProduct(IRREPS, IRREPS, IRREPS).to(device)
    theirs = o3.FullyConnectedTensorProduct(IRREPS, IRREPS, IRREPS).to(device)
    with torch.no_grad():
        theirs.weight.copy_(ours.params["W"])
    x = torch.randn(batch, ours.irreps1.dim, generator=gen).to(device).requires_grad_()
    y = torch.randn(batch, ours.irreps2.dim, generator=gen).to(device).requires_grad_()
    params = {"irreps": IRREPS, "batch": batch, "paths": len(ours.paths),
              "weights": ours.params["W"].numel(), "device": device, "dtype": "float32"}
    name = f"tp {IRREPS} batch={batch}"
    impls = [("e3nn", lambda: theirs(x, y), [theirs.weight]),
             ("prodint", lambda: ours(x, y), [ours.params["W"]])]
    if oracle:
        impls.append(("oracle", lambda: ours.oracle(x, y), [ours.params["W"]]))
    for impl, fn, weights in impls:
        yield timed_case(name, impl, params, fn, [x, y, *weights], baseline="e3nn")


def tfn_cases(clouds: int, points: int, device: str) -> Iterator[Case]:
    """One TFN convolution layer on ``clouds`` random clouds of ``points`` points."""
    gen = torch.Generator().manual_seed(1)
    irreps = "8x0e+4x1o+2x2e"
    conv = PointConvolution(irreps, irreps, lmax=2, r_max=1.5, avg_neighbors=points).to(device)
    pos = (torch.randn(clouds * points, 3, generator=gen)).to(device)
    batch = torch.arange(clouds).repeat_interleave(points).to(device)
    x = torch.randn(clouds * points, conv.irreps_in.dim, generator=gen).to(device)
    x.requires_grad_()
    yield timed_case(f"tfn conv {clouds}x{points} points", "prodint",
                     {"irreps": irreps, "clouds": clouds, "points": points, "device": device},
                     lambda: conv(x, pos, batch=batch), [x, *conv.parameters()],
                     baseline="prodint")


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    yield from tensor_product_cases(256 if quick else 1024, device)
    yield from tfn_cases(16 if quick else 64, 16, device)

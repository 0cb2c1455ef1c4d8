"""Suite ``zoo_equivariant``: Clifford and group-equivariant layers against real layers.

Every problem compares the prodint layer (``prodint``) with a plain torch layer of the same
real size (the baseline):

- Clifford linear in ``Cl(2,0)`` / ``Cl(3,0)`` against ``nn.Linear(C_in·n, C_out·n)``
  (``real_linear``) and ``cliffordlayers``' ``CliffordLinear`` (``cliffordlayers``, when it
  is installed). Target: ratio ≤ 1.25.
- Clifford 2-D convolution in ``Cl(2,0)`` against ``F.conv2d`` with ``C_in·n → C_out·n``
  channels (``real_conv``) and ``cliffordlayers``' ``CliffordConv2d``. Target ≤ 1.25.
- p4 / p4m group convolution (``C4``, ``D4``) against ``F.conv2d`` with ``C·|G| → O·|G|``
  channels (``real_conv``), and the layer's per-element loop (``oracle``, |G| convolutions).
  Target: about plain-convolution speed.

Forward runs under ``no_grad``; forward+backward differentiates the input and every
parameter. The prodint layers rebuild their folded weight inside every call, so its cost is
part of what is measured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from prodint.bench.harness import Case, timed_case
from prodint.zoo.clifford import CliffordConv2d, CliffordLinear
from prodint.zoo.group_conv import GroupConv2d, LiftingConv2d


def _peer(name: str) -> Callable[..., nn.Module] | None:
    """A ``cliffordlayers`` layer class, or ``None`` when the peer is not installed."""
    try:
        if name == "linear":
            from cliffordlayers.nn.modules.cliffordlinear import CliffordLinear as Peer
        else:
            from cliffordlayers.nn.modules.cliffordconv import CliffordConv2d as Peer
    except ImportError:
        return None
    return Peer


def _cases(name: str, params: dict, impls: dict[str, tuple[Callable[[Tensor], Tensor],
                                                            Tensor, nn.Module]],
           baseline: str) -> Iterator[Case]:
    for impl, (fn, x, module) in impls.items():
        yield timed_case(name, impl, params, lambda fn=fn, x=x: fn(x),
                         [x, *module.parameters()], baseline)


def _input(shape: tuple[int, ...], device: str, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen).to(device).requires_grad_()


def clifford_linear_cases(quick: bool, device: str) -> Iterator[Case]:
    """CliffordLinear vs nn.Linear of the same real size vs cliffordlayers."""
    batch = 1024 if quick else 4096
    for g, channels in (((1, 1), 64), ((1, 1, 1), 64)):
        n = 2 ** len(g)
        torch.manual_seed(0)
        layer = CliffordLinear(g, channels, channels).to(device)
        real = nn.Linear(channels * n, channels * n).to(device)
        x = _input((batch, channels, n), device, 1)
        x_real = _input((batch, channels * n), device, 1)
        impls = {"real_linear": (real, x_real, real), "prodint": (layer, x, layer)}
        peer_cls = _peer("linear")
        if peer_cls is not None:
            peer = peer_cls(g, channels, channels).to(device)
            impls["cliffordlayers"] = (peer, x, peer)
        params = {"signature": list(g), "batch": batch, "channels": channels, "blades": n,
                  "real_features": channels * n, "device": device}
        name = f"clifford_linear {layer.algebra.name} b={batch} c={channels}"
        yield from _cases(name, params, impls, "real_linear")


def clifford_conv_cases(quick: bool, device: str) -> Iterator[Case]:
    """CliffordConv2d vs F.conv2d of the same real size vs cliffordlayers."""
    batch, size = (4, 32) if quick else (8, 64)
    g, channels, k = (1, 1), 16, 3
    n = 2 ** len(g)
    torch.manual_seed(0)
    layer = CliffordConv2d(g, channels, channels, kernel_size=k, padding=1).to(device)
    real = nn.Conv2d(channels * n, channels * n, k, padding=1).to(device)
    x = _input((batch, channels, size, size, n), device, 2)
    x_real = _input((batch, channels * n, size, size), device, 2)
    impls = {"real_conv": (real, x_real, real), "prodint": (layer, x, layer)}
    peer_cls = _peer("conv2d")
    if peer_cls is not None:
        peer = peer_cls(g, channels, channels, kernel_size=k, padding=1).to(device)
        impls["cliffordlayers"] = (peer, x, peer)
    params = {"signature": list(g), "batch": batch, "size": size, "channels": channels,
              "blades": n, "kernel": k, "device": device}
    name = f"clifford_conv2d {layer.algebra.name} b={batch} {size}x{size} c={channels}"
    yield from _cases(name, params, impls, "real_conv")


def group_conv_cases(quick: bool, device: str) -> Iterator[Case]:
    """C4 / D4 lifting and group convolutions vs F.conv2d with the same real channels."""
    batch, size = (4, 32) if quick else (8, 64)
    k = 3
    for group_name, fields in (("C4", 16), ("D4", 8)):
        torch.manual_seed(0)
        for kind in ("lifting", "group"):
            order = 4 if group_name == "C4" else 8
            c_in = 3 if kind == "lifting" else fields
            layer: nn.Module
            if kind == "lifting":
                layer = LiftingConv2d(group_name, c_in, fields, k, padding=1).to(device)
                x = _input((batch, c_in, size, size), device, 3)
                real_in = c_in
            else:
                layer = GroupConv2d(group_name, c_in, fields, k, padding=1).to(device)
                x = _input((batch, c_in, order, size, size), device, 3)
                real_in = c_in * order
            real = nn.Conv2d(real_in, fields * order, k, padding=1).to(device)
            x_real = _input((batch, real_in, size, size), device, 3)
            impls = {"real_conv": (real, x_real, real), "prodint": (layer, x, layer),
                     "oracle": (layer.oracle, x, layer)}
            params = {"group": group_name, "kind": kind, "batch": batch, "size": size,
                      "in_channels": c_in, "out_fields": fields,
                      "real_in": real_in, "real_out": fields * order, "kernel": k,
                      "device": device}
            yield from _cases(f"{kind}_conv2d {group_name} b={batch} {size}x{size} "
                              f"{real_in}->{fields * order}", params, impls, "real_conv")


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    """Every problem of the suite (see the module doc)."""
    yield from clifford_linear_cases(quick, device)
    yield from clifford_conv_cases(quick, device)
    yield from group_conv_cases(quick, device)

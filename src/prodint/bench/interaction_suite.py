"""Suite ``interaction``: compiled expressions against the same computation in plain torch.

For the dense layer, a 1-D convolution, GLU and linear attention, at a small size (where
per-call overhead dominates) and a large one, the suite times the compiled module
(``compiled``) against a hand-written torch function using the module's own weights
(``torch``, the baseline). Records carry ``overhead_us``: the compiled module's extra time per
call in microseconds (target < 30 on small inputs); the ratio target is ≤ 1.15.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.bench.harness import Case, Record, timed_case
from prodint.interaction import InteractionLayer, compile, library

Hand = Callable[[InteractionLayer, Tensor], Tensor]


def _dense(m: InteractionLayer, x: Tensor) -> Tensor:
    return F.linear(x, m.params["W"].T, m.params["b"])


def _conv(m: InteractionLayer, x: Tensor) -> Tensor:
    weight = m.params["W"].permute(2, 1, 0)  # [k, c, o] -> [o, c, k]
    return F.conv1d(x.transpose(1, 2), weight, padding=1).transpose(1, 2)


def _glu(m: InteractionLayer, x: Tensor) -> Tensor:
    return (x @ m.params["W1"]) * torch.sigmoid(x @ m.params["W2"])


def _linear_attention(m: InteractionLayer, x: Tensor) -> Tensor:
    q, k, v = (x @ m.params[n] for n in ("Wq", "Wk", "Wv"))
    return q @ (k.transpose(-1, -2) @ v)


def problems(quick: bool) -> Iterator[tuple[str, InteractionLayer, Hand, tuple[int, ...]]]:
    """``(name, module, hand-written torch, input shape)`` for every measured problem."""
    sizes = {"small": (1, 8, 16), "large": (4, 256, 128) if quick else (8, 1024, 256)}
    for size, (b, t, c) in sizes.items():
        gen = torch.Generator().manual_seed(0)
        yield (f"dense {size}", compile(library.dense(c, c), generator=gen), _dense, (b, t, c))
        yield (f"conv1d k=3 {size}", compile(library.conv1d(c, c, 3, padding=1), generator=gen),
               _conv, (b, t, c))
        yield (f"glu {size}", compile(library.glu(c, 2 * c), generator=gen), _glu, (b, t, c))
        yield (f"linear_attention {size}",
               compile(library.linear_attention(c, c // 2, c // 2), generator=gen),
               _linear_attention, (b, t, c))


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    """The compiled module and the hand-written baseline for every problem."""
    for name, module, hand, shape in problems(quick):
        module = module.to(device)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(device)
        x.requires_grad_()
        params = {"batch": shape[0], "length": shape[1], "channels": shape[2],
                  "order": module.self_interaction_order, "device": device}
        impls: dict[str, Callable[[Tensor], Tensor]] = {
            "torch": lambda x, m=module, h=hand: h(m, x),
            "compiled": module,
        }
        leaves = [x, *module.parameters()]
        for impl, fn in impls.items():
            yield timed_case(name, impl, params, lambda fn=fn, x=x: fn(x), leaves,
                             baseline="torch")


def annotate(records: list[Record]) -> None:
    """Add ``overhead_us``: compiled minus torch time per call, in microseconds."""
    base = {r.name: r for r in records if r.impl == "torch"}
    for r in records:
        if r.impl == "compiled" and r.name in base:
            r.extra["overhead_us"] = round((r.fwd_ms - base[r.name].fwd_ms) * 1e3, 2)
            if r.fwd_bwd_ms is not None and base[r.name].fwd_bwd_ms is not None:
                r.extra["overhead_fwd_bwd_us"] = round(
                    (r.fwd_bwd_ms - base[r.name].fwd_bwd_ms) * 1e3, 2)

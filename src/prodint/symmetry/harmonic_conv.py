"""Harmonic convolution: rotation-equivariant image filters from circular harmonics.

Feature maps are ``[B, dim, H, W]`` with the channels typed by a
:class:`~prodint.symmetry.so2.CircularIrreps` layout: a field of rotation order ``m`` has
``dim_m`` channels that rotate by ``D_m(θ)`` when the image turns by ``θ``:
``(g · f)(p) = D(θ) f(R_θ⁻¹ p)``. The layer is a cross-correlation
``y(p) = Σ_q K(q) f(p + q)`` whose filter satisfies ``K(R_θ q) = D_out(θ) K(q) D_in(θ)⁻¹``,
which makes it equivariant. Writing the tap ``q`` in polar form ``(|q|, φ)``, such filters are

    K(q)[(w, c), (u, a)] = Σ_{k, t} R[w, u, k, t](|q|) Σ_b B_{k,t}[b, a, c] h_k(φ)_b

with ``h_k`` the circular harmonics, ``B_{k,t}`` the solver's basis of equivariant bilinear
maps ``V_k × V_{m_in} → V_{m_out}`` (:func:`~prodint.symmetry.so2.so2_bilinear_basis`) and
``R`` learned radial profiles, one value per ring of equal ``|q|`` in the ``k × k`` window —
the harmonic-network construction, obtained as the equivariant structure constants of SO(2).
At the centre tap only ``k = 0`` survives (``h_k`` has no value at the origin for ``k > 0``).

Coordinates: tap ``(i, j)`` of the window (row ``i`` downwards, column ``j``) is the point
``q = (j − c, c − i)`` with ``c = k // 2`` (``x`` right, ``y`` up), so a turn by ``+90°`` is
``torch.rot90(·, 1, dims=(-2, -1))``. On the pixel grid, equivariance is exact for quarter
turns (which map the grid and the window onto themselves); other angles are sampled by the
grid and hold only approximately, for smooth inputs.

Fast path: :meth:`HarmonicConv2d.filter_bank` builds the ``[dim_out, dim_in, k, k]`` weight
from ``R`` with one einsum per block pair, then forward is one ``F.conv2d``.
:attr:`HarmonicConv2d.expression` is the order-1 product interaction
``Σ_{c,k0,k1} window(pad(X))[c, y, k] K[o, c, k]`` (as for a group convolution, ``K`` is the
constrained filter bank).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.interaction import Contract, Expr, Pad, Parameter, Permute, Signal, Window, evaluate
from prodint.symmetry.so2 import CircularIrreps, circular_harmonics, so2_bilinear_basis

__all__ = ["HarmonicConv2d", "rotate_fields"]


def rotate_fields(x: Tensor, irreps: CircularIrreps, quarter_turns: int) -> Tensor:
    """``g · f`` for a turn by ``quarter_turns · 90°``: rotate the grid, rotate each field.

    Args:
        x: ``[B, irreps.dim, H, W]``.
    """
    turned = torch.rot90(x, quarter_turns, dims=(-2, -1))
    d = irreps.D(quarter_turns * math.pi / 2).to(dtype=x.dtype, device=x.device)
    return torch.einsum("ij,bjhw->bihw", d, turned)


class HarmonicConv2d(nn.Module):
    """Rotation-equivariant convolution between circular-harmonic feature maps.

    Args:
        irreps_in, irreps_out: layouts such as ``"1x0"`` (a plain image) or ``"4x0 + 4x1"``.
        kernel_size: odd window size ``k``.
        max_order: largest filter harmonic ``k`` used (default: the largest needed).
        padding: zero padding on each side (default ``k // 2``: same size output).
        bias: a learned bias on the ``m = 0`` output channels.

    Attributes:
        radial: flat parameter of all radial profiles.
        expression: the order-1 product interaction (module doc).

    Shapes: ``[B, irreps_in.dim, H, W] → [B, irreps_out.dim, H', W']``.
    """

    def __init__(self, irreps_in: CircularIrreps | str, irreps_out: CircularIrreps | str,
                 kernel_size: int = 5, max_order: int | None = None,
                 padding: int | None = None, bias: bool = True) -> None:
        super().__init__()
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or \
                kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd positive int, received "
                             f"{kernel_size!r}")
        self.irreps_in, self.irreps_out = CircularIrreps(irreps_in), CircularIrreps(irreps_out)
        self.kernel_size = kernel_size
        self.padding = kernel_size // 2 if padding is None else padding
        c = kernel_size // 2
        rows, cols = torch.meshgrid(torch.arange(kernel_size), torch.arange(kernel_size),
                                    indexing="ij")
        px, py = (cols - c).double().flatten(), (c - rows).double().flatten()
        r2 = (px * px + py * py).round().long()
        _, ring = torch.unique(r2, sorted=True, return_inverse=True)
        self.n_rings = int(ring.max()) + 1
        phi = torch.atan2(py, px)
        centre = r2 == 0
        # Per block pair: the terms (k, t) and A_t[c, a, p] = Σ_b B_t[b, a, c] h_k(φ_p)_b.
        self._pairs: list[tuple[int, int, slice, int, Tensor]] = []
        start = 0
        for o, (mul_o, m_o) in enumerate(self.irreps_out):
            for i, (mul_i, m_i) in enumerate(self.irreps_in):
                orders = {abs(m_o - m_i), m_o + m_i}
                if max_order is not None:
                    orders = {k for k in orders if k <= max_order}
                terms = []
                for k in sorted(orders):
                    h = circular_harmonics(k, phi)  # [P, dim_k]
                    if k > 0:
                        h = h * (~centre)[:, None]
                    for basis in so2_bilinear_basis(k, m_i, m_o):
                        terms.append(torch.einsum("bac,pb->cap", basis, h))
                if not terms or not mul_o or not mul_i:
                    continue
                n = mul_o * mul_i * len(terms) * self.n_rings
                self._pairs.append((i, o, slice(start, start + n), len(terms),
                                    torch.stack(terms)))
                start += n
        self.radial = nn.Parameter(torch.empty(start))
        self.register_buffer("ring", ring, persistent=False)
        n_bias = sum(mul for mul, m in self.irreps_out if m == 0)
        self.bias = nn.Parameter(torch.zeros(n_bias)) if bias and n_bias else None
        self.reset_parameters()
        d_in, d_out = self.irreps_in.dim, self.irreps_out.dim
        x: Expr = Signal("X", [("c", d_in), ("y0", None), ("y1", None)])
        for axis, tap in (("y0", "k0"), ("y1", "k1")):
            if self.padding:
                x = Pad(x, axis, self.padding, self.padding)
            x = Window(x, axis, kernel_size, tap)
        bank = Parameter("K", [("o", d_out), ("c", d_in), ("k0", kernel_size),
                               ("k1", kernel_size)], fan_in=("c", "k0", "k1"))
        self.expression: Expr = Permute(Contract(x, bank, over=("c", "k0", "k1")),
                                        ("o", "y0", "y1"))

    def reset_parameters(self) -> None:
        """Radial values ``N(0, 1/fan_in)`` with ``fan_in`` the number of (input channel,
        term, ring) triples feeding an output channel."""
        with torch.no_grad():
            fan = [0] * len(self.irreps_out)
            for i, o, _, n_terms, _ in self._pairs:
                fan[o] += self.irreps_in.blocks[i][0] * n_terms * self.n_rings
            for _, o, sl, _, _ in self._pairs:
                self.radial[sl].normal_(0.0, 1.0 / math.sqrt(fan[o]))

    @property
    def self_interaction_order(self) -> int:
        return self.expression.self_interaction_order

    def filter_bank(self) -> Tensor:
        """``K``: ``[dim_out, dim_in, k, k]`` (module doc)."""
        k = self.kernel_size
        radial = self.radial
        bank = radial.new_zeros(self.irreps_out.dim, self.irreps_in.dim, k * k)
        s_in, s_out = self.irreps_in.slices(), self.irreps_out.slices()
        for i, o, sl, n_terms, terms in self._pairs:
            mul_i, mul_o = self.irreps_in.blocks[i][0], self.irreps_out.blocks[o][0]
            r = radial[sl].view(mul_o, mul_i, n_terms, self.n_rings)[..., self.ring]
            block = torch.einsum("wutp,tcap->wcuap", r,
                                 terms.to(dtype=radial.dtype, device=radial.device))
            bank[s_out[o], s_in[i]] = block.reshape(s_out[o].stop - s_out[o].start,
                                                    s_in[i].stop - s_in[i].start, k * k)
        return bank.view(self.irreps_out.dim, self.irreps_in.dim, k, k)

    def _bias(self) -> Tensor | None:
        if self.bias is None:
            return None
        full = self.bias.new_zeros(self.irreps_out.dim)
        b = 0
        for (mul, m), sl in zip(self.irreps_out, self.irreps_out.slices(), strict=True):
            if m == 0:
                full[sl] = self.bias[b:b + mul]
                b += mul
        return full

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x: expected a torch.Tensor, received {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.irreps_in.dim:
            raise ValueError(f"x: expected shape [B, {self.irreps_in.dim}, H, W] for layout "
                             f"{self.irreps_in}, received {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        """One ``F.conv2d`` with :meth:`filter_bank`."""
        self._check(x)
        bias = self._bias()
        return F.conv2d(x, self.filter_bank().to(x.dtype),
                        None if bias is None else bias.to(x.dtype), padding=self.padding)

    def expression_value(self, x: Tensor) -> Tensor:
        """:attr:`expression` evaluated node by node with ``K = filter_bank()`` (plus bias)."""
        self._check(x)
        y = evaluate(self.expression, {"X": x}, {"K": self.filter_bank().to(x.dtype)})
        bias = self._bias()
        return y if bias is None else y + bias.to(x.dtype)[:, None, None]

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} → {self.irreps_out}, kernel_size={self.kernel_size}, "
                f"padding={self.padding}")

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

The expression states the constraint: the bank ``K`` is a tie of the radial values
(a :class:`~prodint.interaction.Gather` whose weights are the fixed basis ``Σ_b B_{k,t} h_k``),
and the layer is the order-1 interaction ``Σ_{c,k0,k1} window(pad(X))[c, y, k] K[o, c, k]``
plus the ``m = 0`` biases, so the compiled expression has the layer's parameters and its
quarter-turn equivariance. Fast path: :meth:`HarmonicConv2d.filter_bank` evaluates that tie
once per call (the ``[dim_out, dim_in, k, k]`` weight), then forward is one ``F.conv2d``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.checks import (
    check_bool,
    check_int,
    check_layer_input,
    check_layer_options,
    check_parameter_memory,
    check_tensor,
)
from prodint.checks.layers import check_conv_output
from prodint.interaction import (
    Contract,
    Expr,
    Gather,
    Pad,
    Parameter,
    Permute,
    Plan,
    Signal,
    Sum,
    Window,
)
from prodint.interaction.layer import InteractionLayer
from prodint.symmetry.so2 import (
    CircularIrreps,
    as_circular_irreps,
    circular_harmonics,
    so2_bilinear_basis,
)

__all__ = ["HarmonicConv2d", "rotate_fields"]


def rotate_fields(x: Tensor, irreps: CircularIrreps, quarter_turns: int) -> Tensor:
    """``g · f`` for a turn by ``quarter_turns · 90°``: rotate the grid, rotate each field.

    Args:
        x: ``[B, irreps.dim, H, W]``.
        irreps: the layout of the channels.
        quarter_turns: any int (taken modulo 4).

    Raises:
        TypeError: ``x`` not a floating tensor, ``irreps`` not a layout, ``quarter_turns``
            not an int.
        ValueError: ``x`` not ``[B, irreps.dim, H, W]``.
    """
    if not isinstance(irreps, CircularIrreps):
        raise TypeError(f"irreps: expected a CircularIrreps, received {type(irreps).__name__}")
    check_tensor(x, "x", rank=4, layout=f"[B, {irreps.dim}, H, W]")
    if x.shape[1] != irreps.dim:
        raise ValueError(f"x: expected [B, {irreps.dim}, H, W] for layout {irreps}, received "
                         f"{tuple(x.shape)}")
    quarter_turns = check_int(quarter_turns, "quarter_turns") % 4
    turned = torch.rot90(x, quarter_turns, dims=(-2, -1))
    d = irreps.D(quarter_turns * math.pi / 2).to(dtype=x.dtype, device=x.device)
    return torch.einsum("ij,bjhw->bihw", d, turned)


def _filter_basis(irreps_in: CircularIrreps, irreps_out: CircularIrreps, kernel_size: int,
                  max_order: int | None) -> tuple[Tensor, Tensor, int]:
    """The bank as a tie of the radial values: ``(index, weight, count)``.

    ``K[(w, c), (u, a), p] = Σ_t weight · R[index]`` over the terms ``t = (k, basis element)``
    of each block pair, ``weight = A_t[c, a, p] / sqrt(fan_in(o))`` with
    ``A_t[c, a, p] = Σ_b B_t[b, a, c] h_k(φ_p)_b`` and ``index`` the radial value
    ``R[o, i][w, u, t, ring(p)]``; ``index`` and ``weight`` are ``[dim_out, dim_in, k, k, r]``
    (``r`` the largest number of terms, missing ones with weight 0) and ``count`` is the
    number of radial values.
    """
    c = kernel_size // 2
    rows, cols = torch.meshgrid(torch.arange(kernel_size), torch.arange(kernel_size),
                                indexing="ij")
    px, py = (cols - c).double().flatten(), (c - rows).double().flatten()
    r2 = (px * px + py * py).round().long()
    _, ring = torch.unique(r2, sorted=True, return_inverse=True)
    n_rings = int(ring.max()) + 1
    phi = torch.atan2(py, px)
    centre = r2 == 0
    pairs = []  # (i, o, first radial value, A [t, c, a, p])
    start = 0
    for o, (mul_o, m_o) in enumerate(irreps_out):
        for i, (mul_i, m_i) in enumerate(irreps_in):
            orders = {abs(m_o - m_i), m_o + m_i}
            if max_order is not None:
                orders = {k for k in orders if k <= max_order}
            terms = []
            for k in sorted(orders):
                h = circular_harmonics(k, phi)  # [P, dim_k]
                if k > 0:  # h_k has no value at the origin
                    h = h * (~centre)[:, None]
                for basis in so2_bilinear_basis(k, m_i, m_o):
                    terms.append(torch.einsum("bac,pb->cap", basis, h))
            if terms and mul_o and mul_i:
                pairs.append((i, o, start, torch.stack(terms)))
                start += mul_o * mul_i * len(terms) * n_rings
    fan = [0] * len(irreps_out)
    for i, o, _, a in pairs:
        fan[o] += irreps_in.blocks[i][0] * a.shape[0] * n_rings
    width = max((a.shape[0] for *_, a in pairs), default=1)
    k2 = kernel_size * kernel_size
    index = torch.zeros(irreps_out.dim, irreps_in.dim, k2, width, dtype=torch.long)
    weight = torch.zeros(irreps_out.dim, irreps_in.dim, k2, width, dtype=torch.float64)
    s_in, s_out = irreps_in.slices(), irreps_out.slices()
    for i, o, first, a in pairs:
        mul_i, mul_o = irreps_in.blocks[i][0], irreps_out.blocks[o][0]
        n_terms, dim_o, dim_i = a.shape[:3]
        w = torch.arange(mul_o).view(-1, 1, 1, 1, 1, 1)
        u = torch.arange(mul_i).view(1, 1, -1, 1, 1, 1)
        t = torch.arange(n_terms).view(1, 1, 1, 1, 1, -1)
        source = first + ((w * mul_i + u) * n_terms + t) * n_rings + ring.view(1, 1, 1, 1, -1, 1)
        values = a.permute(1, 2, 3, 0)[None, :, None] / math.sqrt(fan[o])  # [1, c, 1, a, p, t]
        shape = (mul_o, dim_o, mul_i, dim_i, k2, n_terms)
        block_out, block_in = s_out[o].stop - s_out[o].start, s_in[i].stop - s_in[i].start
        index[s_out[o], s_in[i], :, :n_terms] = source.expand(shape).reshape(
            block_out, block_in, k2, n_terms)
        weight[s_out[o], s_in[i], :, :n_terms] = values.expand(shape).reshape(
            block_out, block_in, k2, n_terms)
    shape = (irreps_out.dim, irreps_in.dim, kernel_size, kernel_size, width)
    return index.view(shape), weight.view(shape), start


def harmonic_conv_expression(irreps_in: CircularIrreps, irreps_out: CircularIrreps,
                             kernel_size: int, max_order: int | None, padding: int,
                             bias: bool) -> tuple[Expr, Gather, Gather | None]:
    """``Σ_{c,k0,k1} window(pad(X))[c, y, k] K[o, c, k] (+ b)`` with ``K = tie_bank(R)`` and
    ``b`` the bias placed at the ``m = 0`` channels (module doc), order 1. Returns the
    expression, the bank and the placed bias."""
    index, weight, count = _filter_basis(irreps_in, irreps_out, kernel_size, max_order)
    if count == 0:
        raise ValueError(f"irreps_out: no equivariant filter maps {irreps_in} to {irreps_out}"
                         f" (max_order={max_order})")
    d_in, d_out = irreps_in.dim, irreps_out.dim
    x: Expr = Signal("X", [("c", d_in), ("y0", None), ("y1", None)])
    for axis, tap in (("y0", "k0"), ("y1", "k1")):
        if padding:
            x = Pad(x, axis, padding, padding)
        x = Window(x, axis, kernel_size, tap)
    # N(0, 1): the bank's weights carry 1/sqrt(fan_in)
    radial = Parameter("R", [("r", count)])
    bank = Gather(radial, "bank", index, [("o", d_out), ("c", d_in), ("k0", kernel_size),
                                          ("k1", kernel_size)], weight=weight)
    y: Expr = Permute(Contract(x, bank, over=("c", "k0", "k1")), ("o", "y0", "y1"))
    n_bias = sum(mul for mul, m in irreps_out if m == 0) if bias else 0
    if not n_bias:
        return y, bank, None
    where = torch.zeros(d_out, dtype=torch.long)
    mask = torch.zeros(d_out, dtype=torch.float64)
    start = 0
    for (mul, m), sl in zip(irreps_out, irreps_out.slices(), strict=True):
        if m == 0:
            where[sl] = torch.arange(start, start + mul)
            mask[sl] = 1.0
            start += mul
    placed = Gather(Parameter("b", [("s", n_bias)], init="zeros"), "bias", where,
                    [("o", d_out)], weight=mask)
    return Sum(y, placed), bank, placed


class HarmonicConv2d(InteractionLayer):
    """Rotation-equivariant convolution between circular-harmonic feature maps.

    Args:
        irreps_in, irreps_out: layouts such as ``"1x0"`` (a plain image) or ``"4x0 + 4x1"``.
        kernel_size: odd window size ``k``.
        max_order: largest filter harmonic ``k`` used (default: the largest needed).
        padding: zero padding on each side (default ``k // 2``: same size output).
        bias: a learned bias on the ``m = 0`` output channels (initialised to zero).
        device, dtype, generator: as :class:`~prodint.interaction.layer.InteractionLayer`.

    Attributes:
        params.R: flat parameter of all radial profiles, ``N(0, 1)`` (the bank's tie weights
            carry ``1/sqrt(fan_in)``, ``fan_in`` the number of (input channel, term, ring)
            triples feeding an output channel).
        params.b: the ``m = 0`` biases.

    Shapes: ``[B, irreps_in.dim, H, W] → [B, irreps_out.dim, H', W']``.

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, a bad option; an
            input that is not a tensor of the layer's dtype.
        ValueError: an even or non-positive kernel size, an empty or malformed layout, no
            equivariant filter between the layouts, tables that would not fit in memory; an
            input of another shape or device, or too small a grid.
    """

    def __init__(self, irreps_in: CircularIrreps | str, irreps_out: CircularIrreps | str,
                 kernel_size: int = 5, max_order: int | None = None,
                 padding: int | None = None, bias: bool = True, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        if check_int(kernel_size, "kernel_size", minimum=1) % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd positive int, received "
                             f"{kernel_size!r}")
        self.irreps_in = as_circular_irreps(irreps_in, "irreps_in")
        self.irreps_out = as_circular_irreps(irreps_out, "irreps_out")
        if max_order is not None:
            check_int(max_order, "max_order", minimum=0)
        self.kernel_size = kernel_size
        self.padding = kernel_size // 2 if padding is None else check_int(padding, "padding",
                                                                         minimum=0)
        check_bool(bias, "bias")
        check_layer_options(device, dtype, generator)
        # the bank's tie: an index and a weight per (output, input, tap, term), at most
        # 2·(max order + 1) terms per block pair
        orders = max(m for _, m in self.irreps_out) + max(m for _, m in self.irreps_in)
        terms = 4 * (orders + 1 if max_order is None else min(orders, max_order) + 1)
        check_parameter_memory(0, "irreps_in, irreps_out, kernel_size, max_order", dtype,
                         tables=2 * self.irreps_out.dim * self.irreps_in.dim
                         * kernel_size ** 2 * terms)
        expression, bank, placed = harmonic_conv_expression(
            self.irreps_in, self.irreps_out, kernel_size, max_order, self.padding, bias)
        super().__init__(expression, device=device, dtype=dtype, generator=generator)
        self._bank = Plan(bank)
        self._bias = None if placed is None else Plan(placed)

    def filter_bank(self) -> Tensor:
        """``K``: ``[dim_out, dim_in, k, k]`` (module doc), the expression's tie of ``R``."""
        return self._bank.run({}, self.params, self.tables())

    def _check(self, x: Tensor) -> None:
        check_layer_input(x, "x", self.params["R"], rank=4,
                          layout=f"[B, {self.irreps_in.dim}, H, W]")
        if x.shape[1] != self.irreps_in.dim:
            raise ValueError(f"x: expected shape [B, {self.irreps_in.dim}, H, W] for layout "
                             f"{self.irreps_in}, received {tuple(x.shape)}")
        k, p = self.kernel_size, self.padding
        check_conv_output(x, x.shape[-2:], (k, k), (1, 1), (p, p), (1, 1),
                          self.irreps_out.dim)

    def forward(self, x: Tensor) -> Tensor:
        """One ``F.conv2d`` with :meth:`filter_bank`."""
        self._check(x)
        bias = None if self._bias is None else self._bias.run({}, self.params, self.tables())
        return F.conv2d(x, self.filter_bank(), bias, padding=self.padding)

    def general(self, x: Tensor) -> Tensor:
        """The compiled expression (the bank tie, then the windowed contraction)."""
        self._check(x)
        return self.run_plan(x)

    def reference(self, x: Tensor) -> Tensor:
        """The expression evaluated node by node."""
        self._check(x)
        return self.run_reference(x)

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} → {self.irreps_out}, kernel_size={self.kernel_size}, "
                f"padding={self.padding}, {super().extra_repr()}")

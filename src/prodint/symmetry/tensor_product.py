"""Equivariant tensor products of irrep-typed features: fully connected and channelwise.

A *path* ``(i1, i2, o)`` joins block ``i1 = mul1 x ir1`` of the first input, block ``i2 =
mul2 x ir2`` of the second and block ``o = mul_out x ir_out`` of the output, allowed when the
selection rule holds (:func:`~prodint.symmetry.clebsch_gordan.selection_rule`). Its
coefficients are the solver's Clebsch–Gordan tensor ``C`` (unit Frobenius norm) times a path
constant ``α``. The **fully connected** product (e3nn's ``FullyConnectedTensorProduct``) is

    out[b, o: w, k] = Σ_{p → o} α_p Σ_{u,v,i,j} W_p[u,v,w] C_p[i,j,k] x[b, i1: u, i] y[b, i2: v, j]

and the **channelwise** product (e3nn's ``"uvu"`` mode, used on edges with per-edge weights)

    out[e, p: u, k] = α_p w[e, p, u] Σ_{v,i,j} C_p[i, j, k] x[e, i1: u, i] y[e, i2: v, j]

with one output block ``mul1 x ir_out`` per path. Both are bilinear and equivariant, so as a
product interaction they are order 2 (order 1 in ``x`` when ``y`` is a spherical harmonic of
positions).

Normalisation (``α_p``), for inputs whose components have unit variance (``"component"``) or
whose irreps have unit norm (``"norm"``) and weights ``N(0, 1)``, as e3nn does:

- ``"component"``: ``α_p = sqrt((2 l_out + 1) / fan_in(o))``: output components have unit
  variance;
- ``"norm"``: ``α_p = sqrt((2 l1 + 1)(2 l2 + 1) / fan_in(o))``: output irreps have unit norm;

with ``fan_in(o) = Σ_{paths → o} mul1 · mul2`` (fully connected) or ``Σ_{paths → o} mul2``
(channelwise: every path has its own output block, so ``fan_in = mul2``). These are e3nn's
``irrep_normalization`` with ``path_normalization="element"``; the weights are flattened path
by path (``[mul1, mul2, mul_out]`` row-major) in e3nn's instruction order, so a weight vector of
e3nn's ``FullyConnectedTensorProduct`` loads as is. The CG signs may differ from e3nn's
``wigner_3j`` path by path (each is fixed by its solver's sign rule).

Fast path (:meth:`TensorProduct.forward`): for each path, ``C`` is folded into the input with
the fewer components (``Y[b, i, k, v] = Σ_j C[i, j, k] y[b, v, j]``, one small matmul), then
``min(d1, d2)`` broadcast multiply-adds build ``z[b, k, u, v] = Σ_i x[b, u, i] Y[b, i, k, v]``
(contiguous, so no copy follows), and ``z @ W_p`` (``[B·d3, UV] @ [UV, W]``, the one large
matmul) is accumulated into the output block with ``addmm``. That is about
``2 B d3 UV (min(d1, d2) + W)`` FLOPs per path, against ``2 B d1 d2 d3 UV W`` for contracting
the dense structure constants; the gradients come from autograd through the same few
operations (so higher derivatives work). :meth:`TensorProduct.naive` is that dense
contraction, the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from prodint.interaction import Contract, Expr, Parameter, Signal, evaluate
from prodint.symmetry.clebsch_gordan import clebsch_gordan, selection_rule
from prodint.symmetry.irreps import Irrep, Irreps

__all__ = [
    "IRREP_NORMALIZATIONS",
    "ChannelwiseTensorProduct",
    "Path",
    "TensorProduct",
    "channelwise_paths",
    "fully_connected_paths",
]

IRREP_NORMALIZATIONS = ("component", "norm")


@dataclass(frozen=True)
class Path:
    """One path of a tensor product.

    Attributes:
        i1, i2, i_out: block indices in the first input, second input and output.
        ir1, ir2, ir_out: their irreps.
        mul1, mul2, mul_out: their multiplicities.
        weights: the slice of this path's weights in the flattened weight vector.
        alpha: the path constant ``α`` (module doc).
    """

    i1: int
    i2: int
    i_out: int
    ir1: Irrep
    ir2: Irrep
    ir_out: Irrep
    mul1: int
    mul2: int
    mul_out: int
    weights: slice
    alpha: float


def _check_normalization(normalization: str) -> None:
    if normalization not in IRREP_NORMALIZATIONS:
        raise ValueError(f"normalization: expected one of {IRREP_NORMALIZATIONS}, received "
                         f"{normalization!r}")


def _alpha(ir1: Irrep, ir2: Irrep, ir_out: Irrep, fan_in: int, normalization: str) -> float:
    num = ir_out.dim if normalization == "component" else ir1.dim * ir2.dim
    return math.sqrt(num / fan_in) if fan_in else 0.0


def fully_connected_paths(irreps1: Irreps, irreps2: Irreps, irreps_out: Irreps,
                          normalization: str = "component") -> list[Path]:
    """Every allowed ``(i1, i2, o)``, in e3nn's order (``i1``, then ``i2``, then ``o``)."""
    _check_normalization(normalization)
    triples = [(i1, i2, o)
               for i1, (_, a) in enumerate(irreps1) for i2, (_, b) in enumerate(irreps2)
               for o, (_, c) in enumerate(irreps_out) if selection_rule(a, b, c)]
    fan = [0] * len(irreps_out)
    for i1, i2, o in triples:
        fan[o] += irreps1[i1][0] * irreps2[i2][0]
    paths, start = [], 0
    for i1, i2, o in triples:
        (m1, a), (m2, b), (m3, c) = irreps1[i1], irreps2[i2], irreps_out[o]
        n = m1 * m2 * m3
        paths.append(Path(i1, i2, o, a, b, c, m1, m2, m3, slice(start, start + n),
                          _alpha(a, b, c, fan[o], normalization)))
        start += n
    return paths


def channelwise_paths(irreps1: Irreps, irreps2: Irreps, targets: Sequence[Irrep | str],
                      normalization: str = "component") -> tuple[list[Path], Irreps]:
    """Paths ``(i1, i2) → ir_out`` for every allowed ``ir_out`` in ``targets``.

    Returns:
        The paths (``i_out`` is the path's own output block; its weights are ``mul1`` values)
        and the output layout ``Σ_p mul1 x ir_out``.
    """
    _check_normalization(normalization)
    allowed = [Irrep(t) for t in targets]
    paths, blocks, start = [], [], 0
    for i1, (m1, a) in enumerate(irreps1):
        for i2, (m2, b) in enumerate(irreps2):
            for c in allowed:
                if not selection_rule(a, b, c):
                    continue
                paths.append(Path(i1, i2, len(blocks), a, b, c, m1, m2, m1,
                                  slice(start, start + m1), _alpha(a, b, c, m2, normalization)))
                blocks.append((m1, c))
                start += m1
    return paths, Irreps(blocks)


def _blocks(x: Tensor, irreps: Irreps) -> list[Tensor]:
    """``[B, dim] → [[B, mul, 2l+1] per block]`` (views)."""
    return [x[:, sl].reshape(x.shape[0], mul, ir.dim)
            for (mul, ir), sl in zip(irreps, irreps.slices(), strict=True)]


def _check_pair(x: Tensor, y: Tensor, irreps1: Irreps, irreps2: Irreps,
                names: tuple[str, str]) -> None:
    irreps1.check(x, names[0])
    irreps2.check(y, names[1])
    if x.shape[:-1] != y.shape[:-1]:
        raise ValueError(f"{names[1]}: expected leading shape {tuple(x.shape[:-1])} (that of "
                         f"{names[0]}), received {tuple(y.shape[:-1])}")
    if x.dtype != y.dtype:
        raise TypeError(f"{names[1]}: expected dtype {x.dtype} (that of {names[0]}), received "
                        f"{y.dtype}")


def _outer_contract(x: Tensor, y: Tensor, cg: Tensor) -> Tensor:
    """``z[b, k, u, v] = Σ_{i,j} C[i, j, k] x[b, u, i] y[b, v, j]``: ``[B, d3, U, V]``.

    The smaller of the two component axes is looped over: with ``d1 <= d2``,
    ``Y[b, i, k, v] = Σ_j C[i, j, k] y[b, v, j]`` is one ``[B·V, d2] @ [d2, d1·d3]`` matmul and
    ``z = Σ_i x[b, i, None, u, None] · Y[b, i, k, None, v]`` takes ``d1`` broadcast
    multiply-adds (each a pass over ``z``); with ``d2 < d1`` the roles swap. Batched matmuls
    of ``B`` tiny matrices would be far slower than these passes on a CPU.
    """
    batch, mul1, d1 = x.shape
    _, mul2, d2 = y.shape
    d3 = cg.shape[2]
    # Operands laid out so that every broadcast product comes out contiguous [B, d3, U, V].
    if d1 <= d2:
        xt = x.transpose(1, 2).contiguous()  # [B, d1, U]
        other = y.reshape(batch * mul2, d2) @ cg.permute(1, 0, 2).reshape(d2, d1 * d3)
        other = other.view(batch, mul2, d1, d3).permute(0, 2, 3, 1).contiguous()  # [B,d1,d3,V]
        z = xt[:, 0, None, :, None] * other[:, 0, :, None, :]
        for i in range(1, d1):
            z = z + xt[:, i, None, :, None] * other[:, i, :, None, :]
        return z
    yt = y.transpose(1, 2).contiguous()  # [B, d2, V]
    other = x.reshape(batch * mul1, d1) @ cg.reshape(d1, d2 * d3)
    other = other.view(batch, mul1, d2, d3).permute(0, 2, 3, 1).contiguous()  # [B, d2, d3, U]
    z = other[:, 0, :, :, None] * yt[:, 0, None, None, :]
    for j in range(1, d2):
        z = z + other[:, j, :, :, None] * yt[:, j, None, None, :]
    return z


#: ``(block of a, block of b, output block, C [da, db, dout], M [mul_a·mul_b, mul_out])``.
Term = tuple[int, int, int, Tensor, Tensor]


def _contract_paths(a: Tensor, b: Tensor, irreps_a: Irreps, irreps_b: Irreps,
                    irreps_out: Irreps, terms: Sequence[Term]) -> Tensor:
    """``out[b, o: w, k] = Σ_terms Σ_{u,v} z[b, k, u, v] M[(u, v), w]`` with ``z`` from
    :func:`_outer_contract`; ``terms`` are ``(block_a, block_b, block_out, C, M)``.

    ``[B, dim_a] × [B, dim_b] → [B, dim_out]``: per term one ``z`` and one
    ``[B·d3, UV] @ [UV, W]`` matmul accumulated into its output block (``addmm``).
    """
    batch = a.shape[0]
    blocks_a, blocks_b = _blocks(a, irreps_a), _blocks(b, irreps_b)
    outs: list[Tensor | None] = [None] * len(irreps_out)
    for ia, ib, io, cg, m in terms:
        z = _outer_contract(blocks_a[ia], blocks_b[ib], cg)
        z = z.reshape(batch * cg.shape[2], m.shape[0])
        prev = outs[io]
        outs[io] = z @ m if prev is None else torch.addmm(prev, z, m)
    blocks = []
    for (mul, ir), out in zip(irreps_out, outs, strict=True):
        if out is None:
            blocks.append(a.new_zeros(batch, mul * ir.dim))
        else:  # [(b, k), w] → [b, (w, k)]
            blocks.append(out.view(batch, ir.dim, mul).transpose(1, 2).reshape(batch,
                                                                                mul * ir.dim))
    return blocks[0] if len(blocks) == 1 else torch.cat(blocks, -1)


class _CoefficientCache:
    """The scaled CG tensors ``α_p C_p`` per (dtype, device), cast from float64 once each."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._exact = [p.alpha * clebsch_gordan(p.ir1, p.ir2, p.ir_out) for p in paths]
        self._cast: dict[tuple[torch.dtype, torch.device], list[Tensor]] = {}

    def get(self, dtype: torch.dtype, device: torch.device) -> list[Tensor]:
        key = (dtype, device)
        if key not in self._cast:
            self._cast[key] = [c.to(dtype=dtype, device=device) for c in self._exact]
        return self._cast[key]


class TensorProduct(nn.Module):
    """Fully connected equivariant tensor product ``irreps1 ⊗ irreps2 → irreps_out``.

    Args:
        irreps1, irreps2, irreps_out: layouts (strings or :class:`Irreps`).
        normalization: ``"component"`` or ``"norm"`` (module doc).

    Attributes:
        paths: the allowed paths, in weight order.
        weight: ``[Σ_p mul1 mul2 mul_out]``, initialised ``N(0, 1)``.
        expression: ``Σ_b (Σ_a X[a] Γ[a, b, c]) Y[b]``, order 2, with ``Γ`` the weighted
            structure constants of :meth:`structure_constants` (constrained to the span of the
            solver's equivariant basis, as a group convolution's filter bank is).

    Shapes: ``x [..., irreps1.dim]``, ``y [..., irreps2.dim]`` (same leading shape) →
    ``[..., irreps_out.dim]``.
    """

    def __init__(self, irreps1: Irreps | str, irreps2: Irreps | str, irreps_out: Irreps | str,
                 normalization: str = "component") -> None:
        super().__init__()
        self.irreps1, self.irreps2 = Irreps(irreps1), Irreps(irreps2)
        self.irreps_out = Irreps(irreps_out)
        self.normalization = normalization
        self.paths = fully_connected_paths(self.irreps1, self.irreps2, self.irreps_out,
                                           normalization)
        self._cg = _CoefficientCache(self.paths)
        numel = self.paths[-1].weights.stop if self.paths else 0
        self.weight = nn.Parameter(torch.randn(numel))
        d1, d2, d3 = self.irreps1.dim, self.irreps2.dim, self.irreps_out.dim
        self.expression: Expr = Contract(
            Contract(Signal("X", [("a", d1)]), Parameter("Gamma", [("a", d1), ("b", d2),
                                                                    ("c", d3)]), over="a"),
            Signal("Y", [("b", d2)]), over="b")

    @property
    def self_interaction_order(self) -> int:
        return self.expression.self_interaction_order

    def _check(self, x: Tensor, y: Tensor) -> None:
        _check_pair(x, y, self.irreps1, self.irreps2, ("x", "y"))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """The fast kernel (module doc)."""
        self._check(x, y)
        lead = x.shape[:-1]
        x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
        weight = self.weight.to(x.dtype)
        terms = [(p.i1, p.i2, p.i_out, cg, weight[p.weights].view(p.mul1 * p.mul2, p.mul_out))
                 for p, cg in zip(self.paths, self._cg.get(x.dtype, x.device), strict=True)]
        out = _contract_paths(x, y, self.irreps1, self.irreps2, self.irreps_out, terms)
        return out.reshape(*lead, self.irreps_out.dim)

    def structure_constants(self) -> Tensor:
        """Dense ``Γ[a, b, c]`` (``[dim1, dim2, dim_out]``), differentiable in the weights:
        ``Γ[(u,i), (v,j), (w,k)] = Σ_p α_p W_p[u,v,w] C_p[i,j,k]`` on the blocks of each path."""
        weight = self.weight
        gamma = weight.new_zeros(self.irreps1.dim, self.irreps2.dim, self.irreps_out.dim)
        s1, s2, s3 = self.irreps1.slices(), self.irreps2.slices(), self.irreps_out.slices()
        for p, cg in zip(self.paths, self._cg.get(weight.dtype, weight.device), strict=True):
            w = weight[p.weights].view(p.mul1, p.mul2, p.mul_out)
            block = torch.einsum("uvw,ijk->uivjwk", w, cg)
            gamma[s1[p.i1], s2[p.i2], s3[p.i_out]] += block.reshape(
                p.mul1 * p.ir1.dim, p.mul2 * p.ir2.dim, p.mul_out * p.ir_out.dim)
        return gamma

    def naive(self, x: Tensor, y: Tensor) -> Tensor:
        """Reference: ``out[..., c] = Σ_{a,b} Γ[a, b, c] x[..., a] y[..., b]`` with dense ``Γ``."""
        self._check(x, y)
        return torch.einsum("...a,...b,abc->...c", x, y, self.structure_constants().to(x.dtype))

    def expression_value(self, x: Tensor, y: Tensor) -> Tensor:
        """:attr:`expression` evaluated node by node with ``Γ = structure_constants()``."""
        self._check(x, y)
        return evaluate(self.expression, {"X": x, "Y": y},
                        {"Gamma": self.structure_constants().to(x.dtype)})

    def extra_repr(self) -> str:
        return (f"{self.irreps1} ⊗ {self.irreps2} → {self.irreps_out}, "
                f"paths={len(self.paths)}, normalization={self.normalization!r}")


class ChannelwiseTensorProduct(nn.Module):
    """Channelwise (``"uvu"``) tensor product with externally given (per-sample) weights.

    Args:
        irreps1: layout of ``x`` (node features on the edges).
        irreps2: layout of ``y`` (typically spherical harmonics ``1x0e + 1x1o + 1x2e``).
        targets: the irreps allowed in the output (e.g. those of the next layer).
        normalization: ``"component"`` or ``"norm"``.

    Attributes:
        paths: the paths; ``weight_numel = Σ_p mul1``.
        irreps_out: ``Σ_p mul1 x ir_out`` (one block per path).

    Shapes: ``x [N, irreps1.dim]``, ``y [N, irreps2.dim]``, ``weight [N, weight_numel]`` →
    ``[N, irreps_out.dim]``.
    """

    def __init__(self, irreps1: Irreps | str, irreps2: Irreps | str,
                 targets: Sequence[Irrep | str], normalization: str = "component") -> None:
        super().__init__()
        self.irreps1, self.irreps2 = Irreps(irreps1), Irreps(irreps2)
        self.paths, self.irreps_out = channelwise_paths(self.irreps1, self.irreps2, targets,
                                                        normalization)
        if not self.paths:
            raise ValueError(f"targets: no irrep of {list(map(str, targets))} is in "
                             f"{self.irreps1} ⊗ {self.irreps2}")
        self.weight_numel = self.paths[-1].weights.stop
        self._cg = _CoefficientCache(self.paths)

    def _check(self, x: Tensor, y: Tensor, weight: Tensor) -> None:
        _check_pair(x, y, self.irreps1, self.irreps2, ("x", "y"))
        if x.dim() != 2:
            raise ValueError(f"x: expected shape [N, {self.irreps1.dim}], received "
                             f"{tuple(x.shape)}")
        if not isinstance(weight, Tensor) or tuple(weight.shape) != (x.shape[0],
                                                                      self.weight_numel):
            shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
            raise ValueError(f"weight: expected shape [{x.shape[0]}, {self.weight_numel}], "
                             f"received {shape}")

    def forward(self, x: Tensor, y: Tensor, weight: Tensor) -> Tensor:
        """Per path: ``M = y @ C`` (``[N, d1, d3]``), ``out = (x_u @ M) · α w``."""
        self._check(x, y, weight)
        n = x.shape[0]
        xs, ys = _blocks(x, self.irreps1), _blocks(y, self.irreps2)
        outs = []
        for p, cg in zip(self.paths, self._cg.get(x.dtype, x.device), strict=True):
            d1, d2, d3 = p.ir1.dim, p.ir2.dim, p.ir_out.dim
            # mul2 copies of y are summed: Σ_v y[v, j] (uvu with a shared second input).
            yv = ys[p.i2].sum(1) if p.mul2 > 1 else ys[p.i2][:, 0]
            m = (yv @ cg.permute(1, 0, 2).reshape(d2, d1 * d3)).view(n, d1, d3)
            out = torch.bmm(xs[p.i1], m) * weight[:, p.weights, None]
            outs.append(out.reshape(n, p.mul1 * d3))
        return outs[0] if len(outs) == 1 else torch.cat(outs, -1)

    def structure_constants(self, weight: Tensor) -> Tensor:
        """Per-sample dense ``Γ[n, a, b, c]`` (``[N, dim1, dim2, dim_out]``) with
        ``out[n] = Σ_{a,b} Γ[n, a, b, c] x[n, a] y[n, b]``."""
        n = weight.shape[0]
        gamma = weight.new_zeros(n, self.irreps1.dim, self.irreps2.dim, self.irreps_out.dim)
        s1, s2 = self.irreps1.slices(), self.irreps2.slices()
        s3 = self.irreps_out.slices()
        for p, cg in zip(self.paths, self._cg.get(weight.dtype, weight.device), strict=True):
            eye = torch.ones(p.mul2, dtype=weight.dtype, device=weight.device)
            block = torch.einsum("nu,uw,v,ijk->nuivjwk", weight[:, p.weights],
                                 torch.eye(p.mul1, dtype=weight.dtype, device=weight.device),
                                 eye, cg)
            gamma[:, s1[p.i1], s2[p.i2], s3[p.i_out]] += block.reshape(
                n, p.mul1 * p.ir1.dim, p.mul2 * p.ir2.dim, p.mul1 * p.ir_out.dim)
        return gamma

    def naive(self, x: Tensor, y: Tensor, weight: Tensor) -> Tensor:
        """Reference: the defining sum, one dense einsum per path."""
        self._check(x, y, weight)
        outs = []
        s1, s2 = self.irreps1.slices(), self.irreps2.slices()
        for p, cg in zip(self.paths, self._cg.get(x.dtype, x.device), strict=True):
            xu = x[:, s1[p.i1]].reshape(-1, p.mul1, p.ir1.dim)
            yv = y[:, s2[p.i2]].reshape(-1, p.mul2, p.ir2.dim)
            out = torch.einsum("nu,nui,nvj,ijk->nuk", weight[:, p.weights], xu, yv, cg)
            outs.append(out.reshape(x.shape[0], -1))
        return torch.cat(outs, -1)

    def extra_repr(self) -> str:
        return f"{self.irreps1} ⊗ {self.irreps2} → {self.irreps_out} (channelwise)"

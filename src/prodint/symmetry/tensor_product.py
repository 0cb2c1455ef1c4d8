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

The expression states the paths: each is the contraction of the input blocks (ties of the flat
inputs, :func:`~prodint.symmetry.blocks.block`) with its fixed Clebsch–Gordan tensor
``α_p C_p`` (a :class:`~prodint.interaction.Constant`) and with its slice of the flat weight
vector (a tie of ``params.W``), placed into its output block
(:func:`~prodint.symmetry.blocks.place`). So the compiled expression has the layer's weights
only and is equivariant for any of them.

Fast path (:meth:`TensorProduct.forward`): for each path, ``C`` is folded into the input with
the fewer components (``Y[b, i, k, v] = Σ_j C[i, j, k] y[b, v, j]``, one small matmul), then
``min(d1, d2)`` broadcast multiply-adds build ``z[b, k, u, v] = Σ_i x[b, u, i] Y[b, i, k, v]``
(contiguous, so no copy follows), and ``z @ W_p`` (``[B·d3, UV] @ [UV, W]``, the one large
matmul) is accumulated into the output block with ``addmm``. That is about
``2 B d3 UV (min(d1, d2) + W)`` FLOPs per path, against ``2 B d1 d2 d3 UV W`` for contracting
the dense structure constants; the gradients come from autograd through the same few
operations (so higher derivatives work). :meth:`TensorProduct.oracle` is that dense
contraction (an implementation independent of the paths' expression).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.algebra import hadamard
from prodint.checks import check_layer_input, check_layer_options, check_parameter_memory
from prodint.interaction import (
    AxisSum,
    Constant,
    Contract,
    Expr,
    Gather,
    Parameter,
    Product,
    Signal,
    Sum,
)
from prodint.interaction.layer import InteractionLayer
from prodint.symmetry.blocks import block, place
from prodint.symmetry.clebsch_gordan import clebsch_gordan
from prodint.symmetry.irreps import Irrep, Irreps, as_irrep, as_irreps
from prodint.symmetry.paths import (
    IRREP_NORMALIZATIONS,
    Path,
    channelwise_paths,
    fully_connected_paths,
)
from prodint.symmetry.tensor_product_kernel import blocks_of, check_pair, contract_paths

__all__ = [
    "IRREP_NORMALIZATIONS",
    "ChannelwiseTensorProduct",
    "Path",
    "TensorProduct",
    "channelwise_paths",
    "fully_connected_paths",
]


def _check_size(paths: Sequence[Path], irreps1: Irreps, irreps2: Irreps, irreps_out: Irreps,
                dtype: torch.dtype | None) -> None:
    """Refuse paths whose weights and fixed tables (the Clebsch–Gordan tensors, the blocks'
    ties) would not fit in memory."""
    tables = sum(p.ir1.dim * p.ir2.dim * p.ir_out.dim + p.weights.stop - p.weights.start
                 for p in paths) + 2 * (irreps1.dim + irreps2.dim + irreps_out.dim)
    check_parameter_memory(paths[-1].weights.stop, "irreps1, irreps2, irreps_out", dtype,
                     tables=tables)


def _cg(path: Path, n: int) -> Constant:
    """``α_p C_p`` of path ``n`` as a fixed table ``constants.cg<n>`` ``[i, j, k]``."""
    value = path.alpha * clebsch_gordan(path.ir1, path.ir2, path.ir_out)
    return Constant(f"cg{n}", value, [("i", path.ir1.dim), ("j", path.ir2.dim),
                                      ("k", path.ir_out.dim)])


def _weights(w: Expr, name: str, span: slice, axes: Sequence[tuple[str, int]]) -> Gather:
    """The slice ``span`` of the flat ``w`` seen as a tensor with ``axes`` (a tie)."""
    shape = [size for _, size in axes]
    return Gather(w, name, torch.arange(span.start, span.stop).view(shape), axes)


def tensor_product_expression(irreps1: Irreps, irreps2: Irreps, irreps_out: Irreps,
                              paths: Sequence[Path]) -> Expr:
    """``out[o: w, k] = Σ_{p → o} Σ_{u,v,i,j} W_p[u,v,w] (α_p C_p)[i,j,k] X[i1: u, i]
    Y[i2: v, j]`` (module doc), order 2, with ``W_p`` ties of the flat ``params.W``."""
    x, y = Signal("X", [("a", irreps1.dim)]), Signal("Y", [("b", irreps2.dim)])
    w = Parameter("W", [("q", paths[-1].weights.stop)])  # N(0, 1): α_p normalises
    xs: dict[int, Expr] = {}
    ys: dict[int, Expr] = {}
    terms: dict[int, list[Expr]] = {}
    for n, p in enumerate(paths):
        xs.setdefault(p.i1, block(x, irreps1, p.i1, f"x{p.i1}", ("u", "i")))
        ys.setdefault(p.i2, block(y, irreps2, p.i2, f"y{p.i2}", ("v", "j")))
        z = Contract(Contract(xs[p.i1], _cg(p, n), over="i"), ys[p.i2], over="j")  # [u,k,v]
        wp = _weights(w, f"w{n}", p.weights, [("u", p.mul1), ("v", p.mul2), ("w", p.mul_out)])
        terms.setdefault(p.i_out, []).append(Contract(z, wp, over=("u", "v")))  # [k, w]
    parts = {o: t[0] if len(t) == 1 else Sum(*t) for o, t in terms.items()}
    return place(parts, irreps_out, "c", "out", ("w", "k"))


class TensorProduct(InteractionLayer):
    """Fully connected equivariant tensor product ``irreps1 ⊗ irreps2 → irreps_out``.

    Args:
        irreps1, irreps2, irreps_out: layouts (strings or :class:`Irreps`).
        normalization: ``"component"`` or ``"norm"`` (module doc).
        device, dtype, generator: as :class:`~prodint.interaction.layer.InteractionLayer`.

    Attributes:
        paths: the allowed paths, in weight order.
        params.W: ``[Σ_p mul1 mul2 mul_out]``, initialised ``N(0, 1)`` (e3nn's flat weight).

    Shapes: ``x [..., irreps1.dim]``, ``y [..., irreps2.dim]`` (same leading shape) →
    ``[..., irreps_out.dim]``.

    Raises:
        ValueError: when no path joins the layouts (the product would be zero), a malformed
            or empty layout, an unknown normalization, weights that would not fit in memory;
            inputs of other shapes or devices.
        TypeError: a layout of the wrong kind, a bad option; inputs that are not tensors of
            the layer's dtype.
    """

    def __init__(self, irreps1: Irreps | str, irreps2: Irreps | str, irreps_out: Irreps | str,
                 normalization: str = "component", *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        self.irreps1 = as_irreps(irreps1, "irreps1", empty=False)
        self.irreps2 = as_irreps(irreps2, "irreps2", empty=False)
        self.irreps_out = as_irreps(irreps_out, "irreps_out", empty=False)
        self.normalization = normalization
        check_layer_options(device, dtype, generator)
        self.paths = fully_connected_paths(self.irreps1, self.irreps2, self.irreps_out,
                                           normalization)
        if not self.paths:
            raise ValueError(f"irreps_out: no irrep of {self.irreps_out} is in "
                             f"irreps1 ⊗ irreps2 = {self.irreps1} ⊗ {self.irreps2}")
        _check_size(self.paths, self.irreps1, self.irreps2, self.irreps_out, dtype)
        super().__init__(tensor_product_expression(self.irreps1, self.irreps2,
                                                   self.irreps_out, self.paths),
                         device=device, dtype=dtype, generator=generator)

    def _check(self, x: Tensor, y: Tensor) -> None:
        check_layer_input(x, "x", self.params["W"])
        check_layer_input(y, "y", self.params["W"])
        check_pair(x, y, self.irreps1, self.irreps2, ("x", "y"))

    def _cgs(self) -> list[Tensor]:
        return [getattr(self.constants, f"cg{n}") for n in range(len(self.paths))]

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """The fast kernel (module doc)."""
        self._check(x, y)
        lead = x.shape[:-1]
        x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
        weight = self.params["W"]
        terms = [(p.i1, p.i2, p.i_out, cg, weight[p.weights].view(p.mul1 * p.mul2, p.mul_out))
                 for p, cg in zip(self.paths, self._cgs(), strict=True)]
        out = contract_paths(x, y, self.irreps1, self.irreps2, self.irreps_out, terms)
        return out.reshape(*lead, self.irreps_out.dim)

    def general(self, x: Tensor, y: Tensor) -> Tensor:
        """The compiled expression (the paths' contractions)."""
        self._check(x, y)
        return self.run_plan(X=x, Y=y)

    def reference(self, x: Tensor, y: Tensor) -> Tensor:
        """The expression evaluated node by node."""
        self._check(x, y)
        return self.run_reference(X=x, Y=y)

    def structure_constants(self) -> Tensor:
        """Dense ``Γ[a, b, c]`` (``[dim1, dim2, dim_out]``), differentiable in the weights:
        ``Γ[(u,i), (v,j), (w,k)] = Σ_p α_p W_p[u,v,w] C_p[i,j,k]`` on the blocks of each path."""
        weight = self.params["W"]
        gamma = weight.new_zeros(self.irreps1.dim, self.irreps2.dim, self.irreps_out.dim)
        s1, s2, s3 = self.irreps1.slices(), self.irreps2.slices(), self.irreps_out.slices()
        for p, cg in zip(self.paths, self._cgs(), strict=True):
            w = weight[p.weights].view(p.mul1, p.mul2, p.mul_out)
            block_ = torch.einsum("uvw,ijk->uivjwk", w, cg)
            gamma[s1[p.i1], s2[p.i2], s3[p.i_out]] += block_.reshape(
                p.mul1 * p.ir1.dim, p.mul2 * p.ir2.dim, p.mul_out * p.ir_out.dim)
        return gamma

    def oracle(self, x: Tensor, y: Tensor) -> Tensor:
        """``out[..., c] = Σ_{a,b} Γ[a, b, c] x[..., a] y[..., b]`` with the dense ``Γ``."""
        self._check(x, y)
        return torch.einsum("...a,...b,abc->...c", x, y, self.structure_constants())

    def extra_repr(self) -> str:
        return (f"{self.irreps1} ⊗ {self.irreps2} → {self.irreps_out}, "
                f"paths={len(self.paths)}, normalization={self.normalization!r}, "
                f"{super().extra_repr()}")


def channelwise_expression(irreps1: Irreps, irreps2: Irreps, irreps_out: Irreps,
                           paths: Sequence[Path]) -> Expr:
    """``out[p: u, k] = w[p: u] Σ_{v,i,j} (α_p C_p)[i,j,k] X[i1: u, i] Y[i2: v, j]``, order 2
    (``X``, ``Y`` signals, the weights ``w`` a side input of order 0)."""
    x, y = Signal("X", [("a", irreps1.dim)]), Signal("Y", [("b", irreps2.dim)])
    weight = Signal("weight", [("q", paths[-1].weights.stop)], order=0)
    xs: dict[int, Expr] = {}
    ys: dict[int, Expr] = {}
    parts: dict[int, Expr] = {}
    for n, p in enumerate(paths):
        xs.setdefault(p.i1, block(x, irreps1, p.i1, f"x{p.i1}", ("u", "i")))
        # the mul2 copies of y are summed (uvu with a shared second input)
        ys.setdefault(p.i2, AxisSum(block(y, irreps2, p.i2, f"y{p.i2}", ("v", "j")), "v"))
        z = Contract(Contract(xs[p.i1], _cg(p, n), over="i"), ys[p.i2], over="j")  # [u, k]
        wp = _weights(weight, f"w{n}", p.weights, [("u", p.mul1)])
        # one weight per channel u: the product in the Hadamard algebra over u (gating)
        parts[p.i_out] = Product(z, wp, hadamard(p.mul1), "u")
    return place(parts, irreps_out, "c", "out", ("u", "k"))


class ChannelwiseTensorProduct(InteractionLayer):
    """Channelwise (``"uvu"``) tensor product with externally given (per-sample) weights.

    Args:
        irreps1: layout of ``x`` (node features on the edges).
        irreps2: layout of ``y`` (typically spherical harmonics ``1x0e + 1x1o + 1x2e``).
        targets: the irreps allowed in the output (e.g. those of the next layer).
        normalization: ``"component"`` or ``"norm"``.
        device, dtype: as :class:`~prodint.interaction.layer.InteractionLayer` (the layer has
            no parameters: its fixed tables follow them).

    Attributes:
        paths: the paths; ``weight_numel = Σ_p mul1``.
        irreps_out: ``Σ_p mul1 x ir_out`` (one block per path).

    Shapes: ``x [N, irreps1.dim]``, ``y [N, irreps2.dim]``, ``weight [N, weight_numel]`` →
    ``[N, irreps_out.dim]``.

    Raises:
        ValueError: no path to the targets, a malformed or empty layout, an unknown
            normalization; inputs of other shapes or devices.
        TypeError: a layout or target of the wrong kind, a bad option; inputs that are not
            tensors of the layer's dtype.
    """

    def __init__(self, irreps1: Irreps | str, irreps2: Irreps | str,
                 targets: Sequence[Irrep | str], normalization: str = "component", *,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        self.irreps1 = as_irreps(irreps1, "irreps1", empty=False)
        self.irreps2 = as_irreps(irreps2, "irreps2", empty=False)
        if isinstance(targets, str) or not isinstance(targets, Sequence):
            raise TypeError(f"targets: expected a sequence of irreps, received "
                            f"{type(targets).__name__}")
        allowed = [as_irrep(t, "targets") for t in targets]
        check_layer_options(device, dtype, None)
        self.paths, self.irreps_out = channelwise_paths(self.irreps1, self.irreps2, allowed,
                                                        normalization)
        if not self.paths:
            raise ValueError(f"targets: no irrep of {list(map(str, allowed))} is in "
                             f"irreps1 ⊗ irreps2 = {self.irreps1} ⊗ {self.irreps2}")
        _check_size(self.paths, self.irreps1, self.irreps2, self.irreps_out, dtype)
        self.weight_numel = self.paths[-1].weights.stop
        super().__init__(channelwise_expression(self.irreps1, self.irreps2, self.irreps_out,
                                                self.paths), device=device, dtype=dtype)

    def _check(self, x: Tensor, y: Tensor, weight: Tensor) -> None:
        like = self.constants.cg0
        check_layer_input(x, "x", like)
        check_layer_input(y, "y", like)
        check_layer_input(weight, "weight", like)
        check_pair(x, y, self.irreps1, self.irreps2, ("x", "y"))
        if x.dim() != 2:
            raise ValueError(f"x: expected shape [N, {self.irreps1.dim}], received "
                             f"{tuple(x.shape)}")
        if not isinstance(weight, Tensor) or tuple(weight.shape) != (x.shape[0],
                                                                      self.weight_numel):
            shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
            raise ValueError(f"weight: expected shape [{x.shape[0]}, {self.weight_numel}], "
                             f"received {shape}")

    def _cgs(self) -> list[Tensor]:
        return [getattr(self.constants, f"cg{n}") for n in range(len(self.paths))]

    def forward(self, x: Tensor, y: Tensor, weight: Tensor) -> Tensor:
        """Per path: ``M = y @ C`` (``[N, d1, d3]``), ``out = (x_u @ M) · w``."""
        self._check(x, y, weight)
        n = x.shape[0]
        xs, ys = blocks_of(x, self.irreps1), blocks_of(y, self.irreps2)
        outs = []
        for p, cg in zip(self.paths, self._cgs(), strict=True):
            d1, d2, d3 = p.ir1.dim, p.ir2.dim, p.ir_out.dim
            # mul2 copies of y are summed: Σ_v y[v, j] (uvu with a shared second input).
            yv = ys[p.i2].sum(1) if p.mul2 > 1 else ys[p.i2][:, 0]
            m = (yv @ cg.permute(1, 0, 2).reshape(d2, d1 * d3)).view(n, d1, d3)
            out = torch.bmm(xs[p.i1], m) * weight[:, p.weights, None]
            outs.append(out.reshape(n, p.mul1 * d3))
        return outs[0] if len(outs) == 1 else torch.cat(outs, -1)

    def general(self, x: Tensor, y: Tensor, weight: Tensor) -> Tensor:
        """The compiled expression (the paths' contractions)."""
        self._check(x, y, weight)
        return self.run_plan(X=x, Y=y, weight=weight)

    def reference(self, x: Tensor, y: Tensor, weight: Tensor) -> Tensor:
        """The expression evaluated node by node."""
        self._check(x, y, weight)
        return self.run_reference(X=x, Y=y, weight=weight)

    def structure_constants(self, weight: Tensor) -> Tensor:
        """Per-sample dense ``Γ[n, a, b, c]`` (``[N, dim1, dim2, dim_out]``) with
        ``out[n] = Σ_{a,b} Γ[n, a, b, c] x[n, a] y[n, b]``."""
        n = weight.shape[0]
        gamma = weight.new_zeros(n, self.irreps1.dim, self.irreps2.dim, self.irreps_out.dim)
        s1, s2 = self.irreps1.slices(), self.irreps2.slices()
        s3 = self.irreps_out.slices()
        for p, cg in zip(self.paths, self._cgs(), strict=True):
            ones = torch.ones(p.mul2, dtype=weight.dtype, device=weight.device)
            eye = torch.eye(p.mul1, dtype=weight.dtype, device=weight.device)
            block_ = torch.einsum("nu,uw,v,ijk->nuivjwk", weight[:, p.weights], eye, ones,
                                  cg.to(weight.dtype))
            gamma[:, s1[p.i1], s2[p.i2], s3[p.i_out]] += block_.reshape(
                n, p.mul1 * p.ir1.dim, p.mul2 * p.ir2.dim, p.mul1 * p.ir_out.dim)
        return gamma

    def oracle(self, x: Tensor, y: Tensor, weight: Tensor) -> Tensor:
        """The defining sum, one dense einsum per path."""
        self._check(x, y, weight)
        outs = []
        s1, s2 = self.irreps1.slices(), self.irreps2.slices()
        for p, cg in zip(self.paths, self._cgs(), strict=True):
            xu = x[:, s1[p.i1]].reshape(-1, p.mul1, p.ir1.dim)
            yv = y[:, s2[p.i2]].reshape(-1, p.mul2, p.ir2.dim)
            out = torch.einsum("nu,nui,nvj,ijk->nuk", weight[:, p.weights], xu, yv, cg)
            outs.append(out.reshape(x.shape[0], -1))
        return torch.cat(outs, -1)

    def extra_repr(self) -> str:
        return (f"{self.irreps1} ⊗ {self.irreps2} → {self.irreps_out} (channelwise), "
                f"{super().extra_repr()}")

"""Fixed tensors inside expressions: constants and tie tables (order 0 structure).

A layer's parameters are often not free: a group convolution's filter bank repeats one base
filter under every group element, a Clifford or quaternion layer folds the structure
constants into a real weight, an equivariant map is a combination of a fixed basis. These
nodes state such ties in the expression itself, so compiling the expression gives back the
layer with its own parameter count and its exact symmetry:

- :class:`Constant`: a fixed tensor (a basis, a sign table, a mask). Order 0, no batch.
- :class:`Gather`: ``y[o] = Σ_r ν[o, r] · u[index[o, r]]`` over the flattened axes of ``u``
  (a tie table with optional weights ``ν``). Linear in ``u``, so ``ord(y) = ord(u)``.

A contraction with a fixed basis is ``Contract(Constant(basis), Parameter(coefficients))``.
Inside a layer (:class:`~prodint.interaction.layer.InteractionLayer`) the tables are
non-persistent buffers: they follow ``.to()`` but are not checkpoint state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.checks import check_name, describe
from prodint.interaction import index_map as im
from prodint.interaction.axes import AxisSpec, make_axes
from prodint.interaction.expr import Expr, Kernel, check_expr


def check_table(value: object, argument: str, *, floating: bool) -> Tensor:
    """``value`` as a fixed table: a tensor with data (not on the meta device), floating or
    integer as ``floating`` says, with finite entries when floating.

    Raises:
        TypeError: not a tensor, or of the other kind of dtype.
        ValueError: a meta tensor, or a floating table with NaN or inf entries.
    """
    kind = "a floating torch.Tensor" if floating else "an integer torch.Tensor (int32, int64)"
    if not isinstance(value, Tensor):
        raise TypeError(f"{argument}: expected {kind}, received {describe(value)}")
    if value.is_floating_point() != floating or \
            (not floating and value.dtype not in (torch.int32, torch.int64)):
        raise TypeError(f"{argument}: expected {kind}, received {value.dtype}")
    if value.device.type == "meta":
        raise ValueError(f"{argument}: expected a tensor with data, received one on the meta "
                         "device")
    if floating and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{argument}: expected finite entries, received a table with NaN or "
                         "inf")
    return value


class Constant(Expr):
    """A fixed tensor with named axes: order 0, no batch dimensions.

    Args:
        name: an identifier; inside a layer the tensor is the buffer ``constants.<name>``.
        value: the tensor, of shape ``[*sizes of axes]``.
        axes: its axes (fixed sizes).

    Raises:
        TypeError: a name that is not a str, a value that is not a floating tensor,
            malformed axes.
        ValueError: a name that is not an identifier, a free axis, a value of another shape,
            with NaN or inf entries or on the meta device.
    """

    def __init__(self, name: str, value: Tensor, axes: Sequence[AxisSpec]):
        self.name = check_name(name, "name")
        check_table(value, "value", floating=True)
        self.axes = make_axes(axes)
        shape = tuple(a.size for a in self.axes)
        if None in shape or tuple(value.shape) != shape:
            raise ValueError(f"value: expected shape {shape} (axes "
                             f"{[a.name for a in self.axes]}), received {tuple(value.shape)}")
        self.value = value.detach()

    @property
    def self_interaction_order(self) -> int:
        return 0

    @property
    def has_batch(self) -> bool:
        return False

    def tables(self) -> dict[str, Tensor]:
        """The fixed tensors this node reads, by buffer name."""
        return {self.name: self.value}

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return self

    def __str__(self) -> str:
        return self.name

    def reference(self, value: Tensor) -> Tensor:
        return value

    def kernel(self) -> Kernel:
        return lambda value: value


class Gather(Expr):
    """A tie table: ``y[o] = Σ_r ν[o, r] · u_flat[index[o, r]]``.

    ``u_flat`` is ``u`` with all its axes flattened (row-major, in ``u.axes`` order); leading
    batch dimensions of ``u`` pass through. ``index`` has shape ``[*sizes of axes]`` (one
    source entry per output entry) or ``[*sizes of axes, r]`` (a sum of ``r`` weighted
    entries, e.g. a structure-constant fold ``W[a, c] = Σ_b Γ[b, a, c] K[b]``); ``weight``
    ``ν`` has the same shape as ``index`` (default 1). A weight of 0 leaves an entry out.

    Args:
        child: the tied tensor (usually a :class:`~prodint.interaction.Parameter`).
        name: an identifier; inside a layer the tables are the buffers
            ``constants.<name>_index`` and ``constants.<name>_weight``.
        index: integer tensor with entries in ``[0, numel(u))``.
        axes: the axes of the result (fixed sizes).
        weight: optional float tensor shaped like ``index``.

    Raises:
        TypeError: a child that is not an expression, a name that is not a str, an index
            that is not an integer tensor, a weight that is not a floating one.
        ValueError: an index out of range, shapes that do not match ``axes``, a free axis,
            non-finite weights, a table on the meta device.
    """

    def __init__(self, child: Expr, name: str, index: Tensor, axes: Sequence[AxisSpec], *,
                 weight: Tensor | None = None):
        check_expr(child, "child")
        self.name = check_name(name, "name")
        sizes = [a.size for a in child.axes]
        if None in sizes:
            raise ValueError(f"child: a tie table needs fixed sizes, received axes "
                             f"{list(child.axes)}")
        self.axes = make_axes(axes)
        out = tuple(a.size for a in self.axes)
        if None in out:
            raise ValueError(f"axes: a tie table needs fixed sizes, received {list(self.axes)}")
        check_table(index, "index", floating=False)
        if tuple(index.shape[:len(out)]) != out or index.dim() not in (len(out), len(out) + 1):
            raise ValueError(f"index: expected shape {out} or {(*out, 'r')} (the sizes of the "
                             f"axes {[a.name for a in self.axes]}), received "
                             f"{tuple(index.shape)}")
        source = math.prod(sizes)  # type: ignore[arg-type]
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= source):
            raise ValueError(f"index: expected entries in [0, {source}) (the {source} entries "
                             f"of {child}), received entries in [{int(index.min())}, "
                             f"{int(index.max())}]")
        if weight is not None:
            check_table(weight, "weight", floating=True)
            if weight.shape != index.shape:
                raise ValueError(f"weight: expected the shape of index {tuple(index.shape)}, "
                                 f"received {tuple(weight.shape)}")
        self.children = (child,)
        self.index = index.detach().to(torch.int64)
        self.weight = None if weight is None else weight.detach()
        self._terms = index.dim() > len(out)

    @property
    def child(self) -> Expr:
        return self.children[0]

    @property
    def self_interaction_order(self) -> int:
        return self.child.self_interaction_order

    def tables(self) -> dict[str, Tensor]:
        """The fixed tensors this node reads, by buffer name (index, then weight)."""
        out = {f"{self.name}_index": self.index}
        if self.weight is not None:
            out[f"{self.name}_weight"] = self.weight
        return out

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Gather(children[0], self.name, self.index, self.axes, weight=self.weight)

    def __str__(self) -> str:
        return f"tie_{self.name}({self.child})"

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """The tie table itself: ``y[o] += ν[o, r] · u_flat[index[o, r]]`` (zero weights
        left out)."""
        out = tuple(a.size for a in self.axes)
        r = self.index.shape[-1] if self._terms else 1
        target = torch.arange(math.prod(out)).repeat_interleave(r)  # type: ignore[arg-type]
        source = self.index.reshape(-1).cpu()
        if self.weight is None:
            return im.IndexMap(target, source, None, out)  # type: ignore[arg-type]
        weight = self.weight.reshape(-1).cpu().to(torch.float64)
        keep = weight != 0
        return im.IndexMap(target[keep], source[keep], weight[keep], out)  # type: ignore[arg-type]

    def reference(self, u: Tensor, index: Tensor, weight: Tensor | None = None) -> Tensor:
        k = len(self.child.axes)
        flat = u.reshape(*u.shape[:u.dim() - k], math.prod(u.shape[u.dim() - k:]))
        picked = flat[..., index]
        if weight is not None:
            picked = picked * weight
        return picked.sum(-1) if self._terms else picked

    def kernel(self) -> Kernel:
        k = len(self.child.axes)
        batched = self.child.has_batch
        out = tuple(a.size for a in self.axes)
        terms = self._terms
        r = self.index.shape[-1] if terms else 1
        entries = math.prod(a.size for a in self.child.axes)  # type: ignore[misc]

        def gather(u: Tensor, index: Tensor, weight: Tensor | None = None) -> Tensor:
            lead = u.shape[:u.dim() - k] if batched else ()
            flat = u.reshape(*lead, entries)  # -1 is undetermined for an empty batch
            picked = torch.index_select(flat, -1, index.reshape(-1))
            if weight is not None:
                picked = picked * weight.reshape(-1)
            if terms:
                return picked.reshape(*lead, *out, r).sum(-1)
            return picked.reshape(*lead, *out)

        return gather

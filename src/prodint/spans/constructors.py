"""Spans of the common linear layers, built from their index maps.

Each constructor returns a :class:`~prodint.spans.span.Span` ``X <-s- E -t-> Y`` with
parameter map ``pi: E -> W`` and weights ``nu``, so that ``span(w, x)`` is the layer:

- :func:`dense`: ``E = out x in``, ``pi(o, i) = o * in + i`` (``w = W.flatten()``);
- :func:`conv`: ``E`` = the pairs (output point ``o``, kernel offset ``k``) whose input point
  ``i = o * stride - padding + k * dilation`` lies on the grid (zero padding is the missing
  elements of ``E``), ``s = i``, ``t = o``, ``pi = k``; a single channel, and channel mixing
  by the block form (``w [prod(kernel_size), c_in, c_out]``);
- :func:`conv_transpose`: the same index map read the other way (``s`` the input point of the
  transposed convolution, ``t = s * stride - padding + k * dilation``): the transpose of a
  convolution on the output grid;
- groups: a grouped convolution is :func:`conv` in block form with the block-diagonal ``w``
  of :func:`grouped_weight`; a depthwise one (``groups == channels``) is also the scalar span
  of :func:`depthwise` over (channel, point) pairs;
- :func:`graph`: ``E`` = the edges, ``pi`` = the edge type (one weight, or one block, per
  type), ``nu`` = the normalisation;
- :func:`group_conv`: ``E = G x G``, ``s = h``, ``t = g``, ``pi = h^{-1} g``;
- :func:`from_algebra`: ``E`` = the nonzero structure constants ``(a, b, c)``, ``pi = a``,
  ``s = b``, ``t = c``, ``nu = Γ[a, b, c]``, so ``span(a, x) = a * x``.

Grids are flattened in row-major order (``torch.flatten``); a tensor ``[B, C, *grid]`` of
torch's layout is the block-form ``x`` ``[B, prod(grid), C]`` after ``x.flatten(2).mT``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.checks import (
    check_choice,
    check_dtype,
    check_instance,
    check_int,
    check_memory,
    check_tensor,
)
from prodint.checks.scalars import describe
from prodint.spans.span import Span

__all__ = ["conv", "conv_transpose", "dense", "depthwise", "from_algebra", "graph",
           "group_conv", "grouped_weight"]

LONG = torch.long
INTS = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _check_elements(count: float, argument: str) -> None:
    """Refuse a span whose index tensors (three long and one float per element) do not fit."""
    check_memory(count * 32, argument, "the span's index tensors")


def _check_values(value: Tensor, argument: str) -> None:
    """Refuse an index tensor without values (on the meta device)."""
    if value.device.type == "meta":
        raise ValueError(f"{argument}: expected a tensor with values (indices are read), "
                         f"received one on the meta device")


def _ints(value: object, argument: str, dims: int, minimum: int) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ``dims`` ints, each at least ``minimum``)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != dims:
            raise ValueError(f"{argument}: expected an int or {dims} ints (one per axis of "
                             f"in_size), received {len(value)} values")
        return tuple(check_int(v, argument, minimum=minimum) for v in value)
    if isinstance(value, Tensor):
        raise TypeError(f"{argument}: expected an int or a sequence of ints, received "
                        f"{describe(value)}")
    return (check_int(value, argument, minimum=minimum),) * dims


def _grid(value: object, argument: str = "in_size") -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) == 0:
        raise TypeError(f"{argument}: expected a non-empty sequence of ints (the grid), "
                        f"received {describe(value)}")
    return tuple(check_int(v, argument, minimum=1) for v in value)


def _window(grid: tuple[int, ...], limit: tuple[int, ...], kernel: tuple[int, ...],
            stride: tuple[int, ...], padding: tuple[int, ...], dilation: tuple[int, ...],
            argument: str) -> tuple[Tensor, Tensor, Tensor]:
    """The pairs (point ``a`` of ``grid``, offset ``k`` of ``kernel``) whose point
    ``b = a * stride - padding + k * dilation`` lies on ``limit``: flattened ``a``, ``b``,
    ``k`` as long tensors."""
    _check_elements(math.prod(grid) * math.prod(kernel), argument)
    a_flat = torch.zeros((), dtype=LONG)
    b_flat = torch.zeros((), dtype=LONG)
    k_flat = torch.zeros((), dtype=LONG)
    valid = torch.ones((), dtype=torch.bool)
    for axis, (n, m, kk, s, p, d) in enumerate(zip(grid, limit, kernel, stride, padding,
                                                   dilation, strict=True)):
        # a step past m + p puts every point but the first off the grid: the same elements,
        # and indices that fit in int64
        s, d = min(s, m + p + 1), min(d, m + p + 1)
        a = torch.arange(n).view(-1, 1)
        k = torch.arange(kk).view(1, -1)
        b = a * s - p + k * d
        shape = [1] * (2 * len(grid))
        shape[2 * axis], shape[2 * axis + 1] = n, kk
        a_flat = a_flat * n + a.expand(n, kk).reshape(shape)
        k_flat = k_flat * kk + k.expand(n, kk).reshape(shape)
        b_flat = b_flat * m + b.clamp(0, m - 1).reshape(shape)
        valid = valid & ((b >= 0) & (b < m)).reshape(shape)
    full = torch.broadcast_shapes(a_flat.shape, b_flat.shape, k_flat.shape, valid.shape)
    keep = valid.expand(full).reshape(-1)
    return (a_flat.expand(full).reshape(-1)[keep], b_flat.expand(full).reshape(-1)[keep],
            k_flat.expand(full).reshape(-1)[keep])


def dense(in_features: int, out_features: int) -> Span:
    """The fully connected layer ``y[o] = sum_i W[o, i] x[i]`` as a span.

    ``E = {(o, i)}``, ``s(o, i) = i``, ``t(o, i) = o``, ``pi(o, i) = o * in_features + i``:
    ``span(W.flatten(), x) == F.linear(x, W)`` for ``W [out_features, in_features]``; in block
    form ``w [out * in, c_in, c_out]``.

    Raises:
        TypeError: a size that is not an int.
        ValueError: a size below 1, or index tensors that do not fit in memory.
    """
    n_in = check_int(in_features, "in_features", minimum=1)
    n_out = check_int(out_features, "out_features", minimum=1)
    _check_elements(n_in * n_out, "in_features, out_features")
    o, i = torch.meshgrid(torch.arange(n_out), torch.arange(n_in), indexing="ij")
    o, i = o.reshape(-1), i.reshape(-1)
    return Span(i, o, o * n_in + i, None, n_in, n_out, n_in * n_out)


def _conv_arguments(in_size: object, kernel_size: object, stride: object, padding: object,
                    dilation: object) -> tuple[tuple[int, ...], ...]:
    grid = _grid(in_size)
    n = len(grid)
    return (grid, _ints(kernel_size, "kernel_size", n, 1), _ints(stride, "stride", n, 1),
            _ints(padding, "padding", n, 0), _ints(dilation, "dilation", n, 1))


def conv(in_size: Sequence[int], kernel_size: int | Sequence[int], stride: int | Sequence[int]
         = 1, padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1) -> Span:
    """A convolution (cross-correlation, as torch's) of any dimension on the grid ``in_size``.

    ``y[o] = sum_k w[k] x[o * stride - padding + k * dilation]`` over the offsets ``k`` of the
    kernel whose input point lies on the grid (zero padding). ``in_size``/``out_size`` are the
    flattened grids, ``param_size = prod(kernel_size)``; the output grid has
    ``(n + 2 p - d (k - 1) - 1) // s + 1`` points per axis. For ``W [c_out, c_in, *kernel]``,
    ``span(W.flatten(2).permute(2, 1, 0), x.flatten(2).mT).mT`` is ``F.convNd(x, W, ...)``.

    Raises:
        TypeError: a size, stride, padding or dilation that is not an int (or ints).
        ValueError: a value out of range, a sequence of the wrong length, a dilated kernel
            longer than the padded grid, or index tensors that do not fit in memory.
    """
    grid, kernel, s, p, d = _conv_arguments(in_size, kernel_size, stride, padding, dilation)
    out = []
    for n, k, si, pi, di in zip(grid, kernel, s, p, d, strict=True):
        reach = di * (k - 1) + 1
        if n + 2 * pi < reach:
            raise ValueError(f"kernel_size: expected a dilated kernel of at most the padded "
                             f"size {n + 2 * pi} on every axis, received one of {reach}")
        out.append((n + 2 * pi - reach) // si + 1)
    target, source, param = _window(tuple(out), grid, kernel, s, p, d, "in_size, kernel_size")
    return Span(source, target, param, None, math.prod(grid), math.prod(out), math.prod(kernel))


def conv_transpose(in_size: Sequence[int], kernel_size: int | Sequence[int],
                   stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                   dilation: int | Sequence[int] = 1,
                   output_padding: int | Sequence[int] = 0) -> Span:
    """The transposed convolution on the grid ``in_size`` (torch's ``conv_transposeNd``).

    ``y[i * stride - padding + k * dilation] += w[k] x[i]``, on the output grid of
    ``(n - 1) s - 2 p + d (k - 1) + output_padding + 1`` points per axis: the transpose of
    :func:`conv` on that grid. For ``W [c_in, c_out, *kernel]`` the block ``w`` is
    ``W.flatten(2).permute(2, 0, 1)``.

    Raises:
        TypeError: an argument that is not an int (or ints).
        ValueError: a value out of range (``output_padding`` must be smaller than ``stride``
            or ``dilation``, as in torch), an empty output grid, or index tensors that do not
            fit in memory.
    """
    grid, kernel, s, p, d = _conv_arguments(in_size, kernel_size, stride, padding, dilation)
    extra = _ints(output_padding, "output_padding", len(grid), 0)
    out = []
    for n, k, si, pi, di, e in zip(grid, kernel, s, p, d, extra, strict=True):
        if e >= max(si, di):
            raise ValueError(f"output_padding: expected values smaller than stride or "
                             f"dilation ({max(si, di)}), received {e}")
        size = (n - 1) * si - 2 * pi + di * (k - 1) + e + 1
        if size < 1:
            raise ValueError(f"padding: expected an output grid of at least one point, "
                             f"received padding {pi}, which gives {size} points")
        out.append(size)
    _check_elements(math.prod(out), "in_size, kernel_size, stride, dilation, output_padding")
    source, target, param = _window(grid, tuple(out), kernel, s, p, d, "in_size, kernel_size")
    return Span(source, target, param, None, math.prod(grid), math.prod(out), math.prod(kernel))


def grouped_weight(weight: Tensor, groups: int) -> Tensor:
    """The block-form ``w [prod(kernel), c_in, c_out]`` of a grouped convolution's weight.

    ``weight`` is torch's ``[c_out, c_in / groups, *kernel]``; the result is block diagonal
    in ``(c_in, c_out)``: group ``g`` maps its ``c_in / groups`` channels to its
    ``c_out / groups``, so ``conv(...)`` applied to it is the grouped convolution.

    Raises:
        TypeError: ``weight`` is not a floating tensor, ``groups`` not an int.
        ValueError: ``weight`` of rank below 3, or ``c_out`` not divisible by ``groups``.
    """
    check_tensor(weight, "weight", rank=(3, 4, 5), layout="[c_out, c_in / groups, *kernel]")
    g = check_int(groups, "groups", minimum=1)
    c_out, c_group = weight.shape[0], weight.shape[1]
    if c_out % g:
        raise ValueError(f"groups: expected a divisor of c_out = {c_out}, received {g}")
    o_group = c_out // g
    check_memory(math.prod(weight.shape[2:]) * c_group * g * c_out * weight.element_size(),
                 "weight, groups", "the block-diagonal weight")
    blocks = weight.flatten(2).permute(2, 1, 0)  # [K, c_in / g, c_out]
    w = weight.new_zeros(blocks.shape[0], c_group * g, c_out)
    for j in range(g):
        rows, cols = slice(j * c_group, (j + 1) * c_group), slice(j * o_group, (j + 1) * o_group)
        w[:, rows, cols] = blocks[:, :, cols]
    return w


def depthwise(in_size: Sequence[int], channels: int, kernel_size: int | Sequence[int],
              stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
              dilation: int | Sequence[int] = 1) -> Span:
    """The depthwise convolution (``groups == channels``, one filter per channel) as a
    scalar span over (channel, point) pairs.

    ``y[c, o] = sum_k w[c, k] x[c, o * stride - padding + k * dilation]``; points are
    flattened channel-major (``c * points + p``, torch's ``x.flatten(1)`` of ``[B, C, *grid]``)
    and ``pi = c * prod(kernel) + k`` (``w = W.flatten()`` of torch's ``W [C, 1, *kernel]``).

    Raises:
        TypeError, ValueError: as :func:`conv`, and for ``channels`` below 1.
    """
    c = check_int(channels, "channels", minimum=1)
    base = conv(in_size, kernel_size, stride, padding, dilation)
    _check_elements(base.size * c, "channels")
    ch = torch.arange(c).view(-1, 1)
    source = (ch * base.in_size + base.source.view(1, -1)).reshape(-1)
    target = (ch * base.out_size + base.target.view(1, -1)).reshape(-1)
    param = (ch * base.param_size + base.param.view(1, -1)).reshape(-1)
    return Span(source, target, param, None, c * base.in_size, c * base.out_size,
                c * base.param_size)


def graph(edge_index: Tensor, num_nodes: int, edge_type: Tensor | None = None,
          num_types: int = 1, normalize: str | None = None, *,
          dtype: torch.dtype | None = None) -> Span:
    """Message passing on a graph: ``y[v] = sum_{(u, v) in E} nu_uv w[type_uv] x[u]``.

    ``edge_index [2, E]`` holds the source (row 0) and target (row 1) node of each edge; the
    span's ``pi`` is ``edge_type`` (``[E]``, all 0 when omitted), so the block form with
    ``w [num_types, c_in, c_out]`` is a relational graph convolution. ``normalize``: None
    (``nu = 1``), ``"mean"`` (``nu = 1 / indeg(v)``, the mean over the incoming edges) or
    ``"sym"`` (``nu = 1 / sqrt(outdeg(u) indeg(v))``); degrees count edges of every type,
    and ``nu`` is computed in float64 and stored in ``dtype`` (default torch's default
    dtype), which must then be that of ``w`` when the span is applied.

    Raises:
        TypeError: ``edge_index``/``edge_type`` not integer tensors, a size not an int.
        ValueError: a shape that does not match, node indices outside ``[0, num_nodes)``,
            types outside ``[0, num_types)``, an unknown ``normalize``.
    """
    n = check_int(num_nodes, "num_nodes", minimum=1)
    k = check_int(num_types, "num_types", minimum=1)
    norm = check_choice(normalize, "normalize", (None, "mean", "sym"))
    dtype = check_dtype(dtype, "dtype", optional=True) or torch.get_default_dtype()
    check_memory(n * 24, "num_nodes", "the degrees of the nodes")
    check_tensor(edge_index, "edge_index", shape=(2, None), layout="[2, E]", dtypes=INTS)
    _check_values(edge_index, "edge_index")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise ValueError(f"edge_index: expected node indices in [0, {n}), received values in "
                         f"[{int(edge_index.min())}, {int(edge_index.max())}]")
    e = edge_index.shape[1]
    if edge_type is None:
        param = torch.zeros(e, dtype=LONG, device=edge_index.device)
    else:
        check_tensor(edge_type, "edge_type", shape=(e,), layout="[E]", dtypes=INTS)
        _check_values(edge_type, "edge_type")
        if edge_type.device != edge_index.device:
            raise ValueError(f"edge_type: expected a tensor on {edge_index.device} (that of "
                             f"edge_index), received one on {edge_type.device}")
        if e and (int(edge_type.min()) < 0 or int(edge_type.max()) >= k):
            raise ValueError(f"edge_type: expected types in [0, {k}), received values in "
                             f"[{int(edge_type.min())}, {int(edge_type.max())}]")
        param = edge_type.to(LONG)
    source, target = edge_index[0].to(LONG), edge_index[1].to(LONG)
    weight = None
    if norm is not None:
        indeg = torch.bincount(target, minlength=n).to(torch.float64)
        if norm == "mean":
            weight = 1.0 / indeg[target]
        else:
            outdeg = torch.bincount(source, minlength=n).to(indeg.dtype)
            weight = (outdeg[source] * indeg[target]).rsqrt()
        weight = weight.to(dtype)
    return Span(source, target, param, weight, n, n, k)


def group_conv(group: object) -> Span:
    """The regular group convolution on a finite group: ``y[g] = sum_h w[h^{-1} g] x[h]``.

    ``group`` is a :class:`prodint.groups.Group` or its Cayley table (``[n, n]`` integers,
    ``table[a, b] = a * b``). ``E = G x G``, ``s(h, g) = h``, ``t(h, g) = g``,
    ``pi(h, g) = h^{-1} g``; the layer commutes with the left translations of ``G`` (in the
    group algebra it is ``x * w``).

    Raises:
        TypeError: neither a Group nor an integer table.
        ValueError: a table that is not a group's, or ``n^2`` elements that do not fit.
    """
    from prodint.groups import Group

    if not isinstance(group, Group):
        if not isinstance(group, Tensor | list | tuple):
            check_instance(group, "group", Group, name="prodint.groups.Group or a Cayley table")
        try:
            group = Group.from_cayley_table(group)
        except (TypeError, ValueError) as error:
            raise type(error)(f"group: {error}") from None
    n = group.order
    _check_elements(n * n, "group")
    h, g = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    h, g = h.reshape(-1), g.reshape(-1)
    return Span(h, g, group.table[group.inverse[h], g], None, n, n, n)


def from_algebra(algebra: object) -> Span:
    """Left multiplication in an algebra given by structure constants, as a span.

    ``E`` = the nonzero ``Γ[a, b, c]`` (``e_a e_b = sum_c Γ[a, b, c] e_c``), ``pi = a``,
    ``s = b``, ``t = c``, ``nu = Γ[a, b, c]``: ``span(a, x) == algebra.mul(a, x)`` for
    ``a [n]`` and ``x [..., n]`` (in the algebra's dtype and on its device).

    Raises:
        TypeError: ``algebra`` is not a :class:`prodint.algebra.Algebra`.
    """
    from prodint.algebra import Algebra

    alg = check_instance(algebra, "algebra", Algebra, name="prodint.algebra.Algebra")
    a, b, c = alg.triples.to(LONG).unbind(-1)
    return Span(b, c, a, alg.values, alg.dim, alg.dim, alg.dim)

"""Multi-head softmax attention as an order-3 product interaction, with torch's semantics.

``o = Σ_{h,e} softmax_s(Q_h K_hᵀ / √d + M) V_h Wo + bo`` with ``Q = X_q Wqᵀ + bq`` (likewise
``K``, ``V``) split into heads, and ``M`` the additive mask (key padding, attention mask,
causal), an order-0 side input. ``forward`` dispatches to
``F.scaled_dot_product_attention``; :meth:`general` runs the expression.

Parameters use torch's layout: ``Wq, Wk, Wv: [embed, in]`` (the three blocks of
``in_proj_weight`` or the separate ``*_proj_weight``), ``Wo: [embed, embed]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.interaction import (
    Contract,
    Expr,
    MergeAxes,
    Parameter,
    Permute,
    Pointwise,
    Rename,
    Scale,
    Signal,
    SplitAxis,
    Sum,
)
from prodint.interaction.layer import InteractionLayer
from prodint.zoo.registry import register_converter


def projection(x: Expr, weight: str, bias: str | None, out: int, in_axis: str,
               out_axis: str) -> Expr:
    """``Σ_c x[..., c] W[o, c] (+ b[o])`` with torch's ``[out, in]`` weight layout."""
    size = x.axes[x.axis_names.index(in_axis)].size
    w = Parameter(weight, [(out_axis, out), (in_axis, size)], init="uniform", fan_in=(in_axis,))
    y: Expr = Contract(x, w, over=in_axis)
    if bias is not None:
        y = Sum(y, Parameter(bias, [(out_axis, out)], init="zeros"))
    return y


def attention_expression(query: Expr, key: Expr, value: Expr, mask: Expr | None,
                         embed: int, heads: int, bias: bool, prefix: str = "") -> Expr:
    """Multi-head attention over ``query[t, cq]``, ``key[s, ck]``, ``value[s, cv]``.

    ``mask`` is an additive ``[h, t, s]`` term (``-inf`` where attention is not allowed).
    Parameters are named ``{prefix}Wq, {prefix}bq, …, {prefix}Wo, {prefix}bo``.
    """
    d = embed // heads

    def heads_of(x: Expr, name: str, axis: str, position: str) -> Expr:
        in_axis = x.axis_names[-1]
        y = projection(x, f"{prefix}W{name}", f"{prefix}b{name}" if bias else None, embed,
                       in_axis, "p")
        y = SplitAxis(y, "p", [("h", heads), (axis, d)])
        return y if position == "t" else Rename(y, {"t": "s"})

    q = heads_of(query, "q", "d", "t")
    k = heads_of(key, "k", "d", "s")
    v = heads_of(value, "v", "e", "s")
    scores: Expr = Scale(Contract(q, k, over="d"), 1.0 / math.sqrt(d))  # [t, h, s]
    if mask is not None:
        scores = Sum(scores, mask)
    weights = Pointwise("softmax", scores, "s")
    merged = MergeAxes(Permute(Contract(weights, v, over="s"), ("t", "h", "e")), ["h", "e"], "p")
    out = projection(merged, f"{prefix}Wo", f"{prefix}bo" if bias else None, embed, "p", "o")
    return Rename(out, {"o": "m"})


def additive_mask(batch: int, heads: int, length: int, source: int, *,
                  key_padding_mask: Tensor | None, attn_mask: Tensor | None, is_causal: bool,
                  dtype: torch.dtype, device: torch.device) -> Tensor | None:
    """Combine torch-style masks into one additive ``[B, H, L, S]`` float mask (or ``None``).

    Boolean masks mark positions *not* allowed with ``True`` (they get ``-inf``); float masks
    are added. ``key_padding_mask`` is ``[B, S]``; ``attn_mask`` is ``[L, S]`` or
    ``[B·H, L, S]``.
    """
    total: Tensor | None = None

    def add(m: Tensor) -> None:
        nonlocal total
        total = m if total is None else total + m

    def to_float(m: Tensor) -> Tensor:
        if m.dtype == torch.bool:
            return torch.zeros(m.shape, dtype=dtype, device=device).masked_fill(m, float("-inf"))
        return m.to(dtype)

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (batch, source):
            raise ValueError(f"key_padding_mask: expected shape ({batch}, {source}), received "
                             f"{tuple(key_padding_mask.shape)}")
        add(to_float(key_padding_mask).view(batch, 1, 1, source))
    if attn_mask is not None:
        if tuple(attn_mask.shape) == (length, source):
            add(to_float(attn_mask).view(1, 1, length, source))
        elif tuple(attn_mask.shape) == (batch * heads, length, source):
            add(to_float(attn_mask).view(batch, heads, length, source))
        else:
            raise ValueError(f"attn_mask: expected shape ({length}, {source}) or "
                             f"({batch * heads}, {length}, {source}), received "
                             f"{tuple(attn_mask.shape)}")
    if is_causal:
        causal = torch.ones(length, source, dtype=torch.bool, device=device).triu(1)
        add(to_float(causal).view(1, 1, length, source))
    return total


class MultiheadAttention(InteractionLayer):
    """Drop-in for ``nn.MultiheadAttention`` (no ``add_bias_kv``/``add_zero_attn``).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights | None)`` as torch
    does; inputs are ``[L, B, E]`` or, with ``batch_first``, ``[B, L, E]``. Dropout on the
    attention weights applies in training mode only (the expression is the eval-mode map).
    """

    def __init__(self, embed_dim: int, num_heads: int, *, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 dropout: float = 0.0) -> None:
        if embed_dim % num_heads:
            raise ValueError(f"num_heads: expected a divisor of embed_dim={embed_dim}, "
                             f"received {num_heads}")
        kdim, vdim = kdim or embed_dim, vdim or embed_dim
        query = Signal("query", [("t", None), ("cq", embed_dim)])
        # key and value run along their own positions; the expression renames them to s
        key = Signal("key", [("t", None), ("ck", kdim)])
        value = Signal("value", [("t", None), ("cv", vdim)])
        mask = Signal("mask", [("h", num_heads), ("t", None), ("s", None)], order=0)
        super().__init__(attention_expression(query, key, value, mask, embed_dim, num_heads,
                                              bias))
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim, self.vdim = kdim, vdim
        self.batch_first, self.dropout, self.bias = batch_first, dropout, bias

    def _check(self, x: Tensor, argument: str, features: int) -> Tensor:
        if x.dim() not in (2, 3) or x.shape[-1] != features:
            layout = "[B, L, E]" if self.batch_first else "[L, B, E]"
            raise ValueError(f"{argument}: expected {layout} (or unbatched [L, E]) with E = "
                             f"{features}, received {tuple(x.shape)}")
        if x.dim() == 2:
            return x.unsqueeze(0)
        return x if self.batch_first else x.transpose(0, 1)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, *,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False, general: bool = False) -> tuple[Tensor, Tensor | None]:
        unbatched = query.dim() == 2
        q = self._check(query, "query", self.embed_dim)
        k = self._check(key, "key", self.kdim)
        v = self._check(value, "value", self.vdim)
        if unbatched and key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
        b, length, source = q.shape[0], q.shape[1], k.shape[1]
        mask = additive_mask(b, self.num_heads, length, source,
                             key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                             is_causal=is_causal, dtype=q.dtype, device=q.device)
        weights = None
        if general or need_weights:
            full = mask if mask is not None else q.new_zeros(1, 1, length, source)
            full = full.expand(b, self.num_heads, length, source)
            out = self.general(query=q, key=k, value=v, mask=full) if general \
                else self._native(q, k, v, mask)
            if need_weights:
                weights = self._weights(q, k, full)
                if average_attn_weights:
                    weights = weights.mean(1)
        else:
            out = self._native(q, k, v, mask)
        if unbatched:
            return out.squeeze(0), None if weights is None else weights.squeeze(0)
        return (out if self.batch_first else out.transpose(0, 1)), weights

    def _native(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        p = self.dropout if self.training else 0.0
        return native_attention(q, k, v, mask, self.param, self.num_heads, self.bias, p)

    def _weights(self, q: Tensor, k: Tensor, mask: Tensor) -> Tensor:
        h, d = self.num_heads, self.embed_dim // self.num_heads
        qh = _linear(q, self.param, "q", self.bias).unflatten(-1, (h, d)).transpose(1, 2)
        kh = _linear(k, self.param, "k", self.bias).unflatten(-1, (h, d)).transpose(1, 2)
        return torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(d) + mask, dim=-1)


def _linear(x: Tensor, param: Callable[[str], Tensor], which: str, bias: bool) -> Tensor:
    return F.linear(x, param(f"W{which}"), param(f"b{which}") if bias else None)


def native_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None,
                     param: Callable[[str], Tensor], heads: int, bias: bool,
                     dropout_p: float = 0.0) -> Tensor:
    """The attention map with torch's kernels: projections by ``F.linear``, heads by
    ``F.scaled_dot_product_attention``. ``param(name)`` returns ``Wq, bq, …, Wo, bo``;
    inputs are batch-first ``[B, L, ·]`` and ``mask`` an additive ``[B, H, L, S]`` term."""
    b, length, _ = q.shape
    embed = param("Wq").shape[0]
    d = embed // heads

    def split(x: Tensor) -> Tensor:
        return x.unflatten(-1, (heads, d)).transpose(1, 2)

    qh, kh, vh = (split(_linear(x, param, w, bias)) for x, w in ((q, "q"), (k, "k"), (v, "v")))
    o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask, dropout_p=dropout_p)
    return _linear(o.transpose(1, 2).reshape(b, length, embed), param, "o", bias)


@register_converter(nn.MultiheadAttention)
def _from_mha(module: nn.MultiheadAttention) -> MultiheadAttention:
    if module.bias_k is not None:
        raise ValueError("add_bias_kv: expected False, received True (not supported)")
    if module.add_zero_attn:
        raise ValueError("add_zero_attn: expected False, received True (not supported)")
    e = module.embed_dim
    bias = module.in_proj_bias is not None
    layer = MultiheadAttention(e, module.num_heads, bias=bias, kdim=module.kdim,
                               vdim=module.vdim, batch_first=module.batch_first,
                               dropout=module.dropout)
    layer.train(module.training)
    weight = module.out_proj.weight
    layer.to(weight.dtype)
    if module.in_proj_weight is not None:
        wq, wk, wv = module.in_proj_weight.chunk(3)
    else:
        wq, wk, wv = module.q_proj_weight, module.k_proj_weight, module.v_proj_weight
    layer.load_tensors(Wq=wq, Wk=wk, Wv=wv, Wo=weight)
    if bias:
        bq, bk, bv = module.in_proj_bias.chunk(3)
        layer.load_tensors(bq=bq, bk=bk, bv=bv, bo=module.out_proj.bias)
    return layer

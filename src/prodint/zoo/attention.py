"""Multi-head softmax attention as an order-3 product interaction, with torch's semantics.

``o = Σ_{h,e} softmax_s(Q_h K_hᵀ / √d + M) V_h Wo + bo`` with ``Q = X_q Wqᵀ + bq`` (likewise
``K``, ``V``) split into heads, and ``M`` the additive mask (key padding, attention mask,
causal), an order-0 side input.

One wrapper (layout, masks, head averaging) runs around three executors: ``forward`` uses
torch's kernels (``F.linear`` and ``F.scaled_dot_product_attention``), :meth:`general` the
compiled expression and :meth:`reference` its node-by-node evaluation. The attention weights
that torch returns are the expression's softmax node, :attr:`MultiheadAttention.
weights_expression`, executed the same way.

Parameters use torch's layout: ``Wq, Wk, Wv: [embed, in]`` (the three blocks of
``in_proj_weight`` or the separate ``*_proj_weight``), ``Wo: [embed, embed]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.checks import (
    check_bool,
    check_float,
    check_int,
    check_layer_input,
    check_layer_options,
    check_parameter_memory,
    check_tensor,
)
from prodint.interaction import (
    Contract,
    Expr,
    MergeAxes,
    Permute,
    Pointwise,
    Rename,
    Scale,
    Signal,
    Sum,
    evaluate,
)
from prodint.interaction.compile import Plan
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.library import head_projection, projection
from prodint.zoo.registry import copy_from, register_converter


def attention_weights(query: Expr, key: Expr, mask: Expr | None, embed: int, heads: int,
                      bias: bool, prefix: str = "") -> Expr:
    """``softmax_s(Q_h K_hᵀ / √d + M)`` over ``query[t, cq]``, ``key[t, ck]``: ``[t, h, s]``.

    ``key`` runs along its own positions, renamed ``s`` here; ``mask`` is an additive
    ``[h, t, s]`` term (``-inf`` where attention is not allowed). Parameters
    ``{prefix}Wq, {prefix}bq, {prefix}Wk, {prefix}bk`` in torch's ``[out, in]`` layout.
    """
    d = embed // heads
    q = head_projection(query, f"{prefix}Wq", heads, d, axis=query.axis_names[-1],
                        bias=f"{prefix}bq" if bias else None, torch_layout=True)
    k = head_projection(key, f"{prefix}Wk", heads, d, axis=key.axis_names[-1],
                        bias=f"{prefix}bk" if bias else None, torch_layout=True)
    scores: Expr = Scale(Contract(q, Rename(k, {"t": "s"}), over="d"), 1.0 / math.sqrt(d))
    if mask is not None:
        scores = Sum(scores, mask)
    return Pointwise("softmax", scores, "s")


def attention_output(weights: Expr, value: Expr, embed: int, heads: int, bias: bool,
                     prefix: str = "") -> Expr:
    """``Σ_{h,e,s} weights[t, h, s] V_h[s, e] Wo + bo`` over ``value[t, cv]``: ``[t, m]``."""
    v = head_projection(value, f"{prefix}Wv", heads, embed // heads, axis=value.axis_names[-1],
                        head_axis="e", bias=f"{prefix}bv" if bias else None, torch_layout=True)
    mixed = Contract(weights, Rename(v, {"t": "s"}), over="s")
    merged = MergeAxes(Permute(mixed, ("t", "h", "e")), ["h", "e"], "p")
    out = projection(merged, f"{prefix}Wo", embed, axis="p", out_axis="o",
                     bias=f"{prefix}bo" if bias else None, torch_layout=True)
    return Rename(out, {"o": "m"})


def attention_expression(query: Expr, key: Expr, value: Expr, mask: Expr | None,
                         embed: int, heads: int, bias: bool, prefix: str = "") -> Expr:
    """Multi-head attention over ``query[t, cq]``, ``key[t, ck]``, ``value[t, cv]`` (key and
    value along their own positions): :func:`attention_output` of :func:`attention_weights`.

    Parameters are named ``{prefix}Wq, {prefix}bq, …, {prefix}Wo, {prefix}bo``.
    """
    weights = attention_weights(query, key, mask, embed, heads, bias, prefix)
    return attention_output(weights, value, embed, heads, bias, prefix)


def additive_mask(batch: int, heads: int, length: int, source: int, *,
                  key_padding_mask: Tensor | None, attn_mask: Tensor | None, is_causal: bool,
                  dtype: torch.dtype, device: torch.device,
                  names: tuple[str, str, str] = ("key_padding_mask", "attn_mask",
                                                 "query, key")) -> Tensor | None:
    """Combine torch-style masks into one additive ``[B, H, L, S]`` float mask (or ``None``).

    Boolean masks mark positions *not* allowed with ``True`` (they get ``-inf``); float masks
    are added. ``key_padding_mask`` is ``[B, S]``; ``attn_mask`` is ``[L, S]`` or
    ``[B·H, L, S]``; both on ``device``. ``names`` are the masks' argument names and the
    inputs' that give ``B, L, S``, for messages.

    Raises:
        TypeError: a mask that is not a tensor, or of a dtype other than bool or floating.
        ValueError: a mask of another shape, or on another device.
    """
    total: Tensor | None = None
    for name, m in zip(names, (key_padding_mask, attn_mask), strict=False):
        if m is not None:
            check_tensor(m, name, dtypes=(torch.bool, torch.float16, torch.bfloat16,
                                          torch.float32, torch.float64))
            if m.device != device:
                raise ValueError(f"{name}: expected a tensor on {device} (that of the "
                                 f"inputs), received one on {m.device}")

    def add(m: Tensor) -> None:
        nonlocal total
        total = m if total is None else total + m

    def to_float(m: Tensor) -> Tensor:
        if m.dtype == torch.bool:
            return torch.zeros(m.shape, dtype=dtype, device=device).masked_fill(m, float("-inf"))
        return m.to(dtype)

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (batch, source):
            raise ValueError(f"{names[0]}: expected shape ({batch}, {source}) (batch and "
                             f"source length of {names[2]}), received "
                             f"{tuple(key_padding_mask.shape)}")
        add(to_float(key_padding_mask).view(batch, 1, 1, source))
    if attn_mask is not None:
        if tuple(attn_mask.shape) == (length, source):
            add(to_float(attn_mask).view(1, 1, length, source))
        elif tuple(attn_mask.shape) == (batch * heads, length, source):
            add(to_float(attn_mask).view(batch, heads, length, source))
        else:
            raise ValueError(f"{names[1]}: expected shape ({length}, {source}) or "
                             f"({batch * heads}, {length}, {source}) (lengths and batch·heads "
                             f"of {names[2]}), received {tuple(attn_mask.shape)}")
    if is_causal:
        causal = torch.ones(length, source, dtype=torch.bool, device=device).triu(1)
        add(to_float(causal).view(1, 1, length, source))
    return total


class MultiheadAttention(InteractionLayer):
    """Drop-in for ``nn.MultiheadAttention`` (no ``add_bias_kv``/``add_zero_attn``).

    ``forward``, :meth:`general` and :meth:`reference` take torch's arguments
    ``(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` and return ``(output, weights | None)`` as
    torch does: inputs ``[L, B, E]`` or, with ``batch_first``, ``[B, L, E]`` (or unbatched
    ``[L, E]``); weights ``[B, L, S]`` (``[B, H, L, S]`` unaveraged). Dropout on the attention
    weights applies in ``forward`` in training mode only: the expression is the eval-mode map.

    Attributes:
        expression: the output over the signals ``query[t, cq]``, ``key[t, ck]``,
            ``value[t, cv]`` and the order-0 additive ``mask[h, t, s]``.
        weights_expression: its softmax node, the attention weights ``[t, h, s]``.

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, an input that is
            not a tensor of the layer's dtype, a mask of an integer dtype.
        ValueError: a size below 1, ``num_heads`` not dividing ``embed_dim``, ``dropout``
            outside ``[0, 1]``, parameters that would not fit in memory, inputs whose
            shapes, batch sizes, lengths or devices disagree.
    """

    def __init__(self, embed_dim: int, num_heads: int, *, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 dropout: float = 0.0, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_int(embed_dim, "embed_dim", minimum=1)
        check_int(num_heads, "num_heads", minimum=1)
        if embed_dim % num_heads:
            raise ValueError(f"num_heads: expected a divisor of embed_dim={embed_dim}, "
                             f"received {num_heads}")
        kdim = embed_dim if kdim is None else check_int(kdim, "kdim", minimum=1)
        vdim = embed_dim if vdim is None else check_int(vdim, "vdim", minimum=1)
        for name, flag in (("bias", bias), ("batch_first", batch_first)):
            check_bool(flag, name)
        check_float(dropout, "dropout", minimum=0.0, maximum=1.0)
        check_layer_options(device, dtype, generator)
        check_parameter_memory((2 * embed_dim + kdim + vdim + 4) * embed_dim,
                         "embed_dim, kdim, vdim", dtype)
        query = Signal("query", [("t", None), ("cq", embed_dim)])
        key = Signal("key", [("t", None), ("ck", kdim)])
        value = Signal("value", [("t", None), ("cv", vdim)])
        mask = Signal("mask", [("h", num_heads), ("t", None), ("s", None)], order=0)
        weights = attention_weights(query, key, mask, embed_dim, num_heads, bias)
        super().__init__(attention_output(weights, value, embed_dim, num_heads, bias),
                         device=device, dtype=dtype, generator=generator)
        self.weights_expression = weights
        self._weights_plan = Plan(weights)
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim, self.vdim = kdim, vdim
        self.batch_first, self.dropout, self.bias = batch_first, dropout, bias

    def _check(self, x: Tensor, argument: str, features: str, rank: int | None = None
               ) -> Tensor:
        """``x`` batch-first ``[B, L, E]`` with ``E`` the attribute ``features``; ``rank``
        that of the query, which the key and the value must share (batched or not)."""
        layout = "[B, L, E]" if self.batch_first else "[L, B, E]"
        x = check_layer_input(x, argument, self.param("Wq"), rank=(2, 3),
                        layout=f"{layout} (or unbatched [L, E])")
        if rank is not None and x.dim() != rank:
            raise ValueError(f"{argument}: expected rank {rank} (that of query: both batched "
                             f"or both unbatched), received shape {tuple(x.shape)}")
        size = getattr(self, features)
        if x.shape[-1] != size:
            raise ValueError(f"{argument}: expected {layout} (or unbatched [L, E]) with E = "
                             f"{features} = {size}, received {tuple(x.shape)}")
        if x.dim() == 2:
            return x.unsqueeze(0)
        return x if self.batch_first else x.transpose(0, 1)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """torch's kernels (module doc)."""
        return self._attend("native", query, key, value, key_padding_mask, need_weights,
                            attn_mask, average_attn_weights, is_causal)

    def general(self, query: Tensor, key: Tensor, value: Tensor,  # type: ignore[override]
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """``forward``'s results by the compiled expression (and weights expression)."""
        return self._attend("plan", query, key, value, key_padding_mask, need_weights,
                            attn_mask, average_attn_weights, is_causal)

    def reference(self, query: Tensor, key: Tensor, value: Tensor,  # type: ignore[override]
                  key_padding_mask: Tensor | None = None, need_weights: bool = True,
                  attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                  is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """``forward``'s results by the node-by-node evaluation of the expression."""
        return self._attend("reference", query, key, value, key_padding_mask, need_weights,
                            attn_mask, average_attn_weights, is_causal)

    def _attend(self, path: str, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None, need_weights: bool, attn_mask: Tensor | None,
                average_attn_weights: bool, is_causal: bool) -> tuple[Tensor, Tensor | None]:
        """The wrapper shared by the three paths: layout and masks around one executor."""
        for name, flag in (("need_weights", need_weights),
                           ("average_attn_weights", average_attn_weights),
                           ("is_causal", is_causal)):
            check_bool(flag, name)
        q = self._check(query, "query", "embed_dim")
        unbatched = query.dim() == 2
        k = self._check(key, "key", "kdim", query.dim())
        v = self._check(value, "value", "vdim", query.dim())
        if k.shape[0] != q.shape[0]:
            raise ValueError(f"key: expected the batch size of query ({q.shape[0]}), received "
                             f"shape {tuple(key.shape)}")
        if v.shape[:2] != k.shape[:2]:
            raise ValueError(f"value: expected the batch size and length of key "
                             f"{tuple(k.shape[:2])} (batch first), received shape "
                             f"{tuple(value.shape)}")
        if unbatched and isinstance(key_padding_mask, Tensor):
            key_padding_mask = key_padding_mask.unsqueeze(0)
        b, length, source = q.shape[0], q.shape[1], k.shape[1]
        mask = additive_mask(b, self.num_heads, length, source,
                             key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                             is_causal=is_causal, dtype=q.dtype, device=q.device)
        weights = None
        if path == "native":
            out = self._native(q, k, v, mask)
            if need_weights:
                weights = self._native_weights(q, k, mask)
        else:
            full = mask if mask is not None else q.new_zeros(1, 1, length, source)
            full = full.expand(b, self.num_heads, length, source)
            run = self.run_plan if path == "plan" else self.run_reference
            out = run(query=q, key=k, value=v, mask=full)
            if need_weights:
                weights = self._expression_weights(path, q, k, full)
        if weights is not None and average_attn_weights:
            weights = weights.mean(1)
        if unbatched:
            return out.squeeze(0), None if weights is None else weights.squeeze(0)
        return (out if self.batch_first else out.transpose(0, 1)), weights

    def _native(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        p = self.dropout if self.training else 0.0
        return native_attention(q, k, v, mask, self.param, self.num_heads, self.bias, p)

    def _expression_weights(self, path: str, q: Tensor, k: Tensor, mask: Tensor) -> Tensor:
        """:attr:`weights_expression` compiled (``path="plan"``) or node by node: torch's
        ``[B, H, L, S]``."""
        signals = {"query": q, "key": k, "mask": mask}
        if path == "plan":
            bound = self._weights_plan.bind((), signals)
            weights = self._weights_plan.run(bound, self.params, self.tables())
        else:
            weights = evaluate(self.weights_expression, signals, dict(self.params),
                               self.tables())
        return weights.transpose(1, 2)  # the expression's [B, t, h, s]

    def _native_weights(self, q: Tensor, k: Tensor, mask: Tensor | None) -> Tensor:
        """``softmax(Q_h K_hᵀ/√d + M)`` with torch's functions: ``[B, H, L, S]``."""
        h, d = self.num_heads, self.embed_dim // self.num_heads
        qh = _linear(q, self.param, "q", self.bias).unflatten(-1, (h, d)).transpose(1, 2)
        kh = _linear(k, self.param, "k", self.bias).unflatten(-1, (h, d)).transpose(1, 2)
        scores = qh @ kh.transpose(-1, -2) / math.sqrt(d)
        return torch.softmax(scores if mask is None else scores + mask, dim=-1)

    def extra_repr(self) -> str:
        return (f"{self.embed_dim}, num_heads={self.num_heads}, kdim={self.kdim}, "
                f"vdim={self.vdim}, batch_first={self.batch_first}, dropout={self.dropout}, "
                f"{super().extra_repr()}")


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
    if module.in_proj_weight is not None:
        wq, wk, wv = module.in_proj_weight.chunk(3)
    else:
        wq, wk, wv = module.q_proj_weight, module.k_proj_weight, module.v_proj_weight
    bq, bk, bv = module.in_proj_bias.chunk(3) if bias else (None, None, None)
    return copy_from(layer, module, Wq=wq, Wk=wk, Wv=wv, Wo=module.out_proj.weight, bq=bq,
                     bk=bk, bv=bv, bo=module.out_proj.bias)

"""The transformer encoder layer as one product interaction (order 3).

Post-norm (torch's default): ``z = LN1(x + MHA(x, x, x)); y = LN2(z + W2 act(W1 z + b1) + b2)``;
pre-norm (``norm_first``): ``z = x + MHA(LN1 x); y = z + FFN(LN2 z)``. Layer norms are a
pointwise normalisation followed by the Hadamard product with the learned scale, plus a shift.
The attention sub-layer is order 3; residual sums keep the maximum, the feed-forward network
(order-preserving maps and a pointwise activation) keeps it, so the layer is order 3.

One wrapper (layout, masks) runs around three executors: ``forward`` uses torch's kernels
(SDPA and the fused functions), :meth:`~TransformerEncoderLayer.general` the compiled
expression and :meth:`~TransformerEncoderLayer.reference` its node-by-node evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.algebra import hadamard
from prodint.checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_layer_input,
    check_layer_options,
    check_parameter_memory,
)
from prodint.interaction import Expr, Parameter, Pointwise, Product, Rename, Signal, Sum
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.library import projection
from prodint.zoo.attention import additive_mask, attention_expression, native_attention
from prodint.zoo.registry import copy_from, register_converter

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _layer_norm(x: Expr, prefix: str, width: int, eps: float, bias: bool) -> Expr:
    scale = Parameter(f"{prefix}_weight", [("m", width)], init="ones")
    normed = Product(Pointwise("layernorm", x, "m", eps=eps), scale, hadamard(width), "m")
    return Sum(normed, Parameter(f"{prefix}_bias", [("m", width)], init="zeros")) \
        if bias else normed


def encoder_expression(width: int, heads: int, hidden: int, activation: str, eps: float,
                       norm_first: bool, bias: bool) -> Expr:
    """The encoder layer over ``X[t, m]`` with an additive ``mask[h, t, s]`` side input."""
    x = Signal("X", [("t", None), ("m", width)])
    mask = Signal("mask", [("h", heads), ("t", None), ("s", None)], order=0)

    def attend(u: Expr) -> Expr:
        return attention_expression(u, u, u, mask, width, heads, bias, prefix="attn_")

    def feed_forward(u: Expr) -> Expr:
        h = projection(u, "W1", hidden, axis="m", out_axis="f", bias="b1" if bias else None,
                       torch_layout=True)
        h = Pointwise(activation, h)
        return Rename(projection(h, "W2", width, axis="f", out_axis="o",
                                 bias="b2" if bias else None, torch_layout=True), {"o": "m"})

    if norm_first:
        z = Sum(x, attend(_layer_norm(x, "norm1", width, eps, bias)))
        return Sum(z, feed_forward(_layer_norm(z, "norm2", width, eps, bias)))
    z = _layer_norm(Sum(x, attend(x)), "norm1", width, eps, bias)
    return _layer_norm(Sum(z, feed_forward(z)), "norm2", width, eps, bias)


class TransformerEncoderLayer(InteractionLayer):
    """Drop-in for ``nn.TransformerEncoderLayer`` with ReLU or GELU activation.

    ``forward``, :meth:`general` and :meth:`reference` take torch's arguments ``(src,
    src_mask=None, src_key_padding_mask=None, is_causal=False)``; ``src`` is ``[L, B, E]`` or,
    with ``batch_first``, ``[B, L, E]``, and so is the result. Dropout applies in ``forward``
    in training mode only: the expression is the eval-mode map.

    Attributes:
        expression: the layer over ``X[t, m]`` and the order-0 additive ``mask[h, t, s]``.

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, an input that is
            not a tensor of the layer's dtype, a mask of an integer dtype.
        ValueError: a size below 1, ``nhead`` not dividing ``d_model``, an unknown
            activation, ``layer_norm_eps <= 0``, ``dropout`` outside ``[0, 1]``, parameters
            that would not fit in memory, masks of another shape or device.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, *,
                 activation: str = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 dropout: float = 0.0, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        for name, size in (("d_model", d_model), ("nhead", nhead),
                           ("dim_feedforward", dim_feedforward)):
            check_int(size, name, minimum=1)
        check_choice(activation, "activation", sorted(ACTIVATIONS))
        # eps = 0 divides by a zero variance on a constant row: NaN from finite input
        check_float(layer_norm_eps, "layer_norm_eps", minimum=0.0, strict_minimum=True)
        for name, flag in (("batch_first", batch_first), ("norm_first", norm_first),
                           ("bias", bias)):
            check_bool(flag, name)
        check_float(dropout, "dropout", minimum=0.0, maximum=1.0)
        check_layer_options(device, dtype, generator)
        check_parameter_memory((4 * d_model + 2 * dim_feedforward + 9) * d_model + dim_feedforward,
                         "d_model, dim_feedforward", dtype)
        if d_model % nhead:
            raise ValueError(f"nhead: expected a divisor of d_model={d_model}, received "
                             f"{nhead}")
        super().__init__(encoder_expression(d_model, nhead, dim_feedforward, activation,
                                            layer_norm_eps, norm_first, bias),
                         device=device, dtype=dtype, generator=generator)
        self.d_model, self.nhead, self.activation = d_model, nhead, activation
        self.eps, self.batch_first, self.norm_first = layer_norm_eps, batch_first, norm_first
        self.bias, self.dropout = bias, dropout

    def _ln(self, x: Tensor, prefix: str) -> Tensor:
        bias = self.param(f"{prefix}_bias") if self.bias else None
        return F.layer_norm(x, (self.d_model,), self.param(f"{prefix}_weight"), bias, self.eps)

    def _ffn(self, x: Tensor) -> Tensor:
        b1 = self.param("b1") if self.bias else None
        b2 = self.param("b2") if self.bias else None
        h = ACTIVATIONS[self.activation](F.linear(x, self.param("W1"), b1))
        h = F.dropout(h, self.dropout, self.training)
        return F.dropout(F.linear(h, self.param("W2"), b2), self.dropout, self.training)

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        """torch's kernels (module doc)."""
        return self._encode("native", src, src_mask, src_key_padding_mask, is_causal)

    def general(self, src: Tensor, src_mask: Tensor | None = None,  # type: ignore[override]
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        """``forward``'s result by the compiled expression."""
        return self._encode("plan", src, src_mask, src_key_padding_mask, is_causal)

    def reference(self, src: Tensor, src_mask: Tensor | None = None,  # type: ignore[override]
                  src_key_padding_mask: Tensor | None = None, is_causal: bool = False,
                  ) -> Tensor:
        """``forward``'s result by the node-by-node evaluation of the expression."""
        return self._encode("reference", src, src_mask, src_key_padding_mask, is_causal)

    def _encode(self, path: str, src: Tensor, src_mask: Tensor | None,
                src_key_padding_mask: Tensor | None, is_causal: bool) -> Tensor:
        """The wrapper shared by the three paths: layout and masks around one executor."""
        check_bool(is_causal, "is_causal")
        layout = "[B, L, E]" if self.batch_first else "[L, B, E]"
        check_layer_input(src, "src", self.param("W1"), rank=3, layout=layout)
        if src.shape[-1] != self.d_model:
            raise ValueError(f"src: expected {layout} with E = {self.d_model}, received "
                             f"{tuple(src.shape)}")
        x = src if self.batch_first else src.transpose(0, 1)
        b, length = x.shape[0], x.shape[1]
        mask = additive_mask(b, self.nhead, length, length,
                             key_padding_mask=src_key_padding_mask, attn_mask=src_mask,
                             is_causal=is_causal, dtype=x.dtype, device=x.device,
                             names=("src_key_padding_mask", "src_mask", "src"))
        if path == "native":
            y = self._native(x, mask)
        else:
            full = (mask if mask is not None else x.new_zeros(1, 1, length, length)).expand(
                b, self.nhead, length, length)
            run = self.run_plan if path == "plan" else self.run_reference
            y = run(X=x, mask=full)
        return y if self.batch_first else y.transpose(0, 1)

    def _native(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """torch's kernels on batch-first ``x [B, L, E]`` with an additive ``[B, H, L, L]``
        mask (or ``None``)."""
        p = self.dropout if self.training else 0.0

        def attend(u: Tensor) -> Tensor:
            out = native_attention(u, u, u, mask, lambda n: self.param("attn_" + n),
                                   self.nhead, self.bias, p)
            return F.dropout(out, self.dropout, self.training)

        if self.norm_first:
            z = x + attend(self._ln(x, "norm1"))
            return z + self._ffn(self._ln(z, "norm2"))
        z = self._ln(x + attend(x), "norm1")
        return self._ln(z + self._ffn(z), "norm2")

    def extra_repr(self) -> str:
        return (f"{self.d_model}, nhead={self.nhead}, activation={self.activation}, "
                f"norm_first={self.norm_first}, batch_first={self.batch_first}, "
                f"dropout={self.dropout}, {super().extra_repr()}")


@register_converter(nn.TransformerEncoderLayer)
def _from_encoder(module: nn.TransformerEncoderLayer) -> TransformerEncoderLayer:
    act = module.activation
    name = {F.relu: "relu", F.gelu: "gelu"}.get(act) if callable(act) else None
    if name is None and isinstance(act, nn.ReLU):
        name = "relu"
    if name is None and isinstance(act, nn.GELU) and act.approximate == "none":
        name = "gelu"
    if name is None:
        raise ValueError(f"activation: expected relu or gelu, received {act!r}")
    attn = module.self_attn
    bias = attn.in_proj_bias is not None
    layer = TransformerEncoderLayer(
        module.linear1.in_features, attn.num_heads, module.linear1.out_features,
        activation=name, layer_norm_eps=module.norm1.eps, batch_first=attn.batch_first,
        norm_first=module.norm_first, bias=bias, dropout=module.dropout.p)
    wq, wk, wv = attn.in_proj_weight.chunk(3)
    bq, bk, bv = attn.in_proj_bias.chunk(3) if bias else (None, None, None)
    return copy_from(layer, module, attn_Wq=wq, attn_Wk=wk, attn_Wv=wv,
                     attn_Wo=attn.out_proj.weight, attn_bq=bq, attn_bk=bk, attn_bv=bv,
                     attn_bo=attn.out_proj.bias, W1=module.linear1.weight,
                     b1=module.linear1.bias, W2=module.linear2.weight, b2=module.linear2.bias,
                     norm1_weight=module.norm1.weight, norm1_bias=module.norm1.bias,
                     norm2_weight=module.norm2.weight, norm2_bias=module.norm2.bias)

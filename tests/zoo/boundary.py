"""Boundary entries of prodint.zoo: every public layer (constructor and executions) and
function under hostile arguments."""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from prodint.interaction import InteractionLayer
from prodint.testing.contract import Entry
from prodint.zoo import (
    GLU,
    GRU,
    LSTM,
    Bilinear,
    CliffordConv1d,
    CliffordConv2d,
    CliffordConv3d,
    CliffordLinear,
    ConvNd,
    ConvTransposeNd,
    Dense,
    ElmanRNN,
    GroupConv2d,
    LiftingConv2d,
    LinearAttention,
    MambaBlock,
    MultiheadAttention,
    SwiGLU,
    TransformerEncoderLayer,
    clifford_algebra,
    from_cliffordlayers,
    from_mambapy,
    from_torch,
    grid_group,
    register_converter,
    supported_types,
    transform_grid,
)
from prodint.zoo.dense import dense_expression
from prodint.zoo.mamba import MambaState

F64 = torch.float64


def _randn(*shape: int, seed: int = 0) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(1)


def _options() -> dict[str, object]:
    """The constructor options every layer takes, with valid non-default values."""
    return dict(device="cpu", dtype=F64, generator=_gen())


def _opts(a: dict) -> dict[str, object]:
    """The options of ``a``; the generator reseeded, so that a call and its equivalent call
    draw the same parameters."""
    if isinstance(a["generator"], torch.Generator):
        a["generator"].manual_seed(1)
    return {k: a[k] for k in ("device", "dtype", "generator")}


def _conv(a: dict) -> Tensor:
    layer = ConvNd(a["n"], a["in_channels"], a["out_channels"], a["kernel_size"],
                   stride=a["stride"], padding=a["padding"], dilation=a["dilation"],
                   groups=a["groups"], bias=a["bias"], padding_mode=a["padding_mode"],
                   **_opts(a))
    return layer(a["x"])


def _conv_transpose(a: dict) -> Tensor:
    layer = ConvTransposeNd(a["n"], a["in_channels"], a["out_channels"], a["kernel_size"],
                            stride=a["stride"], padding=a["padding"],
                            output_padding=a["output_padding"], groups=a["groups"],
                            bias=a["bias"], dilation=a["dilation"], **_opts(a))
    return layer(a["x"])


def _clifford_conv(cls: type, dims: int):
    def run(a: dict) -> Tensor:
        layer = cls(a["signature"], a["in_channels"], a["out_channels"], a["kernel_size"],
                    stride=a["stride"], padding=a["padding"], dilation=a["dilation"],
                    groups=a["groups"], bias=a["bias"], padding_mode=a["padding_mode"],
                    **_opts(a))
        return layer(a["x"])

    def arguments() -> dict[str, object]:
        spatial = (5,) * dims
        return dict(signature=(1, -1), in_channels=2, out_channels=3, kernel_size=3, stride=1,
                    padding=1, dilation=1, groups=1, bias=True, padding_mode="zeros",
                    x=_randn(2, 2, *spatial, 4), **_options())

    return run, arguments


def _grid(a: dict) -> Tensor:
    cls = LiftingConv2d if a["lifting"] else GroupConv2d
    layer = cls(a["group"], a["in_channels"], a["out_channels"], a["kernel_size"],
                padding=a["padding"], stride=a["stride"], dilation=a["dilation"],
                bias=a["bias"], **_opts(a))
    return layer(a["x"])


def _grid_arguments(lifting: bool):
    def arguments() -> dict[str, object]:
        x = _randn(2, 2, 5, 5) if lifting else _randn(2, 2, 4, 5, 5)
        return dict(group="C4", in_channels=2, out_channels=3, kernel_size=3, padding=1,
                    stride=1, dilation=1, bias=True, x=x, **_options())

    return arguments


def _attention(a: dict) -> tuple[Tensor, Tensor | None]:
    layer = MultiheadAttention(a["embed_dim"], a["num_heads"], bias=a["bias"], kdim=a["kdim"],
                               vdim=a["vdim"], batch_first=a["batch_first"],
                               dropout=a["dropout"], **_opts(a)).eval()
    return layer(a["query"], a["key"], a["value"], key_padding_mask=a["key_padding_mask"],
                 need_weights=a["need_weights"], attn_mask=a["attn_mask"],
                 average_attn_weights=a["average_attn_weights"], is_causal=a["is_causal"])


def _attention_arguments() -> dict[str, object]:
    return dict(embed_dim=4, num_heads=2, bias=True, kdim=3, vdim=5, batch_first=True,
                dropout=0.25, query=_randn(2, 3, 4), key=_randn(2, 6, 3, seed=1),
                value=_randn(2, 6, 5, seed=2),
                key_padding_mask=torch.tensor([[False] * 5 + [True], [False] * 6]),
                need_weights=True, attn_mask=_randn(3, 6, seed=3), average_attn_weights=False,
                is_causal=False, **_options())


def _encoder(a: dict) -> Tensor:
    layer = TransformerEncoderLayer(a["d_model"], a["nhead"], a["dim_feedforward"],
                                    activation=a["activation"],
                                    layer_norm_eps=a["layer_norm_eps"],
                                    batch_first=a["batch_first"], norm_first=a["norm_first"],
                                    bias=a["bias"], dropout=a["dropout"], **_opts(a)).eval()
    return layer(a["src"], src_mask=a["src_mask"],
                 src_key_padding_mask=a["src_key_padding_mask"], is_causal=a["is_causal"])


def _encoder_arguments() -> dict[str, object]:
    return dict(d_model=4, nhead=2, dim_feedforward=6, activation="gelu", layer_norm_eps=1e-6,
                batch_first=True, norm_first=True, bias=True, dropout=0.1, src=_randn(2, 3, 4),
                src_mask=_randn(3, 3, seed=1),
                src_key_padding_mask=torch.tensor([[False, False, True], [False] * 3]),
                is_causal=False, **_options())


def _linear_attention(a: dict) -> LinearAttention:
    return LinearAttention(a["width"], a["heads"], causal=a["causal"], mode=a["mode"],
                           chunk_size=a["chunk_size"], **_opts(a))


def _linear_attention_arguments(**inputs: object):
    def arguments() -> dict[str, object]:
        return dict(width=4, heads=2, causal=True, mode="recurrent", chunk_size=2,
                    **_options(), **inputs)

    return arguments


def _mamba(a: dict) -> MambaBlock:
    return MambaBlock(a["d_model"], a["d_state"], a["d_conv"], a["expand"], a["dt_rank"],
                      bias=a["bias"], conv_bias=a["conv_bias"], mode=a["mode"],
                      chunk_size=a["chunk_size"], dt_min=a["dt_min"], dt_max=a["dt_max"],
                      dt_init_floor=a["dt_init_floor"], **_opts(a))


def _mamba_arguments(**inputs: object):
    def arguments() -> dict[str, object]:
        return dict(d_model=4, d_state=3, d_conv=2, expand=2, dt_rank=2, bias=True,
                    conv_bias=True, mode="chunk", chunk_size=2, dt_min=0.01, dt_max=0.2,
                    dt_init_floor=1e-3, **_options(), **{k: v() for k, v in inputs.items()})

    return arguments


@functools.cache
def _mamba_prompt_state() -> MambaState:
    return _mamba(_mamba_arguments()()).prefill(_randn(2, 3, 4, seed=5))[1]


def _mamba_state() -> MambaState:
    """The state after a prompt, for the step entry (a fresh copy each time)."""
    state = _mamba_prompt_state()
    return MambaState(state.conv.detach().clone(), state.ssm.detach().clone())


def _recurrent(cls: type, a: dict) -> nn.Module:
    extra = {"nonlinearity": a["nonlinearity"]} if "nonlinearity" in a else {}
    return cls(a["input_size"], a["hidden_size"], a["num_layers"], bias=a["bias"],
               batch_first=a["batch_first"], dropout=a["dropout"],
               bidirectional=a["bidirectional"], **extra, **_opts(a))


def _recurrent_arguments(cls: type, step: bool):
    def arguments() -> dict[str, object]:
        a: dict[str, object] = dict(input_size=3, hidden_size=4, num_layers=2, bias=True,
                                    batch_first=True, dropout=0.0,
                                    bidirectional=not step, **_options())
        if cls is ElmanRNN:
            a["nonlinearity"] = "relu"
        layers = 2 * (1 if step else 2)
        h = _randn(layers, 2, 4, seed=1)
        hx: object = (h, _randn(layers, 2, 4, seed=2)) if cls is LSTM else h
        if step:
            a.update(x=_randn(2, 3), state=hx)
        else:
            a.update(input=_randn(2, 5, 3), hx=hx)
        return a

    return arguments


def _recurrent_entries(cls: type, name: str) -> list[Entry]:
    names = (f"prodint.zoo.{name}", "prodint.zoo.RecurrentLayer")
    return [
        Entry(names, lambda a: _recurrent(cls, a)(a["input"], a["hx"]),
              _recurrent_arguments(cls, step=False)),
        Entry(names, lambda a: _recurrent(cls, a).step(a["x"], a["state"]),
              _recurrent_arguments(cls, step=True)),
    ]


class _Unconverted(nn.Module):
    """A module type for the converter registry entry (converted to a Dense layer)."""


def _convert_unconverted(module: nn.Module) -> Dense:
    return Dense(2, 3)


def _peer_linear() -> nn.Module:
    from cliffordlayers.nn.modules.cliffordlinear import CliffordLinear as Peer

    torch.manual_seed(0)
    return Peer((1, 1), 2, 3).double()


def _mambapy_block() -> nn.Module:
    from mambapy.mamba import MambaBlock as Peer
    from mambapy.mamba import MambaConfig

    torch.manual_seed(0)
    return Peer(MambaConfig(d_model=4, n_layers=1, d_state=3, d_conv=2, expand_factor=2)).double()


ENTRIES = [
    Entry(("prodint.zoo.ConvNd",), _conv,
          lambda: dict(n=1, in_channels=4, out_channels=2, kernel_size=3, stride=2, padding=1,
                       dilation=1, groups=2, bias=True, padding_mode="circular",
                       x=_randn(2, 4, 9), **_options())),
    Entry(("prodint.zoo.ConvNd",), _conv,
          lambda: dict(n=2, in_channels=2, out_channels=3, kernel_size=(3, 2), stride=(1, 2),
                       padding=(1, 0), dilation=(2, 1), groups=1, bias=False,
                       padding_mode="zeros", x=_randn(2, 2, 7, 6), **_options())),
    Entry(("prodint.zoo.ConvTransposeNd",), _conv_transpose,
          lambda: dict(n=1, in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1,
                       output_padding=1, groups=2, bias=True, dilation=1, x=_randn(2, 2, 5),
                       **_options())),
    Entry(("prodint.zoo.ConvTransposeNd",), _conv_transpose,
          lambda: dict(n=2, in_channels=2, out_channels=3, kernel_size=(2, 3), stride=(2, 1),
                       padding=(0, 1), output_padding=(1, 0), groups=1, bias=False,
                       dilation=(1, 2), x=_randn(1, 2, 3, 4), **_options())),
    Entry(("prodint.zoo.Dense",),
          lambda a: Dense(a["in_features"], a["out_features"], a["bias"], **_opts(a))(a["x"]),
          lambda: dict(in_features=3, out_features=2, bias=True, x=_randn(4, 3),
                       **_options())),
    Entry(("prodint.zoo.InteractionLayer",),
          # a layer's inputs are its expression's signals, named as the signals are
          lambda a: InteractionLayer(a["expression"], **_opts(a))(X=a["X"]),
          lambda: dict(expression=dense_expression(3, 2), X=_randn(4, 3), **_options())),
    Entry(("prodint.zoo.GLU",),
          lambda a: GLU(a["in_features"], a["hidden"], a["bias"], **_opts(a))(a["x"]),
          lambda: dict(in_features=3, hidden=2, bias=False, x=_randn(4, 3), **_options())),
    Entry(("prodint.zoo.SwiGLU",),
          lambda a: SwiGLU(a["in_features"], a["hidden"], a["out_features"],
                           **_opts(a))(a["x"]),
          lambda: dict(in_features=3, hidden=4, out_features=2, x=_randn(4, 3),
                       **_options())),
    Entry(("prodint.zoo.Bilinear",),
          lambda a: Bilinear(a["in1_features"], a["in2_features"], a["out_features"],
                             a["bias"], **_opts(a))(a["x1"], a["x2"]),
          lambda: dict(in1_features=3, in2_features=2, out_features=4, bias=True,
                       x1=_randn(5, 3), x2=_randn(5, 2, seed=1), **_options())),
    Entry(("prodint.zoo.MultiheadAttention",), _attention, _attention_arguments),
    Entry(("prodint.zoo.TransformerEncoderLayer",), _encoder, _encoder_arguments),
    Entry(("prodint.zoo.LinearAttention",),
          lambda a: _linear_attention(a)(a["x"]),
          _linear_attention_arguments(x=_randn(2, 5, 4))),
    Entry(("prodint.zoo.LinearAttention",),
          lambda a: _linear_attention(a).prefill(a["x"]),
          _linear_attention_arguments(x=_randn(2, 5, 4))),
    Entry(("prodint.zoo.LinearAttention",),
          lambda a: _linear_attention(a).step(a["x_t"]),
          _linear_attention_arguments(x_t=_randn(2, 4))),
    Entry(("prodint.zoo.MambaBlock",), lambda a: _mamba(a)(a["x"]),
          _mamba_arguments(x=lambda: _randn(2, 5, 4))),
    Entry(("prodint.zoo.MambaBlock",), lambda a: _mamba(a).prefill(a["x"]),
          _mamba_arguments(x=lambda: _randn(2, 5, 4))),
    Entry(("prodint.zoo.MambaBlock",),
          lambda a: _mamba(a).step(a["x_t"], a["state"]),
          _mamba_arguments(x_t=lambda: _randn(2, 4), state=_mamba_state)),
    *_recurrent_entries(ElmanRNN, "ElmanRNN"),
    *_recurrent_entries(GRU, "GRU"),
    *_recurrent_entries(LSTM, "LSTM"),
    Entry(("prodint.zoo.CliffordLinear",),
          lambda a: CliffordLinear(a["signature"], a["in_channels"], a["out_channels"],
                                   a["bias"], **_opts(a))(a["x"]),
          lambda: dict(signature=(1, 1), in_channels=2, out_channels=3, bias=True,
                       x=_randn(5, 2, 4), **_options())),
    Entry(("prodint.zoo.CliffordConv1d",), *_clifford_conv(CliffordConv1d, 1)),
    Entry(("prodint.zoo.CliffordConv2d",), *_clifford_conv(CliffordConv2d, 2)),
    Entry(("prodint.zoo.CliffordConv3d",), *_clifford_conv(CliffordConv3d, 3)),
    Entry(("prodint.zoo.clifford_algebra",), lambda a: clifford_algebra(**a).structure_constants,
          lambda: dict(signature=(1, 0, -1))),
    Entry(("prodint.zoo.LiftingConv2d",), _grid,
          lambda: dict(_grid_arguments(True)(), lifting=True), fixed=frozenset({"lifting"})),
    Entry(("prodint.zoo.GroupConv2d",), _grid,
          lambda: dict(_grid_arguments(False)(), lifting=False),
          # which class the entry builds, not an argument of either
          fixed=frozenset({"lifting"})),
    Entry(("prodint.zoo.grid_group",), lambda a: grid_group(**a).table, lambda: dict(group="D4")),
    Entry(("prodint.zoo.transform_grid",), lambda a: transform_grid(**a),
          lambda: dict(group=grid_group("D4"), element=5, x=_randn(2, 3, 3))),
    Entry(("prodint.zoo.from_torch",), lambda a: from_torch(**a)(_randn(2, 3)),
          lambda: dict(module=nn.Linear(3, 2).double())),
    Entry(("prodint.zoo.from_cliffordlayers",),
          lambda a: from_cliffordlayers(**a)(_randn(5, 2, 4)),
          lambda: dict(module=_peer_linear())),
    Entry(("prodint.zoo.from_mambapy",),
          lambda a: from_mambapy(**a)(_randn(2, 5, 4)),
          lambda: dict(block=_mambapy_block(), mode="naive", chunk_size=3)),
    Entry(("prodint.zoo.register_converter",),
          lambda a: register_converter(a["torch_types"])(a["converter"]),
          lambda: dict(torch_types=_Unconverted, converter=_convert_unconverted)),
    Entry(("prodint.zoo.supported_types",), lambda a: supported_types(), dict),
]

EXEMPT = {
    "prodint.zoo.GRID_GROUPS": "a constant (the names of the grid groups)",
    "prodint.zoo.ZooModule": "a Protocol (the layer contract as a structural type), not "
                             "instantiated",
}

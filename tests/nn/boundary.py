"""Boundary entries of prodint.nn: every layer's constructor, forward, streaming and generation
under hostile arguments."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from prodint.algebra import quaternions
from prodint.interaction import Signal
from prodint.nn import (
    DTN,
    DTNBlock,
    ProductLinear,
    SoftmaxLM,
    StackedLM,
    StackedLMDecoder,
    TensorAttention,
)
from prodint.nn.dtn import (
    DTNBlockDecoder,
    TensorInteraction,
    tensor_attention_expression,
    tensor_interaction_expression,
)
from prodint.testing.contract import Entry

WIDTH, HEADS, VOCAB = 4, 2, 7


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _x(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=torch.float64)


def _tokens(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, shape, generator=_gen(seed))


def _placement() -> dict[str, Any]:
    return dict(device="cpu", dtype=torch.float64, generator=_gen())


_CONSTRUCTOR = ("width", "heads", "causal", "normalize", "decay", "chunk_size", "output_norm",
                "eps", "device", "dtype", "generator", "channel_mixer", "hidden", "local_conv",
                "vocab", "depth")


def _same(value: Any) -> Any:
    """A generator as a fresh copy (the contract calls ``run`` twice with one arguments dict
    when it compares a variant with its valid equivalent: both must draw alike); any other
    value as it is."""
    if isinstance(value, torch.Generator):
        return torch.Generator().set_state(value.get_state())
    return value


def _build(cls: type, a: dict[str, Any]) -> Any:
    return cls(**{n: _same(v) for n, v in a.items() if n in _CONSTRUCTOR})


# ---------------------------------------------------------------- the operator layers
def _ta_arguments() -> dict[str, Any]:
    return dict(width=WIDTH, heads=HEADS, causal=True, normalize=True, decay=0.9, chunk_size=2,
                output_norm=True, eps=1e-5, **_placement(), x=_x(2, 5, WIDTH), mode="chunk")


def _ti_arguments() -> dict[str, Any]:
    return dict(width=WIDTH, heads=HEADS, causal=True, chunk_size=2, eps=1e-5, **_placement(),
                x=_x(2, 5, WIDTH), mode="recurrent")


def _forward(cls: type) -> Any:
    return lambda a: _build(cls, a)(a["x"], mode=a["mode"])


# The streaming and generation entries run one layer built once (its constructor's arguments
# are mutated by the forward entries): their arguments are those of prefill, step, generate.
def _stream(layer: Any) -> Any:
    def run(a: dict[str, Any]) -> Any:
        y, _ = layer.prefill(a["x"])
        return y, *layer.step(a["x_t"], a["state"])
    return run


def _decode(layer: Any) -> Any:
    def run(a: dict[str, Any]) -> Any:
        decoder = DTNBlockDecoder(layer, a["state"])
        return decoder(a["x_t"]), decoder.state()
    return run


def _lm_decode(model: Any) -> Any:
    def run(a: dict[str, Any]) -> Any:
        decoder = StackedLMDecoder(model, a["state"])
        return decoder(a["token"]), decoder.state()
    return run


def _lm_decode_arguments(model: Any) -> Any:
    return lambda: dict(token=_tokens(2, seed=2), state=model.prefill(_tokens(2, 3, seed=3))[1])


def _decode_arguments(layer: Any) -> Any:
    return lambda: dict(x_t=_x(2, WIDTH, seed=2), state=layer.prefill(_x(2, 3, WIDTH, seed=3))[1])


def _stream_arguments(layer: Any) -> Any:
    return lambda: dict(x=_x(2, 5, WIDTH), x_t=_x(2, WIDTH, seed=2),
                        state=layer.prefill(_x(2, 3, WIDTH, seed=3))[1])


def _layer(cls: type, **options: Any) -> Any:
    return cls(WIDTH, HEADS, **options, dtype=torch.float64, generator=_gen())


def _model(cls: type, **options: Any) -> Any:
    return cls(VOCAB, WIDTH, 1, HEADS, **options, dtype=torch.float64, generator=_gen())


def _expressions(a: dict[str, Any], builder: Any) -> Any:
    return builder(**a)


def _signal() -> Signal:
    return Signal("X", [("t", None), ("m", WIDTH)])


# ---------------------------------------------------------------- language models
def _lm_arguments(cls: type, **options: Any) -> Any:
    return lambda: dict(vocab=VOCAB, width=WIDTH, depth=1, heads=HEADS, **options,
                        **_placement(), tokens=_tokens(2, 5))


def _lm_forward(cls: type, mode: bool = False) -> Any:
    def run(a: dict[str, Any]) -> Any:
        model = _build(cls, a)
        return model(a["tokens"], mode=a["mode"]) if mode else model(a["tokens"])
    return run


def _generate(model: Any) -> Any:
    return lambda a: model.generate(a["prompt"], a["steps"], temperature=a["temperature"],
                                    generator=_same(a["generator"]))


def _generate_arguments() -> dict[str, Any]:
    return dict(prompt=_tokens(2, 3), steps=3, temperature=0.7, generator=_gen(5))


def _lm_stream(model: Any) -> Any:
    def run(a: dict[str, Any]) -> Any:
        logits, _ = model.prefill(a["tokens"])
        return logits, model.step(a["token"], a["state"])[0]
    return run


def _lm_stream_arguments(model: Any) -> Any:
    return lambda: dict(tokens=_tokens(2, 5), token=_tokens(2, seed=2),
                        state=model.prefill(_tokens(2, 3, seed=3))[1])


def _blocks() -> list[DTNBlock]:
    return [DTNBlock(WIDTH, HEADS, local_conv=2, dtype=torch.float64, generator=_gen(seed))
            for seed in (1, 2)]


def _stacked(a: dict[str, Any]) -> Any:
    blocks = [DTNBlock(a["width"], HEADS, local_conv=2, dtype=torch.float64, generator=_gen(1))]
    model = StackedLM(a["vocab"], a["width"], blocks, device=a["device"], dtype=a["dtype"],
                      generator=_same(a["generator"]))
    return model(a["tokens"]), model.oracle(a["tokens"])


# ---------------------------------------------------------------- product linear
def _product_linear(a: dict[str, Any]) -> Any:
    layer = ProductLinear(a["algebra"], a["in_channels"], a["out_channels"], bias=a["bias"],
                          device=a["device"], dtype=a["dtype"], generator=_same(a["generator"]))
    return layer(a["x"]), layer.real_weight()


def _budget(run: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """``run`` under a memory budget (``PRODINT_MAX_BYTES``) of :data:`BUDGET`: the contract
    caps each call's address space at 3 GiB, below the default budget (half the machine's
    memory), so a size the layers would accept could still exceed the cap; under this budget
    they refuse it first."""
    def call(a: dict[str, Any]) -> Any:
        old = os.environ.get("PRODINT_MAX_BYTES")
        os.environ["PRODINT_MAX_BYTES"] = str(BUDGET)
        try:
            return run(a)
        finally:
            if old is None:
                del os.environ["PRODINT_MAX_BYTES"]
            else:
                os.environ["PRODINT_MAX_BYTES"] = old
    return call


BUDGET = 1 << 28
NN = "prodint.nn"
_TA = _layer(TensorAttention, decay=0.8, normalize=True)
_TI = _layer(TensorInteraction, chunk_size=2)
_BLOCK = _layer(DTNBlock, channel_mixer="tensor_interaction", local_conv=3)
_DECODED = _layer(DTNBlock, normalize=True, decay=0.9, local_conv=2)
_DTN = _model(DTN, local_conv=2, chunk_size=2)
_SOFTMAX = _model(SoftmaxLM)


def _entry(names: tuple[str, ...], run: Callable[[dict[str, Any]], Any], *args: Any,
           **options: Any) -> Entry:
    return Entry(names, _budget(run), *args, **options)


ENTRIES = [
    _entry((f"{NN}.TensorAttention",), _forward(TensorAttention), _ta_arguments),
    _entry((f"{NN}.TensorAttention",), lambda a: _build(TensorAttention, a).general(a["x"]),
          lambda: {n: v for n, v in _ta_arguments().items() if n != "mode"}),
    _entry((f"{NN}.TensorAttention",), _stream(_TA), _stream_arguments(_TA)),
    _entry((f"{NN}.dtn.TensorInteraction",), _forward(TensorInteraction), _ti_arguments),
    _entry((f"{NN}.dtn.TensorInteraction",), _stream(_TI), _stream_arguments(_TI)),
    _entry((f"{NN}.dtn.tensor_attention_expression",),
          lambda a: _expressions(a, tensor_attention_expression),
          lambda: dict(x=_signal(), width=WIDTH, heads=HEADS, causal=True, decay=0.9,
                       normalize=True, output_norm=False, eps=1e-5, prefix="p_"),
          free_text=frozenset({"prefix"})),
    _entry((f"{NN}.dtn.tensor_interaction_expression",),
          lambda a: _expressions(a, tensor_interaction_expression),
          lambda: dict(x=_signal(), width=WIDTH, heads=HEADS, causal=False, eps=1e-5,
                       prefix="p_"), free_text=frozenset({"prefix"})),
    _entry((f"{NN}.DTNBlock",), _forward(DTNBlock),
          lambda: dict(width=WIDTH, heads=HEADS, channel_mixer="tensor_interaction", hidden=6,
                       normalize=True, decay=0.9, local_conv=2, chunk_size=2, output_norm=False,
                       **_placement(), x=_x(2, 5, WIDTH), mode="naive")),
    _entry((f"{NN}.DTNBlock",), _stream(_BLOCK), _stream_arguments(_BLOCK)),
    _entry((f"{NN}.dtn.DTNBlockDecoder",), _decode(_BLOCK), _decode_arguments(_BLOCK)),
    _entry((f"{NN}.dtn.DTNBlockDecoder",), _decode(_DECODED), _decode_arguments(_DECODED)),
    _entry((f"{NN}.DTN",), _lm_forward(DTN, mode=True),
          lambda: dict(_lm_arguments(DTN, channel_mixer="mlp", normalize=True, decay=0.9,
                                     local_conv=2, chunk_size=2)(), mode="chunk")),
    _entry((f"{NN}.DTN",), _lm_stream(_DTN), _lm_stream_arguments(_DTN)),
    _entry((f"{NN}.DTN",), _generate(_DTN), _generate_arguments),
    _entry((f"{NN}.StackedLMDecoder",), _lm_decode(_DTN), _lm_decode_arguments(_DTN)),
    _entry((f"{NN}.StackedLMDecoder",), _lm_decode(_SOFTMAX), _lm_decode_arguments(_SOFTMAX)),
    _entry((f"{NN}.SoftmaxLM",), _lm_forward(SoftmaxLM), _lm_arguments(SoftmaxLM, local_conv=2)),
    _entry((f"{NN}.SoftmaxLM",), _lm_stream(_SOFTMAX), _lm_stream_arguments(_SOFTMAX)),
    _entry((f"{NN}.SoftmaxLM",), _generate(_SOFTMAX), _generate_arguments),
    _entry((f"{NN}.StackedLM",), _stacked,
          lambda: dict(vocab=VOCAB, width=WIDTH, **_placement(), tokens=_tokens(2, 4))),
    # the blocks as an argument (no forward: blocks carry their own generators' state)
    _entry((f"{NN}.StackedLM",), lambda a: StackedLM(a["vocab"], a["width"], a["blocks"]),
          lambda: dict(vocab=VOCAB, width=WIDTH, blocks=_blocks())),
    _entry((f"{NN}.ProductLinear",), _product_linear,
          lambda: dict(algebra=quaternions().double(), in_channels=2, out_channels=3,
                       bias=True, **_placement(), x=_x(5, 2, 4))),
]

EXEMPT = {
    f"{NN}.dtn.DTNBlockState": "a NamedTuple state type (used as the state of the DTNBlock "
                               "step entry)",
}

"""Suite ``blocks``: a DTN block against a Mamba block and a softmax-attention block.

The Deep Tensor Network paper claims an efficiency rivalling state-space models. The suite
measures it on three blocks of one width ``w`` (default 256, 4 heads of 64 channels), float32,
batch 1, built by :func:`blocks`:

- ``softmax`` (the baseline): :class:`~prodint.nn.softmax_lm.SoftmaxBlock`,
  ``z = x + Attn(conv(LN x))``, ``y = z + MLP(LN z)`` with causal softmax attention
  (``F.scaled_dot_product_attention``) and a ``4w`` GELU MLP;
- ``dtn``: :class:`~prodint.nn.dtn.DTNBlock`, the same layout with second-order tensor
  attention (chunked kernels) in place of softmax attention, so the same parameter count;
- ``mamba``: :class:`~prodint.zoo.mamba.MambaBlock` (``d_state = 16``, ``expand = 2``, its
  default scan, token by token with a recomputing backward). It is Mamba's mixer alone, with
  no MLP, so it holds about 0.55x the parameters of the others (``params["parameters"]``);
  Mamba models stack about two such blocks where a Transformer has one.

Cases, for every ``T`` in 1k, 4k and 16k (``--quick``: 256 and 1k):

- ``train T=…``: ``forward`` is one block on ``x [1, T, w]`` without gradients,
  ``forward_backward`` the same with the backward pass into ``x`` and every parameter (the
  training cost of one block), with peak memory. ``annotate`` adds ``tokens_per_s = T /
  t_fwd_bwd`` and ``fwd_tokens_per_s = T / t_fwd``; ``ratio_fwd_bwd`` is the block's time
  over the softmax block's, so below 1 is faster. At 16k the softmax forward+backward takes
  about 23 s a call on one core of this machine (its attention does ``O(T²)`` work) and the
  Mamba block's about 10 s (its token loop), so the harness times them twice in one round
  (:func:`~prodint.bench.harness.interleaved_ms` does so for every call over a second).
- ``step T=…``: one streaming ``step`` (one token ``[1, w]``, no gradients) from the state
  after a prompt of ``T`` tokens read by ``prefill`` and one step (so the softmax cache's
  buffer has already doubled and the timed step appends in place, as almost every step of a
  generation does). The timed call repeats the same step from the same state: the softmax
  step attends to ``T + 2`` keys, the others' cost does not depend on ``T``. ``annotate``
  adds ``us_per_token`` (``fwd_ms`` in microseconds), ``tokens_per_s`` and ``state_bytes``:
  the bytes of the state after the prompt of ``T`` tokens (:func:`state_bytes`), that is the
  softmax block's key/value cache of ``T`` positions (``2·T·w`` floats; its buffer may hold
  up to twice that) and the convolution's last ``k − 1`` inputs, the DTN block's
  ``S, C, G`` (``3·H·d²`` floats) and convolution inputs, and the Mamba block's scan state
  (``E·N`` floats, ``E = 2w``) and convolution inputs (``3E``); ``state_vs_softmax`` is that
  over the softmax block's.

The whole suite takes about 7 minutes on one core here (memory profiling included), ``--quick``
about half a minute. Thread contention: on cores that other processes use, the per-token loops
(Mamba's scan and every streaming step) slow down by several times more than the matrix
products do (Mamba's forward+backward at 1k: 13x slower with two threads than with one on a
busy machine), so run the suite on an idle machine, or with ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from prodint.bench.harness import Case, Record, timed_case
from prodint.checks import check_bool, check_instance, check_int
from prodint.nn.dtn import DTNBlock
from prodint.nn.softmax_lm import SoftmaxBlock
from prodint.zoo.mamba import MambaBlock

WIDTH, HEADS = 256, 4
LENGTHS, QUICK_LENGTHS = (1024, 4096, 16384), (256, 1024)
IMPLS = ("softmax", "dtn", "mamba")
BASELINE = "softmax"

#: ``(case name, impl) → state bytes`` of the step cases built so far, for :func:`annotate`.
_STATE_BYTES: dict[tuple[str, str], int] = {}


def blocks(width: int = WIDTH, heads: int = HEADS, *, device: str = "cpu",
           seed: int = 0) -> dict[str, nn.Module]:
    """The three blocks of width ``width`` (module doc), float32, keyed by :data:`IMPLS`.

    Raises:
        TypeError: a size or ``seed`` not an int, ``device`` not a str.
        ValueError: a size below 1, ``heads`` not dividing ``width``, ``seed`` negative.
    """
    check_int(width, "width", minimum=1)
    check_int(heads, "heads", minimum=1)
    check_instance(device, "device", str)
    check_int(seed, "seed", minimum=0)
    if width % heads:
        raise ValueError(f"heads: expected a divisor of width={width}, received {heads}")
    g = torch.Generator().manual_seed(seed)
    made: dict[str, nn.Module] = {"softmax": SoftmaxBlock(width, heads, generator=g),
                                  "dtn": DTNBlock(width, heads, generator=g),
                                  "mamba": MambaBlock(width, generator=g)}
    return {name: block.to(device) for name, block in made.items()}


def state_bytes(state: object) -> int:
    """Bytes of a streaming state: every tensor in it (nested tuples, ``None`` counts 0), a
    key/value cache ``(buffer [2, B, H, capacity, d], length)`` by its first ``length``
    positions only.

    Raises:
        TypeError: a part that is not a tensor, a tuple, a cache pair or ``None``.
    """
    if state is None:
        return 0
    if isinstance(state, Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], Tensor) \
            and isinstance(state[1], int) and not isinstance(state[1], bool):
        buffer, length = state
        return buffer[..., :length, :].numel() * buffer.element_size()
    if isinstance(state, tuple):
        return sum(state_bytes(part) for part in state)
    raise TypeError(f"state: expected tensors, tuples of them or None, received "
                    f"{type(state).__name__}")


def _params(module: nn.Module, length: int, made: dict[str, nn.Module], device: str
            ) -> dict[str, object]:
    softmax = made[BASELINE]
    return {"T": length, "B": 1, "width": softmax.width, "heads": softmax.attention.heads,
            "dtype": "float32", "device": device,
            "parameters": sum(p.numel() for p in module.parameters())}


def _tokens(length: int, width: int, device: str, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, length, width, generator=g).to(device)


def _train_cases(length: int, made: dict[str, nn.Module], device: str) -> Iterator[Case]:
    """``train T=length``: every block's forward and forward+backward on ``[1, T, w]``."""
    x = _tokens(length, made[BASELINE].width, device, 1).requires_grad_()
    for impl, block in made.items():
        yield timed_case(f"train T={length}", impl, _params(block, length, made, device),
                         lambda b=block: b(x), [x, *block.parameters()], baseline=BASELINE)


def _step_cases(length: int, made: dict[str, nn.Module], device: str) -> Iterator[Case]:
    """``step T=length``: every block's streaming step after a prompt of ``T`` tokens and one
    step (module doc); records the prompt's state size for :func:`annotate`."""
    x = _tokens(length + 2, made[BASELINE].width, device, 2)
    name, token = f"step T={length}", x[:, length + 1]
    for impl, block in made.items():
        with torch.no_grad():
            _, state = block.prefill(x[:, :length])
            _STATE_BYTES[(name, impl)] = state_bytes(state)
            _, state = block.step(x[:, length], state)
        yield timed_case(name, impl, _params(block, length, made, device),
                         lambda b=block, s=state: b.step(token, s), None, baseline=BASELINE)


def cases(quick: bool = False, device: str = "cpu", *, width: int = WIDTH, heads: int = HEADS,
          lengths: Sequence[int] | None = None) -> Iterator[Case]:
    """The suite's cases (module doc); ``lengths`` replaces the lengths ``quick`` selects.

    Raises:
        TypeError, ValueError: as :func:`blocks`, ``quick`` not a bool, ``lengths`` not a
            sequence of positive ints.
    """
    check_bool(quick, "quick")
    if lengths is None:
        lengths = QUICK_LENGTHS if quick else LENGTHS
    check_instance(lengths, "lengths", (list, tuple))
    for length in lengths:
        check_int(length, "lengths", minimum=1)
    made = blocks(width, heads, device=device)
    for length in lengths:
        yield from _train_cases(length, made, device)
        yield from _step_cases(length, made, device)


def annotate(records: list[Record]) -> None:
    """Throughputs, times per token and state sizes (module doc) in every record's ``extra``."""
    base_bytes = {name: size for (name, impl), size in _STATE_BYTES.items() if impl == BASELINE}
    for r in records:
        if r.name.startswith("train "):
            if r.fwd_ms > 0:
                r.extra["fwd_tokens_per_s"] = round(r.params["T"] / (r.fwd_ms / 1e3), 1)
            if r.fwd_bwd_ms:
                r.extra["tokens_per_s"] = round(r.params["T"] / (r.fwd_bwd_ms / 1e3), 1)
        elif r.name.startswith("step "):
            r.extra["us_per_token"] = round(r.fwd_ms * 1e3, 2)
            if r.fwd_ms > 0:
                r.extra["tokens_per_s"] = round(1e3 / r.fwd_ms, 1)
            size = _STATE_BYTES.get((r.name, r.impl))
            if size is not None:
                r.extra["state_bytes"] = size
                if base_bytes.get(r.name):
                    r.extra["state_vs_softmax"] = round(size / base_bytes[r.name], 6)

"""Streaming rows of suite ``dtn``: the single-token step and generation speed.

- ``single-token step H=8 D=64``: one call of
  :class:`~prodint.ops.tensor_attention.step.TensorAttentionStep` (B=1, one token, a state
  of ``S`` and ``M``, ``2 × 8 × 64 × 64`` floats) after ``P`` tokens read by the chunked
  form, for ``P = 1k`` (impl ``step pos=1024``, the baseline) and ``64k`` (``--quick``:
  ``4k``); ``advance pos=1024`` is the same step with its rows already in the step's buffer
  (as a decoder writes them), ``torch kernel pos=1024`` the step on its four torch products
  where the default is the fused loop (``params.kernel``: the default's kernel, ``"fused"``
  with numba installed), ``recurrent T=1 pos=1024`` the public recurrent form
  (:func:`~prodint.ops.tensor_attention.tensor_attention` with ``mode="recurrent"``) on one
  token with its state in and out, for comparison. Every row times one token, nothing else.
  Targets: at most 20 µs, and ``P = 64k`` within 1.1x of ``P = 1k``.
- ``generate B=… ctx=…``: one generated token of every sequence of a batch (a
  :class:`~prodint.nn.stacked_lm.StackedLMDecoder` step and the greedy choice, as
  :meth:`~prodint.nn.stacked_lm.StackedLM.generate` runs it) after a random prompt of
  ``ctx`` tokens, for the Shakespeare-sized DTN (width 128, depth 2, 4 heads, vocabulary
  65) and the softmax LM of the same sizes (``softmax``, the baseline, its key/value cache
  growing with the context), randomly initialised, and ``dtn checked step`` the DTN through
  its checked :meth:`~prodint.nn.stacked_lm.StackedLM.step` (what ``generate`` ran before it
  decoded); ``params.tokens_per_call`` is ``B``, so
  tokens per second are ``B / fwd_ms · 1000``. Targets: the DTN at least 5,000 tokens/s at
  ``B = 1`` and 50,000 at ``B = 32``, faster than the softmax LM (ratio below 1) at every
  context. ``--quick``: context 256 only.

Every row runs at the caller's thread count (torch's default unless the suite's caller set
another): the step and the decoders choose one thread themselves where their kernels are too
small to share (:data:`~prodint.ops.tensor_attention.step.SERIAL_ELEMENTS`,
:data:`~prodint.nn.dtn.decode.SERIAL_WIDTH`), as a user's call does; nothing here changes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from prodint.bench.harness import Case, timed_case
from prodint.checks import check_bool, check_choice, check_int
from prodint.nn.dtn import DTN
from prodint.nn.softmax_lm import SoftmaxLM
from prodint.nn.stacked_lm import StackedLM, StackedLMDecoder
from prodint.ops.tensor_attention import tensor_attention
from prodint.ops.tensor_attention.step import TensorAttentionStep

__all__ = ["cases", "generation_cases", "step_cases"]

HEADS, DIM = 8, 64
#: The Shakespeare experiment's models (:mod:`prodint.experiments.shakespeare`).
WIDTH, DEPTH, LM_HEADS, VOCAB = 128, 2, 4, 65


def step_cases(positions: tuple[int, ...], *, heads: int = HEADS, dim: int = DIM,
               device: str = "cpu") -> Iterator[Case]:
    """One single-token step after each of ``positions`` tokens (the first is the baseline),
    then the public recurrent form on one token after the first position.

    Raises:
        TypeError, ValueError: a position, ``heads`` or ``dim`` that is not a positive int.
    """
    positions = tuple(check_int(p, "positions", minimum=1) for p in positions)
    check_int(heads, "heads", minimum=1)
    check_int(dim, "dim", minimum=1)
    name, base = f"single-token step H={heads} D={dim}", f"step pos={positions[0]}"
    g = torch.Generator().manual_seed(0)
    for p in positions:
        q, k, v = ((torch.randn(1, p + 1, heads, dim, generator=g) * 0.1).to(device)
                   for _ in range(3))
        with torch.no_grad():
            _, state = tensor_attention(q[:, :p], k[:, :p], v[:, :p], output_final_state=True)
        assert state is not None
        step = TensorAttentionStep(state)
        row = tuple(x[:, p].contiguous() for x in (q, k, v))
        params = {"position": p, "B": 1, "H": heads, "D": dim, "tokens_per_call": 1,
                  "device": device, "kernel": step.kernel}

        def one(step: TensorAttentionStep = step, row: tuple[Tensor, ...] = row) -> Tensor:
            return step(*row)

        yield timed_case(name, f"step pos={p}", params, one, None, baseline=base)
        if p == positions[0]:  # the four products alone, the rows already in place
            step.rows.copy_(torch.cat(row, -1))
            yield timed_case(name, f"advance pos={p}", params, step.advance, None,
                             baseline=base)
            if step.kernel != "torch":
                products = TensorAttentionStep(state, kernel="torch")
                yield timed_case(name, f"torch kernel pos={p}", params | {"kernel": "torch"},
                                 lambda products=products, row=row: products(*row), None,
                                 baseline=base)
            last = tuple(x[:, p:p + 1].contiguous() for x in (q, k, v))

            def recurrent(last: tuple[Tensor, ...] = last, state=state) -> Tensor:
                return tensor_attention(*last, mode="recurrent", initial_state=state,
                                        output_final_state=True)[0]

            yield timed_case(name, f"recurrent T=1 pos={p}", params, recurrent, None,
                             baseline=base)


def _lm_step(model: StackedLM, batch: int, context: int, seed: int,
             checked: bool = False) -> Callable[[], Tensor]:
    """One greedy token after a random prompt: through a decoder, as ``generate`` runs it,
    or (``checked``) through the model's checked ``step``."""
    prompt = torch.randint(0, model.vocab, (batch, context),
                           generator=torch.Generator().manual_seed(seed))
    prompt = prompt.to(model.embed.weight.device)
    with torch.no_grad():
        logits, state = model.prefill(prompt)
    decode = StackedLMDecoder(model, state)
    box = [logits[:, -1], state]

    def one() -> Tensor:
        box[0] = decode.advance(box[0].argmax(-1))
        return box[0]

    def by_step() -> Tensor:
        box[0], box[1] = model.step(box[0].argmax(-1), box[1])
        return box[0]

    return by_step if checked else one


def generation_cases(batches: tuple[int, ...], contexts: tuple[int, ...], *,
                     width: int = WIDTH, depth: int = DEPTH, heads: int = LM_HEADS,
                     vocab: int = VOCAB, device: str = "cpu") -> Iterator[Case]:
    """One generated token per sequence for every batch and context: the DTN against the
    softmax LM (baseline) of the same sizes, both from the same seed.

    Raises:
        TypeError, ValueError: a size that is not a positive int, or that the models refuse.
    """
    for name, value in (("width", width), ("depth", depth), ("heads", heads),
                        ("vocab", vocab)):
        check_int(value, name, minimum=1)
    batches = tuple(check_int(b, "batches", minimum=1) for b in batches)
    contexts = tuple(check_int(c, "contexts", minimum=1) for c in contexts)
    models: dict[str, StackedLM] = {}
    for impl, cls in (("softmax", SoftmaxLM), ("dtn", DTN)):
        torch.manual_seed(0)
        models[impl] = cls(vocab, width, depth, heads, device=device).eval()
    for batch in batches:
        for context in contexts:
            params = {"B": batch, "context": context, "width": width, "depth": depth,
                      "heads": heads, "vocab": vocab, "tokens_per_call": batch,
                      "device": device}
            rows = [(impl, model, False) for impl, model in models.items()]
            for impl, model, checked in [*rows, ("dtn checked step", models["dtn"], True)]:
                yield timed_case(f"generate B={batch} ctx={context}", impl, params,
                                 _lm_step(model, batch, context, context + batch, checked),
                                 None, baseline="softmax")


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    """The streaming rows (module doc); ``quick`` keeps them to seconds.

    Raises:
        TypeError, ValueError: ``quick`` not a bool, ``device`` not ``"cpu"`` or ``"cuda"``.
    """
    check_bool(quick, "quick")
    check_choice(device, "device", ("cpu", "cuda"))
    yield from step_cases((1024, 4096) if quick else (1024, 65536), device=device)
    yield from generation_cases((1, 32), (256,) if quick else (256, 1024, 4096),
                                device=device)

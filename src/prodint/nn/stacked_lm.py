"""The skeleton shared by prodint's language models, as one composite layer.

A :class:`StackedLM` is a token embedding, a stack of blocks, a final LayerNorm and a head
tied to the embedding::

    h_0 = E[tokens],   h_l = block_l(h_{l−1}),   logits = LN(h_L) Eᵀ

Every block is a layer of the contract (:class:`~prodint.interaction.layer.InteractionLayer`)
mapping ``[B, T, width] → [B, T, width]`` with ``prefill(x) → (y, state)`` and
``step(x_t, state) → (y_t, state)`` (``state=None`` before the first token), so any sequence
module stacks: the DTN's and the softmax LM's blocks, tensor and softmax attention,
:class:`~prodint.zoo.mamba.MambaBlock`, :class:`~prodint.zoo.linear_attention.LinearAttention`.

The model is a :class:`~prodint.interaction.composite.CompositeLayer`: its expression, over
one-hot tokens ``X[t, v]``, is the parts' expressions composed (:func:`on_stream` states each
block on the residual stream ``h[t, m]``), so its order is derived: each block multiplies the
order of its input (a block of order ``k`` on an input of order ``j`` has order ``k·j``, the
order rules being homogeneous), the embedding, the norm and the head keep it; a stack of
blocks of orders ``k_1 … k_L`` has order ``k_1 ⋯ k_L``. ``forward``, :meth:`StackedLM.prefill`,
:meth:`StackedLM.step` and :meth:`StackedLM.generate` run the blocks' fast paths; ``general``
and ``reference`` run the whole expression (compiled, node by node) on the one-hot tokens;
``oracle`` streams the tokens one at a time through ``step``.

Initialization (:meth:`StackedLM.reset_parameters`, run at construction) is
:func:`~prodint.nn.lm_init.init_language_model_`: every part's own draw, then the embedding's
scale and the depth scaling of the residual outputs. The parameters stay in the parts:
``embed.params.E``, ``blocks.<i>.…params.<name>``, ``norm.params.weight`` in a state dict.
Subclasses build the blocks (:class:`~prodint.nn.dtn.DTN`, :class:`~prodint.nn.softmax_lm.
SoftmaxLM`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.checks import (
    check_float,
    check_instance,
    check_int,
    check_layer_options,
    check_memory,
    check_parameter_memory,
    check_same_device,
    check_tensor,
)
from prodint.interaction import Contract, Expr, Rename, Signal
from prodint.interaction.composite import CompositeLayer
from prodint.interaction.layer import InteractionLayer
from prodint.nn.dtn.checks import check_positive
from prodint.nn.dtn.parts import LayerNorm, TokenEmbedding
from prodint.nn.lm_init import init_language_model_
from prodint.ops.tensor_attention.step import serial

__all__ = ["StackedLM", "StackedLMDecoder", "on_stream"]

STREAM = "m"  #: the channel axis of the residual stream ``h[t, m]``


def _feature_axes(block: InteractionLayer) -> tuple[str, str] | None:
    """The channel axis names ``(input, output)`` of a block on ``[t, channels]`` (``None``
    when the block is not of that form)."""
    signals = block.expression.signals()
    if len(signals) != 1:
        return None
    ins, outs = signals[0].axes, block.expression.axes
    if len(ins) != 2 or len(outs) != 2 or ins[0].name != "t" or outs[0].name != "t" or \
            ins[0].size is not None:
        return None
    return ins[1].name, outs[1].name


def on_stream(block: InteractionLayer, h: Expr, prefix: str) -> Expr:
    """``block``'s expression on the residual stream ``h[t, m]`` (value ``[t, m]``), its
    parameters named ``prefix + name``: the block's channel axes are renamed to and from
    ``m`` (softmax attention reads ``c`` and writes ``o``)."""
    axes = _feature_axes(block)
    if axes is None:
        raise ValueError(f"block: expected a layer on one signal [t, channels], received "
                         f"{type(block).__name__} on {block.expression.signals()}")
    feature_in, feature_out = axes
    u = h if feature_in == STREAM else Rename(h, {STREAM: feature_in})
    y = block.expression_on(u, prefix)
    return y if feature_out == STREAM else Rename(y, {feature_out: STREAM})


def _model_expression(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
    embed = parts["embed"]
    assert isinstance(embed, TokenEmbedding)
    h = embed.expression_on(x, f"{prefix}embed_")
    for key in [k for k in parts if k not in ("embed", "norm")]:  # the blocks, in order
        h = on_stream(parts[key], h, f"{prefix}{key}_")
    h = parts["norm"].expression_on(h, f"{prefix}norm_")
    return Contract(h, embed.table(f"{prefix}embed_"), over=STREAM)  # [t, v]


def _check_block(i: int, block: object, width: int) -> InteractionLayer:
    missing = [m for m in ("prefill", "step") if not callable(getattr(block, m, None))]
    if missing:
        raise TypeError(f"blocks[{i}]: expected a sequence module with prefill(x) and "
                        f"step(x_t, state), received {type(block).__name__} without "
                        f"{' and '.join(missing)}")
    if not isinstance(block, InteractionLayer):
        raise TypeError(f"blocks[{i}]: expected an InteractionLayer (a layer with its "
                        f"expression), received {type(block).__name__}")
    axes = _feature_axes(block)
    sizes = {a.size for a in (*block.expression.signals()[0].axes[1:],
                              *block.expression.axes[1:])} if axes is not None else set()
    if axes is None or sizes != {width}:
        raise ValueError(f"blocks[{i}]: expected a block [t, {width}] → [t, {width}] "
                         f"(width={width}), received {type(block).__name__} on "
                         f"{block.expression.signals()} with value axes "
                         f"{list(block.expression.axes)}")
    return block


class StackedLM(CompositeLayer):
    """Embedding, ``blocks``, norm and tied head (module doc).

    Args:
        vocab: number of token ids.
        width: model width.
        blocks: sequence layers ``[B, T, width] → [B, T, width]`` with ``prefill`` and
            ``step`` (module doc); at least one.
        device, dtype, generator: passed to the embedding and the norm (the blocks come
            built); the generator also draws the model-level embedding scale.

    Raises:
        TypeError: ``vocab``/``width`` not ints, ``blocks`` not an iterable of sequence
            layers with their expressions, a ``device``/``dtype``/``generator`` of the wrong
            kind.
        ValueError: a size below 1, no block, a block of another width, an embedding that
            would not fit in memory.

    Calls take token ids: ``forward`` ``[B, T] → [B, T, vocab]`` logits, :meth:`prefill`
    (a prompt in parallel), :meth:`step` (one token ``[B]``), :meth:`generate`. ``general``
    and ``reference`` take the same ids and run the expression on their one-hot encoding.

    Attributes:
        embed: the :class:`~prodint.nn.dtn.parts.TokenEmbedding` (``E``, tied to the head).
        blocks: the blocks, in order.
        norm: the final :class:`~prodint.nn.dtn.parts.LayerNorm`.
    """

    def __init__(self, vocab: int, width: int, blocks: Iterable[nn.Module], *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_layer_options(device, dtype, generator)
        check_positive(vocab=vocab, width=width)
        check_parameter_memory(vocab * width, "vocab, width", dtype, what="the embedding table")
        if not isinstance(blocks, Iterable) or isinstance(blocks, (str, bytes, nn.Module)):
            raise TypeError(f"blocks: expected an iterable of sequence layers, received "
                            f"{type(blocks).__name__}")
        stack = [_check_block(i, b, width) for i, b in enumerate(blocks)]
        if not stack:
            raise ValueError("blocks: expected at least one block, received none")
        kw = {"device": device, "dtype": dtype, "generator": generator}
        embed, norm = TokenEmbedding(vocab, width, **kw), LayerNorm(width, **kw)
        parts = {"embed": embed, **{f"block{i}": b for i, b in enumerate(stack)}, "norm": norm}
        super().__init__(Signal("X", [("t", None), ("v", vocab)]), _model_expression, parts,
                         device=device, dtype=dtype, generator=generator)
        self.vocab, self.width, self.depth = vocab, width, len(stack)
        self.embed, self.blocks, self.norm = embed, nn.ModuleList(stack), norm
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """:func:`~prodint.nn.lm_init.init_language_model_` with ``depth = len(blocks)``."""
        init_language_model_(self, self.depth, embedding=self.embed.weight,
                             generator=self._generator)

    # ------------------------------------------------------------------ checks
    def _check(self, tokens: object, rank: int, name: str | None = None) -> Tensor:
        """``tokens`` (called ``name``; ``tokens`` or ``token`` by ``rank``) as int32/int64
        ids ``[B, T]`` (``rank`` 2) or ``[B]`` in ``[0, vocab)`` on the embedding's device."""
        name = name or ("tokens" if rank == 2 else "token")
        shape = "[B, T]" if rank == 2 else "[B]"
        tokens = check_tensor(tokens, name, rank=rank, layout=f"{shape} of token ids",
                              dtypes=(torch.int32, torch.int64))
        check_same_device(**{"the embedding": self.embed.weight, name: tokens})
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab):
            raise ValueError(f"{name}: expected ids in [0, vocab={self.vocab}), received ids in "
                             f"[{int(tokens.min())}, {int(tokens.max())}]")
        return tokens

    # ------------------------------------------------------------------ executions
    def _head(self, h: Tensor) -> Tensor:
        """``LN(h) Eᵀ``: logits ``[..., vocab]``, their size checked first."""
        check_memory(h.shape[:-1].numel() * self.vocab * h.element_size(), "tokens",
                     f"logits [B, T, vocab={self.vocab}]")
        return self.norm(h) @ self.embed.weight.T

    def _logits(self, tokens: Tensor, run: Callable[[nn.Module, Tensor], Tensor]) -> Tensor:
        """The fast path with ``run(block, h)`` applying each block."""
        h = self.embed(self._check(tokens, 2))
        for block in self.blocks:
            h = run(block, h)
        return self._head(h)

    def forward(self, tokens: Tensor) -> Tensor:
        """``[B, T]`` token ids → ``[B, T, vocab]`` logits, by the blocks' fast paths."""
        return self._logits(tokens, lambda block, h: block(h))

    def _one_hot(self, tokens: Tensor) -> Tensor:
        return F.one_hot(self._check(tokens, 2), self.vocab).to(self.embed.weight.dtype)

    def general(self, tokens: Tensor) -> Tensor:
        """The compiled expression of the whole model on the one-hot ``tokens``."""
        return self.run_plan(self._one_hot(tokens))

    def reference(self, tokens: Tensor) -> Tensor:
        """The model's expression evaluated node by node on the one-hot ``tokens``."""
        return self.run_reference(self._one_hot(tokens))

    def oracle(self, tokens: Tensor) -> Tensor:
        """The tokens streamed one at a time through :meth:`step` (every block's streaming
        form, independent of the parallel kernels)."""
        tokens = self._check(tokens, 2)
        if not tokens.shape[1]:
            return self(tokens)
        state, rows = None, []
        for t in range(tokens.shape[1]):
            logits, state = self.step(tokens[:, t], state)
            rows.append(logits)
        return torch.stack(rows, 1)

    # ------------------------------------------------------------------ streaming
    def prefill(self, tokens: Tensor) -> tuple[Tensor, list]:
        """A prompt ``[B, T]`` in parallel: ``[B, T, vocab]`` logits and the per-block
        states after its last token, from which :meth:`step` continues."""
        h = self.embed(self._check(tokens, 2))
        states = []
        for block in self.blocks:
            h, state = block.prefill(h)
            states.append(state)
        return self._head(h), states

    def step(self, token: Tensor, state: list | None = None) -> tuple[Tensor, list]:
        """``[B]`` token ids → ``[B, vocab]`` logits and the new per-block states
        (``state=None`` before the first token)."""
        h = self.embed(self._check(token, 1))
        if state is not None and not isinstance(state, (list, tuple)):
            raise TypeError(f"state: expected a list of block states or None, received "
                            f"{type(state).__name__}")
        if state is not None and len(state) != len(self.blocks):
            raise ValueError(f"state: expected {len(self.blocks)} block states, received "
                             f"{len(state)}")
        new = []
        for i, (block, s) in enumerate(zip(self.blocks, state or [None] * len(self.blocks),
                                           strict=True)):
            try:
                h, s = block.step(h, s)
            except (TypeError, ValueError) as error:  # name the model's own arguments
                raise type(error)(f"token, state: expected state[{i}] to continue token of "
                                  f"shape {tuple(token.shape)}, refused by block {i}: "
                                  f"{error}") from None
            new.append(s)
        return self._head(h), new

    @torch.no_grad()
    def generate(self, prompt: Tensor, steps: int, *, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> Tensor:
        """Sample ``steps`` tokens after ``prompt [B, T0]`` (read in parallel by
        :meth:`prefill`), streaming one token at a time through a :class:`StackedLMDecoder`
        (the tokens of :meth:`step`, the state checked once; the loop on one thread when the
        decoder's tokens are); returns ``[B, T0 + steps]`` (the prompt itself for ``steps=0``).

        Args:
            prompt: token ids ``[B, T0]``, at least one token.
            steps: how many tokens to sample (``≥ 0``).
            temperature: the softmax temperature (``≥ 0``); ``0`` samples greedily (the most
                likely token).
            generator: random generator of the draws.

        Raises:
            TypeError: ``prompt`` not an int32/int64 tensor, ``steps`` not an int,
                ``temperature`` not a real number, ``generator`` not a ``torch.Generator``.
            ValueError: an empty prompt, ids out of range, a negative ``steps`` (or one whose
                output would not fit in memory), a negative or infinite ``temperature``.
        """
        prompt = self._check(prompt, 2, "prompt")
        if not prompt.shape[1]:
            raise ValueError(f"prompt: expected at least one token [B, T0 ≥ 1], received "
                             f"shape {tuple(prompt.shape)}")
        steps = check_int(steps, "steps", minimum=0)
        check_memory(prompt.shape[0] * (prompt.shape[1] + steps) * prompt.element_size(),
                     "steps", "generated tokens")
        temperature = check_float(temperature, "temperature", minimum=0.0)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator: expected None or a torch.Generator, received "
                            f"{type(generator).__name__}")
        logits, state = self.prefill(prompt)
        logits = logits[:, -1]
        decode = StackedLMDecoder(self, state)
        out = [prompt]
        with serial(decode.serial):
            for i in range(steps):
                if temperature == 0.0:
                    token = logits.argmax(-1, keepdim=True)
                else:
                    probs = torch.softmax(logits.double() / temperature, -1)
                    token = torch.multinomial(probs, 1, generator=generator)
                out.append(token.to(prompt.dtype))
                if i + 1 < steps:  # the logits after the last token are never read
                    logits = decode.advance(out[-1][:, 0])
        return torch.cat(out, 1)


class StackedLMDecoder:
    """Token-by-token decoding of a :class:`StackedLM` from a state, checked once.

    Each block with a ``decoder(state)`` method in float32 or float64 (the DTN block's
    :class:`~prodint.nn.dtn.decode.DTNBlockDecoder`) decodes through it; any other block
    through its checked ``step``. The embedding, final norm and tied head (a transposed copy
    of the embedding, made once) are torch's kernels, so a token costs the blocks' calls and
    three more. :meth:`StackedLM.generate` decodes with one.

    When all the blocks' decoders run on one thread (``B · width ≤``
    :data:`~prodint.nn.dtn.decode.SERIAL_WIDTH` on the CPU), so does the whole token
    (:attr:`serial`; the caller's thread count restored after the token, or after the loop
    in ``generate``). The parameters are read when it is built: build a new one after
    changing them.

    Args:
        model: the language model.
        state: its per-block states (from :meth:`StackedLM.prefill` or :meth:`StackedLM.step`);
            copied by the blocks' decoders, never changed.

    Raises:
        TypeError: ``model`` not a ``StackedLM``, ``state`` not a list of block states (as
            the blocks' decoders refuse them).
        ValueError: a state of another length than the blocks, or whose fields do not fit.
    """

    @torch.no_grad()
    def __init__(self, model: StackedLM, state: list) -> None:
        check_instance(model, "model", StackedLM)
        check_instance(state, "state", (list, tuple))
        if len(state) != len(model.blocks):
            raise ValueError(f"state: expected {len(model.blocks)} block states, received "
                             f"{len(state)}")
        self._model = model
        full = model.embed.weight.dtype in (torch.float32, torch.float64)
        self._blocks: list = [
            block.decoder(s) if full and callable(getattr(block, "decoder", None))
            else _Stepper(block, s) for block, s in zip(model.blocks, state, strict=True)]
        batches = {getattr(b, "batch", None) for b in self._blocks} - {None}
        self._batch = batches.pop() if len(batches) == 1 else None
        #: Whether a token runs on one thread (class doc).
        self.serial = all(getattr(b, "serial", False) for b in self._blocks)
        # a block switches threads itself (its checked call) only where the token does not
        self._advances: list[Callable[[Tensor], Tensor]] = [
            b if getattr(b, "serial", False) and not self.serial else b.advance
            for b in self._blocks]
        self._embed = model.embed.weight.detach()
        self._head = self._embed.T.contiguous()
        norm = model.norm.params
        self._norm = (norm["weight"].detach(), norm["bias"].detach(), model.norm.EPS)

    def __call__(self, token: Tensor) -> Tensor:
        """``[B]`` token ids → ``[B, vocab]`` logits of the next token.

        Raises:
            TypeError: ``token`` not an int32/int64 tensor ``[B]``.
            ValueError: ids out of range, another batch than the state's.
        """
        token = self._model._check(token, 1)
        if self._batch is not None and token.shape[0] != self._batch:
            raise ValueError(f"token: expected ids [B={self._batch}] (the batch of the "
                             f"state), received shape {tuple(token.shape)}")
        return self.advance(token)

    def advance(self, token: Tensor) -> Tensor:
        """:meth:`__call__` for ids ``[B]`` known to be in range and of the state's batch
        (``generate`` draws them), on one thread when :attr:`serial`."""
        with serial(self.serial):
            h = F.embedding(token, self._embed)
            for advance in self._advances:
                h = advance(h)
            weight, bias, eps = self._norm
            return torch.mm(F.layer_norm(h, (h.shape[-1],), weight, bias, eps), self._head)

    def state(self) -> list:
        """The per-block states after the tokens so far, from which :meth:`StackedLM.step`
        and a new decoder continue."""
        return [block.state() for block in self._blocks]  # type: ignore[attr-defined]


class _Stepper:
    """A block's checked ``step`` with its state carried: the decoder of a block without one."""

    def __init__(self, block: nn.Module, state: object) -> None:
        self._block, self._state = block, state

    @torch.no_grad()
    def advance(self, h: Tensor) -> Tensor:
        h, self._state = self._block.step(h, self._state)
        return h

    def state(self) -> object:
        return self._state

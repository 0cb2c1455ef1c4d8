"""Fast token-by-token decoding of a DTN block: the state validated once, plain torch after.

:meth:`DTNBlock.step <prodint.nn.dtn.block.DTNBlock.step>` checks its arguments and the
whole state on every token and runs the layers' general paths; a decoder does the same
computation, ``y = z + mix(LN₂ z)`` with ``z = x + TA(conv(LN₁ x))``, from a state it has
checked and copied once, in about twenty torch calls per token:

- the short convolution reads a ring buffer of its last ``kernel`` inputs, the taps rotated
  to the slot of the newest one (the identity folded into the current tap);
- ``q, k, v`` come from one product with the fused ``[width, H·3D]`` projection
  (``[Wq_h, Wk_h, Wv_h]`` side by side for each head ``h``), whose columns split into the
  three heads' rows without a copy;
- the tensor attention is a :class:`~prodint.ops.tensor_attention.step.TensorAttentionStep`
  (the state ``(S, M = S C − G)`` updated in place, four small products);
- the RMS norm, ``Wo`` with the residual (one ``addmm``), the second norm and the MLP are
  torch's kernels; a tensor-interaction mixer streams through its own checked ``step``;
- the MLP's exact GELU, ``gelu(h) = ½ h (1 + erf(h/√2))``, is torch's ``F.gelu`` for a large
  batch and, when ``B · hidden ≤`` :data:`ERF_GELU_MAX` (where ``F.gelu``'s fixed cost
  dominates), two kernels on preallocated buffers: the input product is made with ``Wi/√2``
  and ``bi/√2`` so that it gives ``a = h/√2``, then ``g = a + a·erf(a) = (1 + erf(a)) h/√2``
  and the output product takes ``Wo/√2`` (``g Wo/√2 = gelu(h) Wo``): the same function,
  rounded differently; ``g`` has a column of ones beside it and ``bo`` is a row of that
  product's matrix, so that it also adds the bias, onto the residual.

Threads: a token runs on one thread when ``B · width ≤`` :data:`SERIAL_WIDTH` (the caller's
thread count restored after it, :func:`~prodint.ops.tensor_attention.step.serial`): at these
sizes every kernel takes microseconds, less than handing work to other threads and moving
data between the cores' caches. Above it the matrix products (and the tensor attention step,
above :data:`~prodint.ops.tensor_attention.step.SERIAL_ELEMENTS`) run on the caller's
threads, while the layer norms and the GELU, which torch splits between threads from a few
rows on, run on one. On a 2-core CPU at width 128 (the fused step on one thread either
way), a token of the two-block Shakespeare DTN took, on one thread against two (median ms,
alternating): ``B = 16``: 0.64 / 0.66; ``B = 32``: 0.65 / 0.75; ``B = 64``: 1.52 / 1.52;
``B = 128``: 2.13 / 1.64; hence the limit at ``B = 32``. While another process holds a
core, waiting for the second thread can cost milliseconds per token, and
``torch.set_num_threads(1)`` around the loop keeps every token on one.

The decoder reads the parameters when it is built (the fused projection and the MLP's
transposed weights are copies): build a new one after changing them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.checks import check_instance
from prodint.nn.dtn.attention import RMS_EPS
from prodint.nn.dtn.checks import HALF
from prodint.nn.dtn.parts import MLP
from prodint.ops.tensor_attention.step import TensorAttentionStep, serial

if TYPE_CHECKING:
    from prodint.nn.dtn.block import DTNBlock, DTNBlockState

__all__ = ["ERF_GELU_MAX", "SERIAL_WIDTH", "DTNBlockDecoder"]

#: The largest ``B · width`` decoded on one thread (module doc).
SERIAL_WIDTH = 4096
#: The largest ``B · hidden`` whose GELU is computed as ``a + a·erf(a)`` (module doc).
ERF_GELU_MAX = 2048


def _direct(fn: Callable[..., Tensor], *args: object) -> Tensor:
    return fn(*args)


def _serially(fn: Callable[..., Tensor], *args: object) -> Tensor:
    """``fn(*args)`` on one thread, the caller's thread count restored after (module doc)."""
    threads = torch.get_num_threads()
    if threads == 1:
        return fn(*args)
    torch.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(threads)


class DTNBlockDecoder:
    """One token ``x_t [B, width] → y_t [B, width]`` of a :class:`~prodint.nn.dtn.block.
    DTNBlock` after ``state`` (module doc); equals the block's ``step`` token by token.

    Args:
        block: the block, with float32 or float64 parameters.
        state: its :class:`~prodint.nn.dtn.block.DTNBlockState` (from ``prefill`` or
            ``step``); copied, never changed.

    Raises:
        TypeError: ``block`` not a ``DTNBlock`` or with half-precision parameters (stream
            those with ``step``), ``state`` not a ``DTNBlockState`` or with fields of the
            wrong kind.
        ValueError: state fields whose shapes, batch or device do not fit the block.

    Attributes:
        batch, width: ``B`` of the state and the block's width.
        serial: whether a token runs on one thread (``B · width ≤`` :data:`SERIAL_WIDTH` on
            the CPU); otherwise it runs on the caller's threads, its norms and GELU on one.
    """

    @torch.no_grad()
    def __init__(self, block: DTNBlock, state: DTNBlockState) -> None:
        from prodint.nn.dtn.block import DTNBlock, DTNBlockState

        check_instance(block, "block", DTNBlock)
        check_instance(state, "state", DTNBlockState)
        att = block.attention
        dtype = att.params["Wq"].dtype
        if dtype in HALF:
            raise TypeError(f"block: expected float32 or float64 parameters, received {dtype} "
                            f"(stream half precision with step)")
        self.width, heads, d = block.width, att.heads, att.head_dim
        s = state.attention.S if isinstance(state.attention, tuple) else None
        if isinstance(s, Tensor) and s.dtype != dtype:
            raise TypeError(f"state.attention.S: expected dtype {dtype} (that of the "
                            f"parameters), received {s.dtype}")
        self._step = TensorAttentionStep(state.attention, normalize=att.normalize,
                                         decay=att.decay, eps=att.eps)
        self.batch = self._step.batch
        if self._step.heads != heads or self._step.dim != d or self._step.value_dim != d:
            raise ValueError(f"state.attention: expected the state of {heads} heads of "
                             f"{d} channels, received S of shape "
                             f"{tuple(state.attention.S.shape)}")
        self._block, self._heads, self._d = block, heads, d
        self._norms = [(n.params["weight"].detach(), n.params["bias"].detach(), n.EPS)
                       for n in (block.norm1, block.norm2)]
        # one product writes q | k | v (| the normaliser's 1) of every head into the rows
        rows = self._step.rows
        extra = rows.shape[-1] - 3 * d
        wq, wk, wv = (att.params[n].detach().view(self.width, heads, d)
                      for n in ("Wq", "Wk", "Wv"))
        pad = wq.new_zeros(self.width, heads, extra)
        self._wqkv = torch.cat([wq, wk, wv, pad], -1).reshape(self.width, -1)
        self._bias = None
        if extra:  # addmm's bias puts the ones back after every product
            bias = wq.new_zeros(heads, 3 * d + extra)
            bias[:, 3 * d:] = 1.0
            self._bias = bias.reshape(-1)
        self._rows = rows.view(self.batch, heads * rows.shape[-1])
        self._wo, self._rms = att.params["Wo"].detach(), att.output_norm
        self._rms_eps = wq.new_tensor(RMS_EPS)
        self._mixer_state = state.mixer
        self._mlp = None
        if isinstance(block.mixer, MLP):  # else the tensor interaction's own step
            self._init_mlp(block.mixer)
        self._init_conv(block, state.conv)
        cpu = self._rows.device.type == "cpu"
        self.serial = cpu and self.batch * self.width <= SERIAL_WIDTH
        self._small = _serially if cpu and not self.serial else _direct  # norms and GELU

    def _init_mlp(self, mlp: MLP) -> None:
        p = mlp.params
        wi, bi, wo = p["Wi"].detach().T, p["bi"].detach(), p["Wo"].detach().T
        bo = p["bo"].detach()
        self._erf = self.batch * mlp.hidden <= ERF_GELU_MAX
        if self._erf:  # the products give h/√2 and take (1 + erf(h/√2)) h/√2 (module doc)
            root = math.sqrt(0.5)
            shape = (self.batch, mlp.hidden)
            self._a, self._e = wi.new_empty(shape), wi.new_empty(shape)
            # g beside a column of ones, Wo/√2 above bo: one product adds the bias
            self._g = wi.new_ones(self.batch, mlp.hidden + 1)
            self._gh = self._g[:, :mlp.hidden]
            wi, bi, wo = wi * root, bi * root, torch.cat([wo * root, bo[None]])
        self._mlp = (wi.contiguous(), bi.contiguous(), wo.contiguous(), bo)

    def _init_conv(self, block: DTNBlock, conv: object) -> None:
        self._kernel = 0 if block.local is None else block.local.kernel
        if not self._kernel:
            return
        k, like = self._kernel, self._wqkv
        shape = (self.batch, k - 1, self.width)
        check_instance(conv, "state.conv", Tensor)
        assert isinstance(conv, Tensor)
        if conv.dtype != like.dtype:
            raise TypeError(f"state.conv: expected dtype {like.dtype} (that of the "
                            f"parameters), received {conv.dtype}")
        if tuple(conv.shape) != shape or conv.device != like.device:
            raise ValueError(f"state.conv: expected a tensor [B, kernel − 1, width] = "
                             f"{list(shape)} on {like.device}, received {tuple(conv.shape)} "
                             f"on {conv.device}")
        self._buffer = like.new_zeros(k, self.batch, self.width)
        self._buffer[:k - 1] = conv.transpose(0, 1)
        self._slots = list(self._buffer.unbind(0))
        self._next = k - 1  # the slot of the next input; the others hold the last k − 1
        w = block.local.params["weight"].detach()  # type: ignore[union-attr]  # [width, k]
        # taps[r][s] multiplies slot s when the newest input is in slot r: w[:, (r − s) % k]
        lag = (torch.arange(k)[:, None] - torch.arange(k)[None, :]) % k  # [r, s]
        taps = w.T[lag].unsqueeze(2).clone()  # [r, s, 1, width]
        taps[torch.arange(k), torch.arange(k)] += 1.0  # y = u + Σ_j w[:, j] ⊙ u_{t−j}
        self._taps = list(taps.unbind(0))

    def __call__(self, x: Tensor) -> Tensor:
        """``x_t [B, width]`` (the parameters' dtype and device) → ``y_t [B, width]``, read
        as data (no gradient flows); on one thread when :attr:`serial` (module doc).

        Raises:
            TypeError: ``x`` not a tensor or of another dtype.
            ValueError: ``x`` of another shape or device.
        """
        like = self._wqkv
        if not isinstance(x, Tensor):
            raise TypeError(f"x_t: expected a tensor, received {type(x).__name__}")
        if x.dtype != like.dtype:
            raise TypeError(f"x_t: expected dtype {like.dtype} (that of the parameters), "
                            f"received {x.dtype}")
        if x.shape != (self.batch, self.width) or x.device != like.device:
            raise ValueError(f"x_t: expected a tensor [B, width] = {[self.batch, self.width]} "
                             f"on {like.device} (B of the state), received "
                             f"{tuple(x.shape)} on {x.device}")
        with serial(self.serial):
            return self.advance(x.detach())

    def advance(self, x: Tensor) -> Tensor:
        """:meth:`__call__` without its checks or thread switch, for a caller that has made
        both (:class:`~prodint.nn.stacked_lm.StackedLMDecoder`): ``x`` must be a tensor
        ``[B, width]`` of the parameters' dtype and device that requires no gradient."""
        (w1, b1, e1), (w2, b2, e2) = self._norms
        small = self._small
        u = small(F.layer_norm, x, (self.width,), w1, b1, e1)
        if self._kernel:
            r = self._next
            self._slots[r].copy_(u)
            self._next = (r + 1) % self._kernel
            u = torch.linalg.vecdot(self._buffer, self._taps[r], dim=0)
        if self._bias is None:
            torch.mm(u, self._wqkv, out=self._rows)
        else:
            torch.addmm(self._bias, u, self._wqkv, out=self._rows)
        o = self._step.advance()
        if self._rms:  # o / sqrt(mean(o²) + eps), with mean(o²) = ‖o‖² / d
            size = torch.linalg.vector_norm(o, dim=-1, keepdim=True)
            o = o * torch.addcmul(self._rms_eps, size, size, value=1.0 / self._d).rsqrt_()
        z = torch.addmm(x, o.view(self.batch, self.width), self._wo)
        n = small(F.layer_norm, z, (self.width,), w2, b2, e2)
        if self._mlp is None:
            with torch.no_grad():
                m, self._mixer_state = self._block.mixer.step(n, self._mixer_state)
            return z + m
        wi, bi, wo, bo = self._mlp
        if self._erf:  # a = h/√2, g = a + a·erf(a) (module doc), then z + [g, 1] [Wo/√2; bo]
            a = torch.addmm(bi, n, wi, out=self._a)
            torch.addcmul(a, a, torch.erf(a, out=self._e), out=self._gh)
            return torch.addmm(z, self._g, wo)
        return torch.addmm(bo, small(F.gelu, torch.addmm(bi, n, wi)), wo).add_(z)

    def state(self) -> DTNBlockState:
        """The block's state after the tokens so far (fresh tensors), from which ``step`` and
        a new decoder continue exactly (the attention's in the form ``C = 0, G = −(S C −
        G)``, :mod:`prodint.ops.tensor_attention.step`)."""
        from prodint.nn.dtn.block import DTNBlockState

        conv = None
        if self._kernel:
            k = self._kernel
            order = [(self._next + i) % k for i in range(1, k)]
            conv = self._buffer[order].transpose(0, 1).contiguous()
        return DTNBlockState(self._step.state(), self._mixer_state, conv)

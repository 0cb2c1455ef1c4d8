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

Threads: a token whose products go through numpy runs the rest on one thread (below); one
whose products are torch's runs on one thread when ``B · width ≤`` :data:`SERIAL_WIDTH` (the
caller's thread count restored after it, :func:`~prodint.ops.tensor_attention.step.serial`):
at these sizes every kernel takes microseconds, less than handing work to other threads and
moving data between the cores' caches. Above it the matrix products (and the tensor
attention step, above :data:`~prodint.ops.tensor_attention.step.SERIAL_ELEMENTS`) run on the
caller's threads, while the layer norms and the GELU, which torch splits between threads
from a few rows on, run on one. On a 2-core CPU at width 128 (the fused step on one thread
either way), a token of the two-block Shakespeare DTN with torch's products took, on one
thread against two (median ms, alternating): ``B = 16``: 0.64 / 0.66; ``B = 32``: 0.65 /
0.75; ``B = 64``: 1.52 / 1.52; ``B = 128``: 2.13 / 1.64; hence the limit at ``B = 32``.
While another process holds a core, waiting for the second thread can cost milliseconds per
token, and ``torch.set_num_threads(1)`` around the loop keeps every token on one.

Products: on the CPU, from ``B · width ≥`` :data:`NUMPY_WIDTH` on, the four matrix products
of a token (``q | k | v``, ``Wo`` and the MLP's two) go through numpy's BLAS
(``products="auto"``), on preallocated buffers shared with torch (no copy), and the rest of
the token runs on one thread: at these sizes numpy's kernels beat torch's on one thread, and
numpy hands work to its own spinning threads in microseconds where torch's pool costs tens.
Measured on a 2-core CPU (median µs per product, torch on one thread / torch on two /
numpy): ``[32, 128] × [128, 512]`` 52 / 57 / 36; ``[32, 513] × [513, 128]`` 53 / 50 / 32;
``[32, 128] × [128, 392]`` 41 / 28 / 25. A token of the two-block Shakespeare DTN, the two
alternating in one process (median ms, torch's products / numpy's): ``B = 1`` 0.146 / 0.158;
``B = 8`` 0.255 / 0.235; ``B = 16`` 0.39 / 0.39; ``B = 32`` 0.54 / 0.41 and 0.69 / 0.58 (two
runs); ``B = 64`` 1.06 / 0.87 and ``B = 128`` 2.1 / 1.5 (all on one thread but numpy's
products); with torch's thread pool spinning beside numpy's threads, a token at ``B = 64``
took 23-28 ms, hence one thread for the rest of the token whenever numpy multiplies. Numpy's
BLAS keeps its own thread count (``OPENBLAS_NUM_THREADS`` or threadpoolctl set it), which
``torch.set_num_threads`` does not change. ``products="torch"`` keeps every product in torch
(the only choice off the CPU), ``"numpy"`` takes numpy's at any batch; all give the same
sums to rounding.

The decoder reads the parameters when it is built (the fused projection and the MLP's
transposed weights are copies): build a new one after changing them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.checks import check_choice, check_instance
from prodint.nn.dtn.attention import RMS_EPS
from prodint.nn.dtn.checks import HALF
from prodint.nn.dtn.parts import MLP
from prodint.ops.tensor_attention.step import TensorAttentionStep, serial

if TYPE_CHECKING:
    from prodint.nn.dtn.block import DTNBlock, DTNBlockState

__all__ = ["ERF_GELU_MAX", "NUMPY_WIDTH", "PRODUCTS", "SERIAL_WIDTH", "DTNBlockDecoder"]

#: The largest ``B · width`` decoded on one thread (module doc).
SERIAL_WIDTH = 4096
#: The largest ``B · hidden`` whose GELU is computed as ``a + a·erf(a)`` (module doc).
ERF_GELU_MAX = 2048
#: How a decoder's matrix products run: ``"auto"`` (numpy's BLAS on the CPU from
#: ``B · width ≥`` :data:`NUMPY_WIDTH` on, torch otherwise), ``"torch"``, ``"numpy"`` (CPU
#: only): module doc.
PRODUCTS = ("auto", "torch", "numpy")
#: The smallest ``B · width`` whose products ``"auto"`` takes through numpy (module doc).
NUMPY_WIDTH = 1024


class _Product:
    """``a ↦ a W (+ bias) (+ residual)`` written into a preallocated ``out [B, N]``, through
    torch (``addmm``/``mm``) or through numpy's ``matmul`` on views of the same memory.

    Args:
        weight: ``W [K, N]``.
        out: the buffer ``[B, N]`` (C-contiguous), overwritten by every call and returned.
        bias: ``[N]`` added to every row, or None.
        numpy: whether the product runs through numpy (CPU tensors only).
    """

    def __init__(self, weight: Tensor, out: Tensor, bias: Tensor | None = None,
                 numpy: bool = False) -> None:
        self.out, self._w, self._bias = out, weight, bias
        if numpy:
            self._wn, self._on = weight.numpy(), out.numpy()
            self._bn = None if bias is None else bias.numpy()
        self.run = self._numpy if numpy else self._torch

    def _torch(self, a: Tensor, residual: Tensor | None = None) -> Tensor:
        out, bias = self.out, self._bias
        if bias is None:
            if residual is None:
                return torch.mm(a, self._w, out=out)
            return torch.addmm(residual, a, self._w, out=out)
        torch.addmm(bias, a, self._w, out=out)
        return out if residual is None else out.add_(residual)

    def _numpy(self, a: Tensor, residual: Tensor | None = None) -> Tensor:
        on = self._on
        np.matmul(a.numpy(), self._wn, out=on)
        if self._bn is not None:
            np.add(on, self._bn, out=on)
        if residual is not None:
            np.add(on, residual.numpy(), out=on)
        return self.out


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
        products: one of :data:`PRODUCTS`: how the matrix products run (module doc); the
            one chosen is :attr:`products`.

    Raises:
        TypeError: ``block`` not a ``DTNBlock`` or with half-precision parameters (stream
            those with ``step``), ``state`` not a ``DTNBlockState`` or with fields of the
            wrong kind.
        ValueError: state fields whose shapes, batch or device do not fit the block;
            ``products`` not one of :data:`PRODUCTS`, or ``"numpy"`` off the CPU.

    Attributes:
        batch, width: ``B`` of the state and the block's width.
        serial: whether a token runs on one thread (on the CPU, when ``B · width ≤``
            :data:`SERIAL_WIDTH` or the products go through numpy); otherwise it runs on the
            caller's threads, its norms and GELU on one.
        products: ``"torch"`` or ``"numpy"``, the way the products run.
    """

    @torch.no_grad()
    def __init__(self, block: DTNBlock, state: DTNBlockState, *,
                 products: str = "auto") -> None:
        from prodint.nn.dtn.block import DTNBlock, DTNBlockState

        check_instance(block, "block", DTNBlock)
        check_instance(state, "state", DTNBlockState)
        check_choice(products, "products", PRODUCTS)
        att = block.attention
        dtype, device = att.params["Wq"].dtype, att.params["Wq"].device
        if dtype in HALF:
            raise TypeError(f"block: expected float32 or float64 parameters, received {dtype} "
                            f"(stream half precision with step)")
        cpu = device.type == "cpu"
        if products == "numpy" and not cpu:
            raise ValueError(f"products: expected 'torch' or 'auto' for a block on {device} "
                             f"('numpy' runs on the CPU), received 'numpy'")
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
        bias = None
        if extra:  # the bias puts the ones back after every product
            bias = wq.new_zeros(heads, 3 * d + extra)
            bias[:, 3 * d:] = 1.0
            bias = bias.reshape(-1)
        if products == "auto":
            products = "numpy" if cpu and self.batch * self.width >= NUMPY_WIDTH else "torch"
        self.products = products
        numpy = self.products == "numpy"
        self._qkv = _Product(self._wqkv, rows.view(self.batch, heads * rows.shape[-1]), bias,
                             numpy)
        self._wo = _Product(att.params["Wo"].detach(), wq.new_empty(self.batch, self.width),
                            numpy=numpy)
        self._rms, self._rms_eps = att.output_norm, wq.new_tensor(RMS_EPS)
        self._mixer_state = state.mixer
        self._mlp: tuple[_Product, _Product] | None = None
        if isinstance(block.mixer, MLP):  # else the tensor interaction's own step
            self._init_mlp(block.mixer, numpy)
        self._init_conv(block, state.conv)
        self.serial = cpu and (numpy or self.batch * self.width <= SERIAL_WIDTH)
        self._small = _serially if cpu and not self.serial else _direct  # norms and GELU

    def _init_mlp(self, mlp: MLP, numpy: bool) -> None:
        p = mlp.params
        wi, bi, wo = p["Wi"].detach().T, p["bi"].detach(), p["Wo"].detach().T
        bo: Tensor | None = p["bo"].detach()
        self._erf = self.batch * mlp.hidden <= ERF_GELU_MAX
        if self._erf:  # the products give h/√2 and take (1 + erf(h/√2)) h/√2 (module doc)
            root = math.sqrt(0.5)
            self._e = wi.new_empty(self.batch, mlp.hidden)
            # g beside a column of ones, Wo/√2 above bo: one product adds the bias
            self._g = wi.new_ones(self.batch, mlp.hidden + 1)
            self._gh = self._g[:, :mlp.hidden]
            wi, bi, wo, bo = wi * root, bi * root, torch.cat([wo * root, bo[None]]), None
        like = wi.new_empty
        self._mlp = (_Product(wi.contiguous(), like(self.batch, mlp.hidden), bi.contiguous(),
                              numpy),
                     _Product(wo.contiguous(), like(self.batch, self.width), bo, numpy))

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
            return self.advance(x.detach()).clone()

    def advance(self, x: Tensor) -> Tensor:
        """:meth:`__call__` without its checks or thread switch, for a caller that has made
        both (:class:`~prodint.nn.stacked_lm.StackedLMDecoder`): ``x`` must be a tensor
        ``[B, width]`` of the parameters' dtype and device that requires no gradient. The
        result may be a buffer of the decoder that its next token overwrites."""
        (w1, b1, e1), (w2, b2, e2) = self._norms
        small = self._small
        u = small(F.layer_norm, x, (self.width,), w1, b1, e1)
        if self._kernel:
            r = self._next
            self._slots[r].copy_(u)
            self._next = (r + 1) % self._kernel
            u = torch.linalg.vecdot(self._buffer, self._taps[r], dim=0)
        self._qkv.run(u)
        o = self._step.advance()
        if self._rms:  # o / sqrt(mean(o²) + eps), with mean(o²) = ‖o‖² / d
            size = torch.linalg.vector_norm(o, dim=-1, keepdim=True)
            o = o * torch.addcmul(self._rms_eps, size, size, value=1.0 / self._d).rsqrt_()
        z = self._wo.run(o.view(self.batch, self.width), x)
        n = small(F.layer_norm, z, (self.width,), w2, b2, e2)
        if self._mlp is None:
            with torch.no_grad():
                m, self._mixer_state = self._block.mixer.step(n, self._mixer_state)
            return z + m
        into, out = self._mlp
        if self._erf:  # a = h/√2, g = a + a·erf(a) (module doc), then z + [g, 1] [Wo/√2; bo]
            a = into.run(n)
            torch.addcmul(a, a, torch.erf(a, out=self._e), out=self._gh)
            return out.run(self._g, z)
        return out.run(small(F.gelu, into.run(n)), z)

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

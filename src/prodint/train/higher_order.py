"""Product interactions of a chosen self-interaction order and projection rank.

An order-``k`` interaction of rank ``R`` on a signal ``X[t, c]`` (``c`` of size ``width``) is
the Hadamard product of ``k`` rank-``R`` projections, each mixing tokens along time::

    y = W_o ( f_1 ⊙ f_2 ⊙ … ⊙ f_k ),      f_i = P_i(X) + b_i,
    P_i(X)[t] = Σ_{ℓ<L} X[t-ℓ] B_i K_i[ℓ] A_i        (rows: X[t] ∈ R^width)

(``X[s] = 0`` for ``s < 0``). ``B_i: width → R`` projects the channels down to ``R``,
``K_i[ℓ]: R → R`` is a causal convolution of ``L = kernel`` taps along time among those
``R`` channels and ``A_i: R → width`` projects back. So at every lag ``ℓ`` the channel map
of ``P_i`` is ``B_i K_i[ℓ] A_i``, a ``width × width`` matrix that factors through ``R``
channels: its rank is at most ``R``, the **projection rank**. Each factor has order 1 (it is
linear in ``X``), so the product has self-interaction order ``k`` (the expression's
:attr:`~prodint.interaction.Expr.self_interaction_order` states it).

The biases start at ``b_1 = 0`` and ``b_i = 1`` for ``i ≥ 2``, so that
``y = W_o (P_1 X ⊙ (1 + P_2 X) ⊙ …)``: the order-``k`` layer contains the order-``k-1``
one (``A_k = 0``), and the orders are nested function classes. Initial weights preserve the
variance (``B_i ~ N(0, 1/width)``, ``K_i ~ N(0, 1/(L·R))``, ``A_i ~ N(0, 1/R)``,
``W_o ~ N(0, 1/width)``). The layer has ``k (2·width·R + L·R² + width) + width²``
parameters.

:func:`higher_order_interaction` writes the expression, :func:`higher_order_mixer`
compiles it (``[B, T, width] -> [B, T, width]``) and :func:`higher_order_model` puts one in
every block of a :class:`~prodint.train.models.MixerModel`, which
:func:`prodint.train.trainer.train` takes as its ``model``.
"""

from __future__ import annotations

import torch

from prodint.algebra import hadamard
from prodint.checks import (
    check_dtype,
    check_generator,
    check_int,
    check_parameter_memory,
    check_seed,
)
from prodint.interaction import (
    Contract,
    Expr,
    InteractionLayer,
    Pad,
    Parameter,
    Product,
    Signal,
    Sum,
    Window,
    compile,
)
from prodint.train.mixers import DTYPES
from prodint.train.models import MixerModel, build_model

__all__ = ["MAX_ORDER", "higher_order_interaction", "higher_order_mixer", "higher_order_model"]

#: The highest order built (the product of this many factors).
MAX_ORDER = 8


def _check_sizes(width: object, order: object, rank: object, kernel: object
                 ) -> tuple[int, int, int, int]:
    width = check_int(width, "width", minimum=1, maximum=2**16)
    order = check_int(order, "order", minimum=1, maximum=MAX_ORDER)
    rank = check_int(rank, "rank", minimum=1, maximum=width)
    kernel = check_int(kernel, "kernel", minimum=1, maximum=2**16)
    return width, order, rank, kernel


def higher_order_interaction(width: int, order: int, rank: int, kernel: int) -> Expr:
    """The order-``order`` interaction of projection rank ``rank`` (module doc) on
    ``X[t, c]``, ``t`` free, ``c`` of size ``width``; its value is ``[t, d]`` (``d`` of size
    ``width``).

    Parameters (per factor ``i`` in ``1..order``): ``B<i>[c, r]``, ``K<i>[k, r, q]`` (tap
    ``k`` reads lag ``kernel - 1 - k``: ``K_i[ℓ] = K<i>[kernel - 1 - ℓ]``), ``A<i>[q, o]``,
    ``b<i>[o]``; then ``Wo[o, d]``.

    Raises:
        TypeError: a size that is not an int.
        ValueError: ``width`` or ``kernel`` outside ``[1, 65536]``, ``order`` outside
            ``[1, MAX_ORDER]``, ``rank`` outside ``[1, width]``.
    """
    width, order, rank, kernel = _check_sizes(width, order, rank, kernel)
    x = Signal("X", [("t", None), ("c", width)])
    product: Expr | None = None
    for i in range(1, order + 1):
        down = Contract(x, Parameter(f"B{i}", [("c", width), ("r", rank)]), over="c")
        taps = Window(Pad(down, "t", kernel - 1, 0), "t", kernel, "k")  # [t, k, r]
        mixed = Contract(taps, Parameter(f"K{i}", [("k", kernel), ("r", rank), ("q", rank)],
                                         fan_in=("k", "r")), over=("k", "r"))  # [t, q]
        up = Contract(mixed, Parameter(f"A{i}", [("q", rank), ("o", width)]), over="q")
        factor = Sum(up, Parameter(f"b{i}", [("o", width)], init="zeros" if i == 1 else "ones"))
        product = factor if product is None else Product(product, factor, hadamard(width), "o")
    return Contract(product, Parameter("Wo", [("o", width), ("d", width)]), over="o")


def higher_order_mixer(width: int, order: int, rank: int, kernel: int, *,
                       generator: torch.Generator | None = None,
                       dtype: torch.dtype = torch.float32) -> InteractionLayer:
    """:func:`higher_order_interaction` compiled: a layer ``[B, T, width] -> [B, T, width]``
    whose weights are drawn from ``generator``.

    Raises:
        TypeError, ValueError: as :func:`higher_order_interaction`; a generator that is not
            one, a dtype other than float32 and float64.
    """
    expression = higher_order_interaction(width, order, rank, kernel)
    check_generator(generator)
    dtype = check_dtype(dtype, dtypes=DTYPES, optional=False)
    return compile(expression, generator=generator, dtype=dtype)


def higher_order_model(task: str, *, order: int, rank: int, kernel: int, width: int = 32,
                       depth: int = 2, classes: int | None = None,
                       in_features: int | None = None, vocab: int | None = None,
                       horizon: int | None = None, seed: int = 0,
                       dtype: torch.dtype = torch.float32, causal: bool = False,
                       mlp: bool = True) -> MixerModel:
    """The model of :func:`~prodint.train.models.build_model` (same arguments, same
    embedding, blocks and head) with a :func:`higher_order_mixer` in every block; its
    ``config["mixer"]`` reads ``"order<order>-rank<rank>"``. The mixers' weights are drawn
    from a generator seeded by ``seed``, so the same arguments build the same state dict.

    Raises:
        TypeError, ValueError: as :func:`build_model` and :func:`higher_order_interaction`,
            before anything is built.
    """
    width, order, rank, kernel = _check_sizes(width, order, rank, kernel)
    depth = check_int(depth, "depth", minimum=1)
    seed = check_seed(seed)
    dtype = check_dtype(dtype, dtypes=DTYPES, optional=False)
    per_layer = order * (2 * width * rank + kernel * rank * rank + width) + width * width
    check_parameter_memory(depth * per_layer, "width, depth, kernel", dtype)
    model = build_model(task, "dense", width=width, depth=depth, classes=classes,
                        in_features=in_features, vocab=vocab, horizon=horizon, seed=seed,
                        dtype=dtype, causal=causal, mlp=mlp)
    generator = torch.Generator().manual_seed(seed)
    for block in model.blocks:
        block.mixer = higher_order_mixer(width, order, rank, kernel, generator=generator,
                                         dtype=dtype)
    model.config["mixer"] = f"order{order}-rank{rank}"
    return model

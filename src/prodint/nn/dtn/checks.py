"""Argument checks shared by the layers of :mod:`prodint.nn` (clear errors before any work).

Built on :mod:`prodint.checks`; what is specific to layers lives here: sizes that must be
positive ints (:func:`check_positive`), heads that divide the width (:func:`check_heads`),
a decay in ``(0, 1]`` (:func:`check_decay`) and the dtype a layer accumulates in
(:func:`accumulation_dtype`). The options every layer takes and the memory of its
parameters are checked by :func:`prodint.checks.check_layer_options` and
:func:`prodint.checks.check_parameter_memory`.
"""

from __future__ import annotations

import torch

from prodint.checks import check_bool as _check_bool
from prodint.checks import check_float, check_int, check_parameter_memory
from prodint.interaction import Expr

__all__ = [
    "BLOCK_PARAMETERS",
    "HALF",
    "accumulation_dtype",
    "check_block_sizes",
    "check_bool",
    "check_decay",
    "check_expression_input",
    "check_heads",
    "check_model_sizes",
    "check_positive",
    "check_state_batch",
]

#: About how many parameters a block of a language model has per ``width²`` (the estimate
#: checked before building one, or ``depth`` of them): tensor attention's four
#: ``width × width`` matrices and an MLP of hidden width ``4·width``.
BLOCK_PARAMETERS = 12

#: Half-precision dtypes: layers run the sequence operators on them in float32.
HALF = (torch.float16, torch.bfloat16)


def check_positive(**values: object) -> None:
    """Raise unless every value is a positive int (not a bool, not a float)."""
    for name, value in values.items():
        check_int(value, name, minimum=1)


def check_heads(width: int, heads: int, **others: object) -> int:
    """``width``, ``heads`` (and ``others``) positive ints with ``heads`` dividing ``width``;
    returns the head width ``width // heads``."""
    check_positive(width=width, heads=heads, **others)
    if width % heads:
        raise ValueError(f"heads: expected a divisor of width={width}, received {heads}")
    return width // heads


def check_bool(**values: object) -> None:
    """Raise unless every value is a bool."""
    for name, value in values.items():
        _check_bool(value, name)


def check_decay(decay: object, causal: bool) -> float | None:
    """``decay`` as a float in ``(0, 1]`` (or ``None``); a decay needs a causal layer."""
    check_bool(causal=causal)
    if decay is None:
        return None
    value = check_float(decay, "decay", minimum=0.0, strict_minimum=True, maximum=1.0)
    if not causal:
        raise ValueError(f"decay: expected None for a non-causal layer (it has no order in "
                         f"time), received {decay!r}")
    return value


def check_expression_input(x: object, prefix: object, width: int) -> Expr:
    """``x`` as an expression with a channel axis ``m`` of size ``width`` (the input of a
    layer's expression) and ``prefix`` (of its parameter names) a str."""
    if not isinstance(x, Expr):
        raise TypeError(f"x: expected an interaction expression (Expr), received "
                        f"{type(x).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix: expected a str, received {type(prefix).__name__}")
    if prefix and not (prefix + "W").isidentifier():
        raise ValueError(f"prefix: expected the start of an identifier (parameter names are "
                         f"prefix + 'Wq'...), received {prefix!r}")
    sizes = {a.name: a.size for a in x.axes}
    if sizes.get("m", width) != width or "m" not in sizes:
        raise ValueError(f"x: expected an expression with the axis m of size width={width}, "
                         f"received one with axes {list(x.axes)}")
    return x



def accumulation_dtype(dtype: torch.dtype | None) -> torch.dtype:
    """The dtype a layer of parameters in ``dtype`` runs its sequence operator in: float32
    for half precision (:data:`HALF`), else ``dtype`` (torch's default when ``None``)."""
    dtype = dtype or torch.get_default_dtype()
    return torch.float32 if dtype in HALF else dtype


def check_state_batch(state: object, batch: int, source: str) -> None:
    """Raise unless every tensor of the streaming ``state`` (nested tuples, ``None`` fields
    skipped) has the batch size ``batch`` of ``source`` (``"x_t"``) in its first dim."""
    if isinstance(state, torch.Tensor):
        if state.dim() == 0 or state.shape[0] != batch:
            raise ValueError(f"state: expected the state of a batch of {batch} (that of "
                             f"{source}), received a tensor of shape {tuple(state.shape)}")
    elif isinstance(state, (tuple, list)):
        for part in state:
            check_state_batch(part, batch, source)




def check_block_sizes(width: int, heads: int, hidden: int | None, local_conv: int,
                      dtype: torch.dtype | None) -> None:
    """The sizes of a language-model block (positive ``width``, ``heads`` and ``hidden``,
    ``local_conv >= 0``) and the memory of its parameters, before any is built."""
    check_positive(width=width, heads=heads)
    check_parameter_memory(BLOCK_PARAMETERS * width * width, "width", dtype,
                           what="a block")
    check_int(local_conv, "local_conv", minimum=0)
    check_parameter_memory(width * local_conv, "local_conv", dtype,
                           what="the convolution's taps")
    if hidden is not None:
        check_positive(hidden=hidden)
        check_parameter_memory(2 * width * hidden, "hidden", dtype,
                               what="the MLP's weights")


def check_model_sizes(vocab: int, width: int, depth: int, heads: int,
                      dtype: torch.dtype | None) -> None:
    """The sizes of a language model (positive ints) and the memory of one block, of the
    embedding table and of ``depth`` blocks, before any is built."""
    check_positive(vocab=vocab, width=width, depth=depth, heads=heads)
    block = BLOCK_PARAMETERS * width * width
    check_parameter_memory(block, "width", dtype, what="a block")
    check_parameter_memory(vocab * width, "vocab, width", dtype,
                           what="the embedding table")
    check_parameter_memory(depth * block, "depth", dtype,
                           what=f"{depth} blocks")

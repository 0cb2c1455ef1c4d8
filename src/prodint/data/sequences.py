"""Sequence tasks: images read pixel by pixel, the copy task, modular arithmetic tables.

A :class:`SequenceSet` holds inputs and targets of one of three kinds:

- features ``float32 [N, T, F]`` with class targets ``int64 [N]`` (:func:`sequential`: the
  pixel-by-pixel image tasks, ``T = H*W``, ``F = 1``) or regression targets
  ``float32 [N, horizon]`` (``prodint.data.electricity``);
- tokens ``int64 [N, T]`` in ``[0, vocab)`` with per-step targets ``int64 [N, T]``
  (:func:`copy_task`).

:func:`modular_table` is the ``[p, p]`` table of ``(a op b) mod p``, the data of the
modular-arithmetic (grokking) tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from prodint.checks import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_memory,
    check_seed,
    check_tensor,
)
from prodint.data.images import ImageSet

__all__ = ["MODULAR_OPERATIONS", "SequenceSet", "copy_task", "modular_table", "sequential"]

#: The operations of :func:`modular_table`.
MODULAR_OPERATIONS: tuple[str, ...] = ("add", "sub", "mul")

_INTEGER = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _check_range(t: Tensor, argument: str, bound: int, what: str) -> None:
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= bound):
        raise ValueError(f"{argument}: expected {what} in [0, {bound}), received values in "
                         f"[{int(t.min())}, {int(t.max())}]")


@dataclass(frozen=True)
class SequenceSet:
    """Sequences with their targets.

    Attributes:
        inputs: ``float32 [N, T, F]`` features, or ``int64 [N, T]`` tokens in ``[0, vocab)``
            (any integer dtype is converted).
        targets: ``int64 [N]`` classes or ``int64 [N, T]`` per-step classes, in
            ``[0, classes)``; or ``float32 [N, horizon]`` regression targets.
        classes: the number of classes (``>= 1``), ``None`` for regression targets.
        vocab: the token vocabulary (``>= 1``) when the inputs are tokens, else ``None``.
        name: the task's name.

    Raises:
        TypeError: a field of the wrong kind or dtype.
        ValueError: shapes that do not match, tokens or classes out of range, ``classes``
            given for regression targets (or missing for class targets), ``vocab`` given
            for features (or missing for tokens).
    """

    inputs: Tensor
    targets: Tensor
    classes: int | None
    vocab: int | None
    name: str

    def __post_init__(self) -> None:
        x = check_tensor(self.inputs, "inputs", rank=(2, 3), dtypes=(torch.float32, *_INTEGER))
        y = check_tensor(self.targets, "targets", rank=(1, 2), dtypes=(torch.float32, *_INTEGER))
        check_instance(self.name, "name", str)
        for argument, t in (("inputs", x), ("targets", y)):
            if t.device.type == "meta":
                raise ValueError(f"{argument}: expected a tensor that holds data, received "
                                 f"one on meta")
        tokens = x.dim() == 2
        if tokens != (x.dtype != torch.float32):
            raise TypeError(f"inputs: expected float32 [N, T, F] features or integer [N, T] "
                            f"tokens, received {x.dtype} of shape {tuple(x.shape)}")
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"targets: expected {x.shape[0]} rows (one per input), received "
                             f"{y.shape[0]}")
        if tokens:
            vocab = check_int(self.vocab, "vocab", minimum=1)
            _check_range(x, "inputs", vocab, "tokens")
        elif self.vocab is not None:
            raise ValueError(f"vocab: expected None for feature inputs, received {self.vocab!r}")
        if y.dtype == torch.float32:
            if y.dim() != 2:
                raise ValueError(f"targets: expected float32 regression targets of shape "
                                 f"[N, horizon], received shape {tuple(y.shape)}")
            if self.classes is not None:
                raise ValueError(f"classes: expected None with regression targets, received "
                                 f"{self.classes!r}")
        else:
            classes = check_int(self.classes, "classes", minimum=1)
            if y.dim() == 2 and (not tokens or y.shape[1] != x.shape[1]):
                raise ValueError(f"targets: expected per-step targets of shape "
                                 f"{tuple(x.shape)} for token inputs, received "
                                 f"{tuple(y.shape)}")
            _check_range(y, "targets", classes, "classes")
            object.__setattr__(self, "targets", y.to(torch.int64))
            object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "inputs", x.to(torch.int64) if tokens else x)

    def __len__(self) -> int:
        return self.inputs.shape[0]


def sequential(images: ImageSet, *, permute: bool = False, seed: int = 0) -> SequenceSet:
    """The images read pixel by pixel in row-major order (sequential / permuted MNIST).

    ``inputs[n, t, 0] = images.images[n, 0, i, j]`` with ``t = i*W + j``, or with
    ``permute=True`` ``inputs[n, t, 0] = flat[n, π(t)]`` for one permutation ``π`` of the
    ``H*W`` steps drawn from ``seed`` (the same for every image).

    Returns:
        inputs ``float32 [N, H*W, 1]`` in ``[0, 1]``, targets the ``int64 [N]`` labels,
        ``classes = images.classes``, ``vocab = None``, name ``"sequential-<name>"`` or
        ``"permuted-<name>"``.

    Raises:
        TypeError: ``images`` not an :class:`ImageSet`, ``permute`` not a bool, ``seed`` not
            an int.
        ValueError: ``seed`` outside ``[0, 2**64 - 1]``.
    """
    check_instance(images, "images", ImageSet)
    check_bool(permute, "permute")
    seed = check_seed(seed)
    n, _, h, w = images.images.shape
    flat = images.images.reshape(n, h * w, 1)
    if permute:
        order = torch.randperm(h * w, generator=torch.Generator().manual_seed(seed))
        flat = flat[:, order.to(flat.device)]
    kind = "permuted" if permute else "sequential"
    return SequenceSet(flat.clone(), images.labels.clone(), images.classes, None,
                       f"{kind}-{images.name}")


def copy_task(count: int, *, length: int = 10, alphabet: int = 8, delay: int = 10,
              seed: int = 0) -> SequenceSet:
    """The copy (memory) task: remember ``length`` symbols over ``delay`` blanks.

    Each row of ``T = 2*length + delay + 1`` tokens is ``length`` symbols drawn uniformly from
    ``1..alphabet``, ``delay`` blanks (``0``), the marker ``alphabet + 1`` and ``length``
    blanks; its targets are ``0`` for the first ``length + delay + 1`` steps and the symbols,
    in order, at the last ``length`` steps.

    Returns:
        inputs and targets ``int64 [count, T]`` in ``[0, alphabet + 2)``,
        ``vocab = classes = alphabet + 2``, name ``"copy"``.

    Raises:
        TypeError: an argument that is not an int.
        ValueError: ``count``, ``length`` or ``alphabet`` below 1 (``alphabet`` at most
            ``2**62``, so that the tokens fit int64), ``delay`` below 0, a ``seed`` outside
            ``[0, 2**64 - 1]``, or a set too large for the memory budget.
    """
    count = check_int(count, "count", minimum=1)
    length = check_int(length, "length", minimum=1)
    alphabet = check_int(alphabet, "alphabet", minimum=1, maximum=2**62)
    delay = check_int(delay, "delay", minimum=0)
    seed = check_seed(seed)
    steps = 2 * length + delay + 1
    check_memory(24.0 * count * steps, "count", f"{count} sequences of {steps} tokens")
    symbols = torch.randint(1, alphabet + 1, (count, length),
                            generator=torch.Generator().manual_seed(seed))
    inputs = torch.zeros(count, steps, dtype=torch.int64)
    inputs[:, :length] = symbols
    inputs[:, length + delay] = alphabet + 1
    targets = torch.zeros(count, steps, dtype=torch.int64)
    targets[:, steps - length:] = symbols
    return SequenceSet(inputs, targets, alphabet + 2, alphabet + 2, "copy")


def modular_table(p: int, operation: str = "add") -> Tensor:
    """The table ``T[a, b] = (a op b) mod p`` for ``a, b`` in ``0..p-1``.

    Args:
        p: the modulus, ``>= 1``.
        operation: ``"add"`` (``a + b``), ``"sub"`` (``a - b``) or ``"mul"`` (``a * b``).

    Returns:
        ``int64 [p, p]`` with entries in ``[0, p)``.

    Raises:
        TypeError: ``p`` not an int.
        ValueError: ``p < 1``, an unknown ``operation``, or a table too large for the
            memory budget.
    """
    p = check_int(p, "p", minimum=1)
    check_choice(operation, "operation", MODULAR_OPERATIONS)
    check_memory(24.0 * p * p, "p", f"the {p}x{p} table")
    a = torch.arange(p, dtype=torch.int64)[:, None]
    b = torch.arange(p, dtype=torch.int64)[None, :]
    if operation == "add":
        return (a + b) % p
    if operation == "sub":
        return (a - b) % p
    return (a * b) % p

"""Training and evaluating character-level language models.

:func:`train_lm` runs AdamW with linear warm-up then cosine decay and gradient-norm clipping
on random windows of a :class:`~prodint.data.shakespeare.CharCorpus`, evaluating validation
bits per character every ``eval_every`` steps. Bits per character is the mean next-character
cross-entropy in nats divided by ``ln 2``. Training throughput counts the tokens of the
optimizer steps over their wall time only (evaluation excluded). Everything is seeded: the
same seed gives the same windows and, on CPU, the same model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.checks import check_float, check_int, check_seed, check_tensor
from prodint.data.shakespeare import CharCorpus

__all__ = ["LMConfig", "LMHistory", "bits_per_character", "parameter_groups", "prefill",
           "train_lm"]


@dataclass(frozen=True)
class LMConfig:
    """Hyper-parameters of :func:`train_lm` (see module doc).

    Checked on construction: ``steps``, ``batch``, ``length``, ``eval_every`` and
    ``eval_windows`` are ints ``>= 1``, ``warmup`` an int ``>= 0``, ``seed`` an int in
    ``[0, 2**64 - 1]``; ``lr`` and ``clip`` finite reals ``> 0``, ``weight_decay`` a finite
    real ``>= 0``.

    Raises:
        TypeError: a field of the wrong kind (``steps=2.5``, ``lr="1e-3"``).
        ValueError: a field out of range, or a real that is NaN or infinite.
    """

    steps: int = 1000
    batch: int = 16
    length: int = 256
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.01
    clip: float = 1.0
    eval_every: int = 100
    eval_windows: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "length", "eval_every", "eval_windows"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        object.__setattr__(self, "warmup", check_int(self.warmup, "warmup", minimum=0))
        object.__setattr__(self, "seed", check_seed(self.seed))
        for name, strict in (("lr", True), ("weight_decay", False), ("clip", True)):
            object.__setattr__(self, name, check_float(getattr(self, name), name, minimum=0,
                                                       strict_minimum=strict))


@dataclass
class LMHistory:
    """What :func:`train_lm` measured.

    Attributes:
        steps: step numbers of the ``train_loss`` entries (every step).
        train_loss: training cross-entropy (nats) per step.
        eval_steps, validation_bpc: validation bits per character at evaluation points.
        train_seconds: wall time of the optimizer steps (evaluation excluded).
        tokens_per_second: ``steps · batch · length / train_seconds``.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    validation_bpc: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    tokens_per_second: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _lr_factor(step: int, config: LMConfig) -> float:
    if step < config.warmup:
        return (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, received {type(model).__name__}")
    return model


def _check_corpus(corpus: object) -> CharCorpus:
    if not isinstance(corpus, CharCorpus):
        raise TypeError(f"corpus: expected a CharCorpus, received {type(corpus).__name__}")
    return corpus


def _device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (the CPU when it has none)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _logits(model: nn.Module, x: Tensor, vocab: int) -> Tensor:
    """``model(x)``, checked to be ``[B, T, >= vocab]`` logits."""
    logits = model(x)
    if not isinstance(logits, Tensor) or logits.dim() != 3 or \
            tuple(logits.shape[:2]) != tuple(x.shape) or logits.shape[2] < vocab:
        shown = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"model: expected logits [B, T, vocab] with vocab >= {vocab} (the "
                         f"corpus alphabet) for ids of shape {tuple(x.shape)}, received "
                         f"{shown}")
    return logits


#: Names of parameters never decayed, whatever their shape (see :func:`parameter_groups`).
NO_DECAY_NAMES = frozenset({"A_log", "D", "bias"})


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """AdamW parameter groups: weight decay on the weight matrices, none on the rest.

    Exempt from decay: every parameter of fewer than two dims (biases, gains, Mamba's skip
    ``D``), every parameter of a normalization module (a module whose class name contains
    ``Norm``), and Mamba's state decay ``A_log`` (a ``[d, N]`` table of log-rates, not a
    weight: decaying it drags every rate towards 1). Returns the decayed group first, then
    the rest (``weight_decay`` 0); a parameter shared by several modules is listed once.

    Raises:
        TypeError: ``model`` is not a module, ``weight_decay`` not a real number.
        ValueError: ``weight_decay`` is NaN, infinite or negative.
    """
    _check_model(model)
    weight_decay = check_float(weight_decay, "weight_decay", minimum=0)
    in_norms = {id(p) for m in model.modules() if "norm" in type(m).__name__.lower()
                for p in m.parameters()}
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        exempt = p.dim() < 2 or id(p) in in_norms or leaf in NO_DECAY_NAMES
        (no_decay if exempt else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]



@torch.no_grad()
def bits_per_character(model: nn.Module, corpus: CharCorpus, length: int,
                       windows: int | None = None) -> float:
    """Validation bits per character over the first ``windows`` consecutive windows of the
    validation split (all of them when ``None``), in batches of 16, on the model's device.

    Raises:
        TypeError: ``model`` not a module, ``corpus`` not a :class:`CharCorpus`, ``length``
            or ``windows`` not an int.
        ValueError: ``length`` or ``windows`` below 1, ``length`` too long for the
            validation split, or a model whose output is not ``[B, T, vocab]`` logits.
    """
    _check_model(model)
    _check_corpus(corpus)
    check_int(length, "length", minimum=1)
    if windows is not None:
        check_int(windows, "windows", minimum=1)
    x, y = corpus.windows("validation", length)
    if windows is not None:
        x, y = x[:windows], y[:windows]
    device = _device(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for xb, yb in zip(x.split(16), y.split(16), strict=True):
            logits = _logits(model, xb.to(device), corpus.vocab_size)
            total += float(F.cross_entropy(logits.flatten(0, 1), yb.to(device).flatten(),
                                           reduction="sum"))
            count += yb.numel()
    finally:
        model.train(was_training)
    return total / count / math.log(2.0)


def _check_config_fits(corpus: CharCorpus, config: LMConfig) -> None:
    """Both splits are long enough for ``config.length`` (checked before any step)."""
    for split, data, least in (("train", corpus.train, config.length + 1),
                               ("validation", corpus.validation, config.length + 1)):
        if len(data) < least:
            raise ValueError(f"config: expected length < {len(data)} (the {split} split of "
                             f"the corpus), received length={config.length}")


def train_lm(model: nn.Module, corpus: CharCorpus, config: LMConfig,
             progress: Callable[[int, float], None] | None = None) -> LMHistory:
    """Train ``model`` (``[B, T]`` ids → ``[B, T, vocab]`` logits) in place, on its device.

    Weight decay follows :func:`parameter_groups`. ``progress(step, loss)`` is called after
    every step. Every argument is checked before the first step, including that both splits
    of the corpus hold a window of ``config.length``.

    Raises:
        TypeError: ``model`` not a module, ``corpus`` not a :class:`CharCorpus`, ``config``
            not an :class:`LMConfig`, ``progress`` not callable.
        ValueError: ``config.length`` too long for a split; a model whose output is not
            ``[B, T, vocab]`` logits.
        FloatingPointError: the loss stopped being finite (the model is left as it was
            after the last finite step).
    """
    _check_model(model)
    _check_corpus(corpus)
    if not isinstance(config, LMConfig):
        raise TypeError(f"config: expected an LMConfig, received {type(config).__name__}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress: expected a callable or None, received "
                        f"{type(progress).__name__}")
    _check_config_fits(corpus, config)
    device = _device(model)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, config))
    history = LMHistory()
    model.train()
    for step in range(config.steps):
        start = time.perf_counter()
        x, y = corpus.batch("train", config.batch, config.length, generator)
        logits = _logits(model, x.to(device), corpus.vocab_size)
        loss = F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten())
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss became {value} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        schedule.step()
        history.train_seconds += time.perf_counter() - start
        history.steps.append(step + 1)
        history.train_loss.append(value)
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            history.eval_steps.append(step + 1)
            history.validation_bpc.append(
                bits_per_character(model, corpus, config.length, config.eval_windows))
        if progress is not None:
            progress(step + 1, value)
    tokens = config.steps * config.batch * config.length
    history.tokens_per_second = tokens / max(history.train_seconds, 1e-9)
    return history


def prefill(model: nn.Module, prompt: Tensor) -> tuple[Tensor, object]:
    """Read ``prompt [B, T0]`` with ``model.prefill`` (in parallel): the last position's
    logits ``[B, vocab]`` and the state from which ``model.step`` continues.

    Raises:
        TypeError: ``model`` is not a module with a ``prefill`` method; ``prompt`` is not an
            integer tensor.
        ValueError: ``prompt`` is not ``[B, T0]`` with ``T0 >= 1``, or holds ids outside
            ``[0, model.vocab)`` (for a model with an int ``vocab``).
    """
    _check_model(model)
    if not callable(getattr(model, "prefill", None)):
        raise TypeError(f"model: expected a language model with a prefill method, received "
                        f"{type(model).__name__}")
    check_tensor(prompt, "prompt", rank=2, layout="[B, T0]", dtypes=(torch.int32, torch.int64))
    if prompt.shape[1] == 0:
        raise ValueError(f"prompt: expected at least one token, received shape "
                         f"{tuple(prompt.shape)}")
    vocab = getattr(model, "vocab", None)
    if isinstance(vocab, int) and prompt.numel() and prompt.device.type != "meta":
        low, high = int(prompt.min()), int(prompt.max())
        if low < 0 or high >= vocab:
            raise ValueError(f"prompt: expected ids in [0, {vocab}) (the model's vocab), "
                             f"received ids in [{low}, {high}]")
    with torch.no_grad():
        logits, state = model.prefill(prompt)
    return logits[:, -1], state

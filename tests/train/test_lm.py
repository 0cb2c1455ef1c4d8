"""The language-model trainer: it learns, is deterministic, and reports bits per character."""

import math

import pytest
import torch

from prodint.data.shakespeare import CharCorpus
from prodint.nn.softmax_lm import SoftmaxLM
from prodint.train.lm import LMConfig, bits_per_character, parameter_groups, prefill, train_lm

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


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"steps": 2.5}, TypeError, r"steps: expected an int, received 2\.5"),
    ({"batch": 4.0}, TypeError, r"batch: expected an int, received 4\.0"),
    ({"warmup": -1}, ValueError, r"warmup: expected an int >= 0, received -1"),
    ({"lr": float("nan")}, ValueError, r"lr: expected a finite number > 0, received nan"),
    ({"clip": float("inf")}, ValueError, r"clip: expected a finite number > 0, received inf"),
    ({"weight_decay": -0.1}, ValueError, r"weight_decay: expected a finite number >= 0"),
    ({"seed": 2**64}, ValueError, r"seed: expected an int in \[0, 18446744073709551615\]"),
])
def test_every_config_field_is_checked(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        LMConfig(**kwargs)


def test_no_weight_decay_on_mamba_state_decay_skip_norms_and_biases() -> None:
    from prodint.nn.stacked_lm import StackedLM
    from prodint.zoo.mamba import MambaBlock

    model = StackedLM(11, 8, [MambaBlock(8, d_state=4)])
    decayed, kept = parameter_groups(model, 0.1)
    assert decayed["weight_decay"] == 0.1 and kept["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed_names = {names[id(p)] for p in decayed["params"]}
    kept_names = {names[id(p)] for p in kept["params"]}
    assert "blocks.0.params.A_log" in kept_names  # 2-D, but a table of log-rates
    assert {"blocks.0.params.D", "norm.params.weight", "norm.params.bias",
            "blocks.0.params.b_dt"} <= kept_names
    assert {"embed.params.E", "blocks.0.params.W_x", "blocks.0.params.W_out"} <= decayed_names
    assert len(decayed_names) + len(kept_names) == len(list(model.parameters()))


def test_a_norm_module_is_never_decayed_whatever_the_shape() -> None:
    class GroupNormish(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(2, 3))

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), GroupNormish())
    decayed, kept = parameter_groups(model, 0.01)
    assert [p.shape for p in decayed["params"]] == [(3, 3)]
    assert sorted(tuple(p.shape) for p in kept["params"]) == [(2, 3), (3,)]


def test_train_checks_everything_before_the_first_step() -> None:
    corpus = CharCorpus.from_text(TEXT, 0.1)
    model = _model(corpus)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"config: expected length < 270 \(the validation "
                                         r"split of the corpus\), received length=300"):
        train_lm(model, corpus, LMConfig(steps=2, batch=2, length=300))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with pytest.raises(TypeError, match=r"config: expected an LMConfig, received dict"):
        train_lm(model, corpus, {"steps": 2})
    with pytest.raises(TypeError, match=r"corpus: expected a CharCorpus, received str"):
        bits_per_character(model, TEXT, 16)
    with pytest.raises(ValueError, match=r"model: expected logits \[B, T, vocab\] with vocab "
                                         r">= 28"):
        bits_per_character(torch.nn.Embedding(corpus.vocab_size, 3), corpus, 16)


def test_prefill_checks_its_prompt() -> None:
    corpus = CharCorpus.from_text(TEXT, 0.1)
    model = _model(corpus)
    with pytest.raises(ValueError, match=r"prompt: expected at least one token"):
        prefill(model, torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(TypeError, match=r"prompt: expected dtype int32, int64"):
        prefill(model, torch.zeros(1, 3))
    with pytest.raises(TypeError, match=r"model: expected a language model with a prefill"):
        prefill(torch.nn.Linear(2, 2), torch.zeros(1, 3, dtype=torch.long))

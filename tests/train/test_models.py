"""Tests of prodint.train.models and prodint.train.mixers: every mixer in every task, causality,
seeding, errors and the plain-torch twins (equal outputs after copying the weights)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from prodint.train.models import MIXERS, PLAIN_MIXERS, TASKS, build_model, plain_torch_model

F64 = torch.float64
WIDTH, T, B = 12, 8, 2
NON_CAUSAL = ("circular_conv",)
CAUSAL = tuple(m for m in MIXERS if m not in NON_CAUSAL)
SIZES = {"image": dict(classes=3, in_features=5), "sequence": dict(classes=3, in_features=2),
         "tokens": dict(classes=4, vocab=6), "forecast": dict(horizon=2, in_features=3)}


def _input(task: str, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if task == "image":
        return torch.rand(B, 1, 7, 5, generator=g, dtype=F64)
    if task == "tokens":
        return torch.randint(6, (B, T), generator=g)
    return torch.randn(B, T, SIZES[task]["in_features"], generator=g, dtype=F64)


def _model(task: str, mixer: str, **options: object) -> torch.nn.Module:
    return build_model(task, mixer, **(dict(width=WIDTH, depth=1, dtype=F64) | SIZES[task]
                                       | options))


def test_tasks_are_the_four_of_the_interface() -> None:
    assert TASKS == ("image", "sequence", "tokens", "forecast")
    assert set(PLAIN_MIXERS) <= set(MIXERS)


@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_every_mixer_in_every_task(mixer: str) -> None:
    shapes = {"image": (B, 3), "sequence": (B, 3), "tokens": (B, T, 4), "forecast": (B, 2)}
    for task in TASKS:
        causal = task in ("tokens", "forecast") and mixer in CAUSAL
        model = _model(task, mixer, causal=causal, depth=2 if task == "tokens" else 1)
        y = model(_input(task))
        assert y.shape == shapes[task] and y.dtype == F64 and torch.isfinite(y).all()
        (y ** 2).mean().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), (task, name)


@pytest.mark.parametrize("task", ["image", "sequence"])
def test_model_is_the_documented_architecture(task: str) -> None:
    causal = task == "sequence"  # the causal head reads the last position, the other pools
    model = _model(task, "dense", causal=causal, mlp=not causal)
    s, x = model.state_dict(), _input(task)

    def norm(h: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(h, (WIDTH,), s[f"{name}.weight"], s[f"{name}.bias"])

    def linear(h: torch.Tensor, name: str) -> torch.Tensor:
        return h @ s[f"{name}.params.W"].T + s[f"{name}.params.b"]

    h = linear(x[:, 0] if task == "image" else x, "embed")  # an image is a sequence of rows
    h = h + linear(norm(h, "blocks.0.norm"), "blocks.0.mixer")
    if not causal:
        up = F.gelu(linear(norm(h, "blocks.0.mlp_norm"), "blocks.0.mlp.up"))
        h = h + linear(up, "blocks.0.mlp.down")
    h = norm(h, "norm")
    expected = linear(h[:, -1] if causal else h.mean(dim=1), "head")
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_seed_fixes_the_weights(mixer: str) -> None:
    state = torch.random.get_rng_state()
    a, b = _model("sequence", mixer, seed=3).state_dict(), _model("sequence", mixer, seed=3)
    other = _model("sequence", mixer, seed=4).state_dict()
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left alone
    assert a.keys() == b.state_dict().keys() == other.keys()
    assert all(torch.equal(a[k], v) for k, v in b.state_dict().items())
    assert any(not torch.equal(a[k], v) for k, v in other.items())


@pytest.mark.parametrize("mixer", CAUSAL)
def test_causal_mixers_ignore_later_positions(mixer: str) -> None:
    layer = MIXERS[mixer](WIDTH, causal=True, generator=torch.Generator().manual_seed(0),
                          dtype=F64)
    x = torch.randn(B, T, WIDTH, generator=torch.Generator().manual_seed(1), dtype=F64)
    late = x.clone()
    late[:, -2:] += torch.randn(B, 2, WIDTH, generator=torch.Generator().manual_seed(2),
                                dtype=F64)
    y, y_late = layer(x), layer(late)
    assert y.shape == (B, T, WIDTH)
    torch.testing.assert_close(y_late[:, :-2], y[:, :-2], rtol=0, atol=1e-12)
    assert (y_late[:, -2:] - y[:, -2:]).abs().max() > 1e-6  # the late outputs do change


@pytest.mark.parametrize("mixer", ["conv", "softmax_attention", "linear_attention",
                                   "tensor_attention", "expr_softmax_attention",
                                   "harmonic_conv", "circular_conv"])
def test_non_causal_mixers_see_later_positions(mixer: str) -> None:
    layer = MIXERS[mixer](WIDTH, causal=False, generator=torch.Generator().manual_seed(0),
                          dtype=F64)
    x = torch.randn(B, T, WIDTH, generator=torch.Generator().manual_seed(1), dtype=F64)
    late = x.clone()
    late[:, -1] += 1
    # a kernel of 3 reaches one step back; circular padding wraps the last step to the first
    earlier = 0 if mixer == "circular_conv" else -2
    assert (layer(late)[:, earlier] - layer(x)[:, earlier]).abs().max() > 1e-6


def test_causal_token_model_and_last_position_head() -> None:
    model = _model("tokens", "softmax_attention", causal=True, depth=2)
    x = _input("tokens")
    late = x.clone()
    late[:, -1] = (late[:, -1] + 1) % 6
    torch.testing.assert_close(model(late)[:, :-1], model(x)[:, :-1], rtol=0, atol=1e-12)
    seq = _model("sequence", "gru", causal=True)
    x = _input("sequence")
    assert torch.equal(seq(x[:, :5]), seq(x[:, :5].clone()))
    # the head reads the last position: the model of the first 5 steps is the state at step 5
    longer = torch.cat([x[:, :5], torch.randn(B, 3, 2, dtype=F64)], dim=1)
    assert (seq(longer) - seq(x[:, :5])).abs().max() > 1e-6


def test_a_mixer_without_a_causal_form_is_refused() -> None:
    with pytest.raises(ValueError, match="mixer"):
        _model("tokens", "circular_conv", causal=True)
    with pytest.raises(ValueError, match="mixer"):
        MIXERS["circular_conv"](WIDTH, causal=True, generator=None, dtype=F64)


@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_one_adamw_step_lowers_the_loss(mixer: str) -> None:
    model = _model("sequence", mixer)
    x, labels = _input("sequence"), torch.tensor([0, 2])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    loss = torch.nn.functional.cross_entropy(model(x), labels)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        assert torch.nn.functional.cross_entropy(model(x), labels) < loss


@pytest.mark.parametrize("mixer", PLAIN_MIXERS)
def test_plain_twin_computes_the_same_function(mixer: str) -> None:
    for task in TASKS:
        for causal in (False, True):
            options = dict(width=WIDTH, depth=2, dtype=F64, causal=causal, seed=5) | SIZES[task]
            model = build_model(task, mixer, **options)
            plain = plain_torch_model(task, mixer, **options)
            x = _input(task, 1)
            assert (plain(x) - model(x)).abs().max() > 1e-6  # its own weights at first
            assert plain.load_state_from(model) is plain
            torch.testing.assert_close(plain(x), model(x), rtol=0, atol=1e-10)


def test_plain_twins_are_plain_torch() -> None:
    plain = plain_torch_model("sequence", "linear_recurrence", **SIZES["sequence"])
    assert all(type(m).__module__.startswith(("torch.", "prodint.train.")) for m in
               plain.modules())
    conv = plain_torch_model("sequence", "conv", **SIZES["sequence"]).blocks[0].mixer.conv
    attention = plain_torch_model("sequence", "softmax_attention", **SIZES["sequence"])
    assert type(conv) is torch.nn.Conv1d
    assert type(attention.blocks[0].mixer.attention) is torch.nn.MultiheadAttention


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"task: .*'image'.*'forecast'.*'text'"):
        build_model("text", "dense", classes=3, in_features=2)
    with pytest.raises(ValueError, match=r"mixer: .*'dense'.*'lstm'.*'nope'"):
        build_model("sequence", "nope", classes=3, in_features=2)
    with pytest.raises(ValueError, match="classes"):
        build_model("sequence", "dense", in_features=2)
    with pytest.raises(ValueError, match="vocab"):
        build_model("tokens", "dense", classes=3)
    with pytest.raises(ValueError, match="horizon"):
        build_model("forecast", "dense", in_features=2)
    with pytest.raises(ValueError, match="in_features"):
        build_model("image", "dense", classes=3)
    with pytest.raises(ValueError, match="classes"):
        build_model("forecast", "dense", in_features=2, horizon=1, classes=3)
    with pytest.raises(TypeError, match="width"):
        build_model("sequence", "dense", classes=3, in_features=2, width=4.0)
    with pytest.raises(ValueError, match="depth"):
        build_model("sequence", "dense", classes=3, in_features=2, depth=0)
    with pytest.raises(ValueError, match="width"):
        build_model("sequence", "quaternion", classes=3, in_features=2, width=6)
    with pytest.raises(ValueError, match="width"):
        build_model("sequence", "dense", classes=3, in_features=2, width=1 << 30)
    with pytest.raises(TypeError, match="dtype"):
        build_model("sequence", "dense", classes=3, in_features=2, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"mixer: .*'linear_recurrence'.*'mamba'"):
        plain_torch_model("sequence", "mamba", classes=3, in_features=2)
    with pytest.raises(TypeError, match="options"):
        plain_torch_model("sequence", "dense", classes=3, in_features=2, heads=2)


def test_input_and_copy_errors() -> None:
    model = _model("image", "dense")
    with pytest.raises(ValueError, match="x"):
        model(torch.rand(B, 1, 7, 6, dtype=F64))  # rows of 6 pixels, the model takes 5
    with pytest.raises(ValueError, match="x"):
        _model("tokens", "dense")(torch.tensor([[0, 6]]))
    with pytest.raises(TypeError, match="x"):
        _model("sequence", "dense")(torch.randn(B, T, 2))  # float32 into a float64 model
    plain = plain_torch_model("image", "dense", width=WIDTH, depth=1, dtype=F64,
                              **SIZES["image"])
    with pytest.raises(ValueError, match="model"):
        plain.load_state_from(_model("image", "dense", mlp=False))
    with pytest.raises(TypeError, match="model"):
        plain.load_state_from(plain)


def test_a_builder_mixer_builds_the_model_of_its_registry_name() -> None:
    calls = []

    def build_glu(width: int, *, causal: bool, generator: torch.Generator | None,
                  dtype: torch.dtype) -> torch.nn.Module:
        calls.append((width, causal, dtype))
        return MIXERS["glu"](width, causal=causal, generator=generator, dtype=dtype)

    custom = _model("sequence", build_glu, depth=2, causal=True, seed=5)
    named = _model("sequence", "glu", depth=2, causal=True, seed=5)
    assert calls == [(WIDTH, True, F64)] * 2    # once per block, with the model's sizes
    assert custom.config == named.config | {"mixer": "build_glu"}
    assert custom.state_dict().keys() == named.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(custom.state_dict().values(),
                                                 named.state_dict().values(), strict=True))
    x = _input("sequence")
    assert torch.equal(custom(x), named(x))


def test_a_builder_mixer_is_refused_where_it_cannot_serve() -> None:
    with pytest.raises(TypeError, match=r"^mixer: expected a builder returning a torch\.nn"):
        _model("sequence", lambda width, **options: torch.zeros(width))
    with pytest.raises(TypeError, match=r"^mixer: expected a name among .* or a builder"):
        _model("sequence", 3)
    with pytest.raises((TypeError, ValueError), match=r"^mixer"):
        plain_torch_model("sequence", lambda width, **options: torch.nn.Identity(),
                          classes=3, in_features=2)

"""Boundary entries of prodint.train.lm: the trainer, its config and measurements.

A tiny corpus and tiny models (an embedding and a linear head for the trainer, a one-block
DTN for ``prefill``), initialised from fixed generators; a few steps of training. The models
of prodint.train.models: tiny ones (width 8, one block) run on inputs from fixed generators,
sized from the model's own config.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import nn

import prodint.train
from prodint.data.shakespeare import CharCorpus
from prodint.nn.dtn import DTN
from prodint.testing.contract import Entry
from prodint.train.checkpoint import checkpoint_header, load_checkpoint, save_checkpoint
from prodint.train.config import TrainConfig, apply_overrides, config_from_mapping, load_config
from prodint.train.higher_order import (
    higher_order_interaction,
    higher_order_mixer,
    higher_order_model,
)
from prodint.train.lm import LMConfig, bits_per_character, parameter_groups, prefill, train_lm
from prodint.train.models import MIXERS, MixerModel, build_model, plain_torch_model
from prodint.train.trainer import batch_indices, train

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


def _public(module: str, name: str) -> str:
    """The exported name of ``name``: the package's when it exports it, else its module's."""
    return f"prodint.train.{name}" if name in getattr(prodint.train, "__all__", ()) else \
        f"prodint.train.{module}.{name}"


def _model_input(model: MixerModel) -> torch.Tensor:
    """A small input of ``model``'s task and sizes, from a fixed generator."""
    c, g = model.config, torch.Generator().manual_seed(1)
    if c["task"] == "tokens":
        return torch.randint(c["vocab"], (2, 5), generator=g)
    shape = (2, 1, 4, c["in_features"]) if c["task"] == "image" else (2, 5, c["in_features"])
    return torch.randn(shape, generator=g, dtype=c["dtype"])


def _model_arguments() -> dict[str, object]:
    return dict(task="sequence", mixer="conv", width=8, depth=1, classes=3, in_features=2,
                seed=0, dtype=torch.float64, causal=True, mlp=True)


def _run_model(a: dict[str, object]) -> torch.Tensor:
    model = build_model(**a)
    return model(_model_input(model))


def _run_plain(a: dict[str, object]) -> torch.Tensor:
    plain = plain_torch_model(**a).load_state_from(build_model(**a))
    return plain(_model_input(plain))


def _tiny(task: str) -> MixerModel:
    sizes = dict(classes=3, in_features=3) if task == "image" else dict(classes=3, vocab=5)
    return build_model(task, "softmax_attention", width=8, depth=1, dtype=torch.float64,
                       **sizes)


def _run_mixer(a: dict[str, object]) -> torch.Tensor:
    layer = MIXERS["conv"](**a)
    x = torch.randn(2, 5, a["width"], generator=torch.Generator().manual_seed(1),
                    dtype=a["dtype"])
    return layer(x)


def _run_copy(a: dict[str, object]) -> torch.Tensor:
    plain = plain_torch_model("image", "dense", width=8, depth=1, classes=3, in_features=3,
                              dtype=torch.float64)
    return plain.load_state_from(**a)(_model_input(plain))


ENTRIES += [
    Entry((_public("models", "build_model"),), _run_model, _model_arguments),
    Entry((_public("models", "plain_torch_model"),), _run_plain,
          lambda: _model_arguments() | dict(mixer="softmax_attention")),
    Entry((_public("models", "MixerModel"),), lambda a: _tiny("image")(**a),
          lambda: dict(x=torch.rand(2, 1, 4, 3, generator=torch.Generator().manual_seed(2),
                                    dtype=torch.float64))),
    Entry((_public("models", "MixerModel"),), lambda a: _tiny("tokens")(**a),
          lambda: dict(x=torch.tensor([[0, 4, 2], [1, 3, 3]]))),
    Entry((_public("mixers", "MIXERS"),), _run_mixer,
          lambda: dict(width=6, causal=True, generator=torch.Generator().manual_seed(0),
                       dtype=torch.float64)),
    Entry((_public("models", "PlainModel"),), _run_copy,
          lambda: dict(model=build_model("image", "dense", width=8, depth=1, classes=3,
                                         in_features=3, dtype=torch.float64))),
]

EXEMPT |= {
    _public("models", "TASKS"): "a constant, the task names",
    _public("models", "PLAIN_MIXERS"): "a constant, the mixers with a plain-torch twin",
    _public("mixers", "Builder"): "a type alias, the signature of a mixer builder",
}


# ------------------------------------------------------------------ the training loop
_TRAIN_FOLDER = tempfile.TemporaryDirectory(prefix="prodint-train-boundary-")
_TRAIN_ROOT = Path(_TRAIN_FOLDER.name)


def _tiny_config(**changes: object) -> TrainConfig:
    base = dict(task="digits", mixer="dense", width=4, depth=1, steps=2, batch=8,
                eval_every=2, checkpoint_every=2, log_every=1, eval_limit=16)
    base.update(changes)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _trained(a: dict) -> torch.Tensor:
    result = train(a["config"], a["out"], resume=a["resume"])
    return torch.tensor([r["loss"] for r in result.records])


def _checkpoint_arguments() -> dict:
    model = torch.nn.Linear(2, 3)
    return dict(path=_TRAIN_ROOT / "boundary.safetensors", model=model,
                optimizer=torch.optim.AdamW(model.parameters()), header={"step": 1},
                rng={"torch": torch.get_rng_state()})


def _round_trip(a: dict) -> torch.Tensor:
    save_checkpoint(**a)
    header = checkpoint_header(a["path"])
    load_checkpoint(a["path"], a["model"], a["optimizer"])
    return torch.tensor([float(header["step"])])


ENTRIES += [
    Entry(("prodint.train.config.TrainConfig",), lambda a: TrainConfig(**a).as_dict(),
          lambda: _tiny_config().as_dict(),
          free_text=frozenset({"task", "mixer", "device", "data_root"})),
    Entry(("prodint.train.config.config_from_mapping",),
          lambda a: config_from_mapping(a["config"]).as_dict(),
          lambda: dict(config={"steps": 3, "mixer": "glu"})),
    Entry(("prodint.train.config.apply_overrides",),
          lambda a: apply_overrides(a["config"], a["overrides"]),
          lambda: dict(config={"steps": 3}, overrides=["steps=4", "mixer=conv"])),
    Entry(("prodint.train.config.load_config",), lambda a: load_config(a["config"]),
          lambda: dict(config=_toml())),
    Entry(("prodint.train.checkpoint.save_checkpoint", "prodint.train.checkpoint.load_checkpoint",
           "prodint.train.checkpoint.checkpoint_header"), _round_trip, _checkpoint_arguments,
          aliases={"path": ("checkpoint",), "header": ("data",)}),
    Entry(("prodint.train.trainer.batch_indices",), lambda a: batch_indices(**a),
          lambda: dict(step=3, batch=5, count=7, seed=2)),
    Entry(("prodint.train.trainer.train", "prodint.train.trainer.build",
           "prodint.train.trainer.TrainResult", "prodint.train.trainer.Progress",
           "prodint.train.tasks.Task", "prodint.train.tasks.TaskData"), _trained,
          lambda: dict(config=_tiny_config(), out=_TRAIN_ROOT / "run", resume=False)),
]


def _toml() -> Path:
    path = _TRAIN_ROOT / "run.toml"
    path.write_text('task = "digits"\nsteps = 3\n')
    return path


EXEMPT |= {
    "prodint.train.config.SCHEDULES": "a constant, the learning-rate schedules",
    "prodint.train.tasks.TASKS": "the registry of tasks, read by build and train",
    "prodint.train.trainer.NonFiniteLossError": "an exception, raised by train",
}


def _higher_mixer(a: dict) -> torch.Tensor:
    layer = higher_order_mixer(**a)
    width = layer.expression.signals()[0].axes[-1].size
    return layer(torch.randn(2, 5, width, dtype=layer.param("Wo").dtype,
                             generator=torch.Generator().manual_seed(0)))


def _higher_model(a: dict) -> torch.Tensor:
    model = higher_order_model(**a)
    c = model.config
    return model(torch.rand(2, 5, c["in_features"], dtype=c["dtype"],
                            generator=torch.Generator().manual_seed(0)))


ENTRIES += [
    Entry(("prodint.train.higher_order.higher_order_interaction",),
          lambda a: higher_order_interaction(**a).self_interaction_order,
          lambda: dict(width=4, order=2, rank=2, kernel=3)),
    Entry(("prodint.train.higher_order.higher_order_mixer",), _higher_mixer,
          lambda: dict(width=4, order=2, rank=2, kernel=3,
                       generator=torch.Generator().manual_seed(0), dtype=torch.float64)),
    Entry(("prodint.train.higher_order.higher_order_model",), _higher_model,
          lambda: dict(task="sequence", order=2, rank=2, kernel=3, width=4, depth=1,
                       classes=3, in_features=1, seed=0, dtype=torch.float64, causal=False,
                       mlp=True)),
]
EXEMPT["prodint.train.higher_order.MAX_ORDER"] = "a constant (the highest order)"

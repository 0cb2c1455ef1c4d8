"""The configuration of a training run: one flat table of named keys, checked before anything
runs.

A run is stated by a :class:`TrainConfig`. :func:`config_from_mapping` builds one from a
mapping (a TOML file's table, :func:`load_config`), refusing unknown keys and wrong kinds or
values with the key named; :func:`apply_overrides` applies ``key=value`` overrides (the
value read as TOML for numbers and flags, ``steps=100``, ``lr=1e-3``, ``sparse=true``, and
as written for text keys, ``mixer=conv`` or ``mixer="conv"``). Every field is plain data,
so a configuration round-trips through JSON (:meth:`TrainConfig.as_dict`), which
checkpoints record.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodint.checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seed,
    describe,
)

__all__ = ["SCHEDULES", "TrainConfig", "apply_overrides", "config_from_mapping", "load_config"]

SCHEDULES = ("cosine", "constant")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run reads (see the module docstring).

    Attributes:
        task: the task (:data:`prodint.train.tasks.TASKS`: data, model kind, loss, metric).
        mixer: the interaction mixing tokens and channels in every block
            (:data:`prodint.train.models.MIXERS`).
        width, depth: channels of the model and number of blocks.
        causal: build every mixer in its causal form (no output reads a later input; needed
            for next-token prediction, ``task = "shakespeare"``).
        steps: optimiser steps; batch: the global batch (split over processes).
        epochs: when given, the run lasts ``ceil(epochs · N / batch)`` steps over the ``N``
            training examples instead of ``steps``.
        lr, weight_decay, warmup, schedule, clip: AdamW, its linear warm-up then
            ``schedule`` (cosine decay to 0, or constant), and the gradient-norm clip.
        eval_every, checkpoint_every, log_every: cadences in steps (a last evaluation and
            checkpoint come at the end).
        eval_limit: at most this many test examples are evaluated.
        seed: the seed of the model, the data order and every random draw.
        device, dtype: where and in which floating dtype the model trains.
        sparse: train every linear layer in its sparse-matrix form
            (:func:`prodint.sparse.sparsify`).
        symmetry_penalty: the weight ``λ`` of ``λ Σ ||Γ - P_G Γ||²`` added to the loss, summed
            over the model's learned algebras (their ``symmetry_penalty()``; the
            *regularized* mode of learned structure constants).
        data_root: a folder holding a data set that is not installed (Fashion-MNIST).

    Raises:
        TypeError, ValueError: a field of the wrong kind or value (named).
    """

    task: str = "digits"
    mixer: str = "conv"
    width: int = 32
    depth: int = 2
    causal: bool = False
    steps: int = 200
    epochs: int | None = None
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 10
    schedule: str = "cosine"
    clip: float = 1.0
    eval_every: int = 50
    checkpoint_every: int = 50
    log_every: int = 10
    eval_limit: int = 2000
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    sparse: bool = False
    symmetry_penalty: float = 0.0
    data_root: str | None = None

    def __post_init__(self) -> None:
        for name in ("task", "mixer", "device"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise TypeError(f"{name}: expected a non-empty string, received "
                                f"{describe(value)}")
        for name in ("width", "depth", "steps", "batch", "eval_every", "checkpoint_every",
                     "log_every", "eval_limit"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        object.__setattr__(self, "warmup", check_int(self.warmup, "warmup", minimum=0))
        if self.epochs is not None:
            object.__setattr__(self, "epochs", check_int(self.epochs, "epochs", minimum=1,
                                                         maximum=10**6))
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "lr", check_float(self.lr, "lr", minimum=0,
                                                   strict_minimum=True))
        object.__setattr__(self, "clip", check_float(self.clip, "clip", minimum=0,
                                                     strict_minimum=True))
        object.__setattr__(self, "weight_decay",
                           check_float(self.weight_decay, "weight_decay", minimum=0))
        check_choice(self.schedule, "schedule", SCHEDULES)
        check_choice(self.dtype, "dtype", DTYPES)
        object.__setattr__(self, "sparse", check_bool(self.sparse, "sparse"))
        object.__setattr__(self, "causal", check_bool(self.causal, "causal"))
        object.__setattr__(self, "symmetry_penalty",
                           check_float(self.symmetry_penalty, "symmetry_penalty", minimum=0))
        if self.data_root is not None:
            if not isinstance(self.data_root, str):
                raise TypeError(f"data_root: expected a folder name or None, received "
                                f"{describe(self.data_root)}")
            if not Path(self.data_root).is_dir():
                raise ValueError(f"data_root: expected an existing folder, received "
                                 f"{self.data_root!r}")

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain data (JSON-ready)."""
        return dataclasses.asdict(self)


KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))
#: The keys whose values are text: an override gives them as written (quotes optional).
TEXT_KEYS = frozenset(f.name for f in dataclasses.fields(TrainConfig) if "str" in str(f.type))


def config_from_mapping(config: Mapping[str, Any]) -> TrainConfig:
    """A configuration from a flat table of keys (missing keys take their defaults).

    Raises:
        TypeError: ``config`` is not a mapping, a value of the wrong kind (its key named).
        ValueError: an unknown key, a value out of range (its key named).
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config: expected a table of keys, received {describe(config)}")
    unknown = sorted(str(k) for k in config if k not in KEYS)
    if unknown:
        raise ValueError(f"config: expected keys among {list(KEYS)}, received unknown "
                         f"{unknown}")
    return TrainConfig(**dict(config))


def load_config(config: str | os.PathLike[str]) -> dict[str, Any]:
    """The table of the TOML file ``config`` (checked by :func:`config_from_mapping` once
    overridden).

    Raises:
        TypeError: ``config`` is not a path.
        ValueError: a file that does not exist, cannot be read or is not valid TOML.
    """
    if not isinstance(config, str | os.PathLike):
        raise TypeError(f"config: expected the path of a TOML file, received "
                        f"{describe(config)}")
    path = config
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"config: expected a TOML file, received {str(path)!r} (not a file)")
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"config: expected a readable TOML file, received {str(path)!r} "
                         f"({error})") from None


def _value(key: str, text: str) -> Any:
    """The value of an override: the text itself for a text key (without surrounding
    quotes), else a TOML value (``100``, ``1e-3``, ``true``) or, failing that, the text."""
    if key in TEXT_KEYS:
        quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
        return text[1:-1] if quoted else text
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """The table ``config`` with every ``key=value`` of ``overrides`` set (see the module
    docstring for how values are read).

    Raises:
        TypeError: ``config`` is not a mapping, ``overrides`` not a sequence of str.
        ValueError: an override without ``=`` or with an unknown key.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config: expected a table of keys, received {describe(config)}")
    if isinstance(overrides, str) or not isinstance(overrides, Sequence):
        raise TypeError(f"overrides: expected a list of key=value strings, received "
                        f"{describe(overrides)}")
    out = dict(config)
    for i, item in enumerate(overrides):
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(f"overrides[{i}]: expected key=value, received {item!r}")
        key, text = (part.strip() for part in item.split("=", 1))
        if key not in KEYS:
            raise ValueError(f"overrides[{i}]: expected a key among {list(KEYS)}, received "
                             f"{key!r}")
        out[key] = _value(key, text)
    return out

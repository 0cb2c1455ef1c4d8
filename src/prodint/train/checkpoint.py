"""Checkpoints: one safetensors file, written atomically, never a pickle.

A checkpoint holds everything a run needs to continue exactly where it stopped: the model's
state dict (``model.<name>``), the optimiser's tensors (``optimizer.<index>.<name>`` for the
state of parameter ``index``), the random generators' states (``rng.<name>``, uint8) and a
JSON header in the file's metadata (``prodint``: the step, the configuration, the
optimiser's hyper-parameter groups, the run's metrics so far). The file is written by
:func:`prodint.storage.write_atomic` (a temporary file, fsync, rename), so a process killed
while writing leaves the previous checkpoint whole. Loading reads tensors only
(``safetensors``), so no code from the file is ever run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import Tensor, nn

from prodint.checks import check_instance, describe
from prodint.storage import write_atomic

__all__ = ["checkpoint_header", "load_checkpoint", "save_checkpoint"]

_HEADER = "prodint"


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor],
                                                                   dict[str, Any]]:
    state = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer.{index}.{name}"] = value.detach().clone().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    header: Mapping[str, Any], rng: Mapping[str, Tensor]) -> None:
    """Write the checkpoint ``path`` (see the module docstring) atomically.

    Args:
        path: the ``.safetensors`` file.
        model, optimizer: whose states are saved (a shared tensor is saved once per name).
        header: JSON-ready data (the step, the configuration, the metrics).
        rng: generator name -> its state (``torch.Generator.get_state()``).

    Raises:
        TypeError: a model or optimizer of another kind.
        ValueError: ``path`` cannot be written, a header JSON cannot hold.
    """
    check_instance(model, "model", nn.Module)
    check_instance(optimizer, "optimizer", torch.optim.Optimizer)
    if not isinstance(header, Mapping):
        raise TypeError(f"header: expected a mapping of JSON-ready data, received "
                        f"{describe(header)}")
    if not isinstance(rng, Mapping) or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in rng.items()):
        raise TypeError(f"rng: expected a mapping of names to generator states (tensors), "
                        f"received {describe(rng)}")
    tensors = {f"model.{k}": v.detach().clone().contiguous()
               for k, v in model.state_dict().items()}
    optim, groups = _optimizer_tensors(optimizer)
    tensors.update(optim)
    tensors.update({f"rng.{k}": v.clone().contiguous() for k, v in rng.items()})
    try:
        text = json.dumps({**header, "optimizer": groups})
    except (TypeError, ValueError) as error:
        raise ValueError(f"header: expected data JSON can hold, received {error}") from None
    write_atomic(path, save(tensors, metadata={_HEADER: text}))


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer
                    ) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Restore ``model`` and ``optimizer`` from the checkpoint ``path``; return its header
    and the generators' states.

    Raises:
        ValueError: a missing or unreadable file, one that is not a prodint checkpoint, or
            one whose tensors do not fit the model (a key or a shape that differs).
    """
    if not path.is_file():
        raise ValueError(f"checkpoint: expected a checkpoint file, received {str(path)!r} "
                         "(missing)")
    data = path.read_bytes()
    try:
        tensors = load(data)
        metadata = _metadata(data)
        header = json.loads(metadata[_HEADER])
    except (SafetensorError, KeyError, ValueError, OSError) as error:
        raise ValueError(f"checkpoint: expected a prodint checkpoint, received {str(path)!r} "
                         f"({error})") from None
    state = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"checkpoint: expected the tensors of this model, received "
                         f"{str(path)!r} ({str(error).splitlines()[0]})") from None
    groups = header.pop("optimizer")
    entries: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            entries.setdefault(int(index), {})[name] = value
    for index, scalars in groups["scalars"].items():
        entries.setdefault(int(index), {}).update(scalars)
    optimizer.load_state_dict({"state": entries, "param_groups": groups["param_groups"]})
    rng = {k.removeprefix("rng."): v for k, v in tensors.items() if k.startswith("rng.")}
    return header, rng


def checkpoint_header(path: Path) -> dict[str, Any]:
    """The JSON header of the checkpoint ``path`` (the step, the configuration, ...), read
    without loading its tensors.

    Raises:
        ValueError: a missing file, or one that is not a prodint checkpoint.
    """
    if not path.is_file():
        raise ValueError(f"checkpoint: expected a checkpoint file, received {str(path)!r} "
                         "(missing)")
    try:
        with path.open("rb") as f:
            length = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(length))
        return dict(json.loads(header["__metadata__"][_HEADER]))
    except (KeyError, ValueError, TypeError, OSError) as error:
        raise ValueError(f"checkpoint: expected a prodint checkpoint, received {str(path)!r} "
                         f"({error})") from None


def _metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (its JSON header's first 8 bytes give the
    header's length)."""
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    return dict(header.get("__metadata__", {}))

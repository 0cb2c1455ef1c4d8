"""Checkpoints: one safetensors file holding model, optimiser and generators, no pickle."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from prodint.train.checkpoint import load_checkpoint, save_checkpoint


def _model_and_optimizer(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(5, 3)).square().sum().backward()
        optimizer.step()
    return model, optimizer


def test_round_trip_restores_model_optimizer_and_generator(tmp_path) -> None:
    model, optimizer = _model_and_optimizer(0)
    path = tmp_path / "ckpt.safetensors"
    state = torch.get_rng_state()
    save_checkpoint(path, model, optimizer, {"step": 3, "config": {"a": 1}}, {"torch": state})
    assert path.read_bytes()[8:9] == b"{"          # a safetensors header, not a pickle
    twin, twin_opt = _model_and_optimizer(1)
    header, rng = load_checkpoint(path, twin, twin_opt)
    assert header["step"] == 3 and header["config"] == {"a": 1}
    assert torch.equal(rng["torch"], state)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)
    # the next step of both is identical: the optimiser's moments were restored
    x = torch.randn(5, 3)
    for m, o in ((model, optimizer), (twin, twin_opt)):
        o.zero_grad()
        m(x).square().sum().backward()
        o.step()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)


def test_bad_checkpoints_are_refused(tmp_path) -> None:
    model, optimizer = _model_and_optimizer(0)
    with pytest.raises(ValueError, match=r"^checkpoint: expected a checkpoint file"):
        load_checkpoint(tmp_path / "none.safetensors", model, optimizer)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match=r"^checkpoint: expected a prodint checkpoint"):
        load_checkpoint(junk, model, optimizer)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, optimizer, {"step": 1}, {})
    other = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"^checkpoint: expected the tensors of this model"):
        load_checkpoint(path, other, torch.optim.AdamW(other.parameters()))
    with pytest.raises(TypeError, match=r"^model:"):
        save_checkpoint(path, "model", optimizer, {}, {})  # type: ignore[arg-type]

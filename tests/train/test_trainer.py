"""The training loop: exact resume, crash safety, the NaN guard, data parallelism."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from prodint.train import tasks as task_registry
from prodint.train.checkpoint import load_checkpoint
from prodint.train.config import TrainConfig
from prodint.train.trainer import (
    CHECKPOINT,
    NonFiniteLossError,
    Progress,
    batch_indices,
    build,
    train,
)

ROOT = Path(__file__).resolve().parents[2]


def _config(**changes: object) -> TrainConfig:
    base = dict(task="digits", mixer="conv", width=8, depth=1, steps=12, batch=16,
                eval_every=6, checkpoint_every=4, log_every=2, eval_limit=64)
    base.update(changes)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(out / CHECKPOINT)).items() if k.startswith("model.")}


class _StopError(Exception):
    pass


def test_batches_cover_every_example_once_per_epoch() -> None:
    seen = torch.cat([batch_indices(step, 16, 40, seed=3) for step in range(5)])  # 80 = 2 epochs
    assert sorted(seen[:40].tolist()) == list(range(40))
    assert sorted(seen[40:].tolist()) == list(range(40))
    assert torch.equal(batch_indices(2, 16, 40, seed=3), seen[32:48])


def test_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path) -> None:
    config = _config()
    whole = train(config, tmp_path / "whole")

    def stop_after_six(step: Progress) -> None:
        if step.step == 6:
            raise _StopError

    with pytest.raises(_StopError):
        train(config, tmp_path / "cut", progress=stop_after_six)
    header, _ = load_checkpoint(tmp_path / "cut" / CHECKPOINT, *_fresh(config))
    assert header["step"] == 4                         # the last checkpoint before the stop
    resumed = train(config, tmp_path / "cut", resume=True)
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in resumed.records] == [r["loss"] for r in whole.records]
    assert resumed.final == whole.final


def _fresh(config: TrainConfig) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    from prodint.train.lm import parameter_groups

    _, _, model = build(config)
    return model, torch.optim.AdamW(parameter_groups(model, config.weight_decay))


def test_a_resumed_run_refuses_another_configuration(tmp_path) -> None:
    train(_config(steps=4), tmp_path)
    with pytest.raises(ValueError, match=r"^width: expected 8 \(the value the checkpoint"):
        train(_config(steps=8, width=16), tmp_path, resume=True)


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch) -> None:
    task = task_registry.TASKS["digits"]
    calls = {"n": 0}

    def poisoned(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        loss = task.loss(output, target)
        return loss * float("nan") if calls["n"] == 7 else loss

    monkeypatch.setitem(task_registry.TASKS, "digits",
                        task_registry.Task(task.load, task.kind, poisoned, task.metric,
                                           task.metric_name))
    with pytest.raises(NonFiniteLossError, match=r"^loss: expected a finite loss, received nan "
                                                 r"at step 6; the last good checkpoint is"):
        train(_config(), tmp_path)
    header, _ = load_checkpoint(tmp_path / CHECKPOINT, *_fresh(_config()))
    assert header["step"] == 4


KILLED = """
import os, signal, sys
from pathlib import Path
from prodint import storage
from prodint.train.config import TrainConfig
from prodint.train.trainer import train

writes = {"n": 0}
real = storage.os.fsync

def fsync(fd):
    real(fd)
    if Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(".checkpoint"):
        writes["n"] += 1
        if writes["n"] == 2:          # inside the second checkpoint, before its rename
            os.kill(os.getpid(), signal.SIGKILL)

storage.os.fsync = fsync
train(TrainConfig(**CONFIG), Path(sys.argv[1]))
"""


def test_a_process_killed_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path) -> None:
    config = _config()
    fields = {k: v for k, v in config.as_dict().items()}
    script = tmp_path / "killed.py"
    script.write_text(KILLED.replace("CONFIG", repr(fields)))
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == -9, done.stderr
    header, _ = load_checkpoint(out / CHECKPOINT, *_fresh(config))
    assert header["step"] == 4                      # the first checkpoint, whole
    assert list(out.glob(".checkpoint.safetensors.*.tmp"))   # the killed write's temporary
    train(config, out, resume=True)
    assert not list(out.glob(".*.tmp"))                       # cleared by the resumed run
    whole = train(config, tmp_path / "whole")
    a, b = _weights(out), _weights(tmp_path / "whole")
    assert all(torch.equal(a[k], b[k]) for k in a) and whole.final


def test_two_gloo_processes_equal_one(tmp_path) -> None:
    args = ["--task", "digits", "--mixer", "dense", "--width", "8", "--depth", "1", "--steps",
            "6", "--batch", "16", "--eval-every", "6", "--checkpoint-every", "6",
            "--eval-limit", "64"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PRODINT_BACKEND": "gloo"}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", "29517", "-m", "prodint", "train", *args, "--out",
                          str(tmp_path / "two")], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    one = subprocess.run([sys.executable, "-m", "prodint", "train", *args, "--out",
                          str(tmp_path / "one")], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_epochs_set_the_length_from_the_data(tmp_path) -> None:
    # 1,438 training digits, batches of 512: two epochs are ceil(2876 / 512) = 6 steps
    result = train(_config(epochs=2, batch=512, steps=1000, eval_every=100), tmp_path)
    assert result.records[-1]["step"] == 5
    header, _ = load_checkpoint(tmp_path / CHECKPOINT, *_fresh(_config()))
    assert header["step"] == 6 and header["config"]["steps"] == 6

"""Suite ``train``: the plain twins compute the registry models' loss and step, the quick cases
run, the DDP command names the configured run and each arm runs once, the annotations."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from prodint.bench import train_suite
from prodint.bench.harness import Record
from prodint.bench.suites import SUITES
from prodint.cli import build_parser
from prodint.train.config import TrainConfig
from prodint.train.models import PLAIN_MIXERS

SIZE = dict(batch=8, width=8, depth=2, length=12)


def test_quick_cases_run_and_pair_with_the_torch_baseline() -> None:
    cases = list(train_suite.step_cases(quick=True, device="cpu"))
    assert len(cases) == 2 * 2 * len(PLAIN_MIXERS)
    assert [c.impl for c in cases[:2]] == ["torch", "prodint"]
    assert {c.baseline for c in cases} == {"torch"}
    for case in cases:
        before = case.forward()
        assert before.shape == () and torch.isfinite(before)
        assert case.forward_backward is not None
        first = case.forward_backward()
        torch.testing.assert_close(first, before)  # the step's loss is taken before the update
        assert case.forward() != before  # the AdamW step moved the weights
    assert SUITES["train"].cases is train_suite.cases
    assert SUITES["train"].annotate is train_suite.annotate


@pytest.mark.parametrize("task", train_suite.STEP_TASKS)
@pytest.mark.parametrize("mixer", PLAIN_MIXERS)
def test_plain_twin_gives_the_same_loss_and_step(task: str, mixer: str) -> None:
    model, plain, x, y = train_suite.pair(task, mixer, **SIZE, dtype=torch.float64)
    assert x.shape == ((8, 1, 8, 8) if task == "image" else (8, 12, 1))
    assert x.dtype == torch.float64 and y.dtype == torch.int64
    assert int(y.min()) >= 0 and int(y.max()) < 10
    losses = [float(F.cross_entropy(net(x), y)) for net in (model, plain)]
    assert abs(losses[0] - losses[1]) < 1e-10
    # one AdamW step each from the same weights: equal gradients give equal next losses
    after = []
    for net in (model, plain):
        _, step = train_suite.step_functions(net, x, y)
        step()
        after.append(float(F.cross_entropy(net(x), y)))
    assert abs(after[0] - after[1]) < 1e-10
    assert after[0] != losses[0]


def test_pair_refuses_a_mixer_without_a_plain_twin() -> None:
    with pytest.raises(ValueError, match=r"^mixer: expected"):
        train_suite.pair("image", "quaternion", **SIZE)
    with pytest.raises(ValueError, match=r"^task: expected"):
        train_suite.pair("tokens", "dense", **SIZE)
    with pytest.raises(TypeError, match=r"^batch: expected"):
        train_suite.pair("image", "dense", **{**SIZE, "batch": 2.0})


def test_train_command_names_the_configured_run(tmp_path: Path) -> None:
    config = train_suite.ddp_config(7)
    command = train_suite.train_command(config, tmp_path / "run", processes=2)
    assert command[1:6] == ["-m", "torch.distributed.run", "--standalone",
                            "--nproc-per-node=2", "-m"]
    args = build_parser().parse_args(command[7:])
    args.check(args)
    assert args.train_config == config
    assert args.out == tmp_path / "run"
    assert train_suite.train_command(config, tmp_path, 1)[1:4] == ["-m", "prodint", "train"]


def test_ddp_arms_run_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int, int]] = []

    def fake_run(config: TrainConfig, processes: int, threads: int) -> dict[str, float]:
        calls.append((config.steps, processes, threads))
        return {"samples_per_s": 100.0 * processes}

    monkeypatch.setattr(train_suite, "ddp_run", fake_run)
    monkeypatch.setattr(train_suite, "_RUNS", {})
    cases = list(train_suite.ddp_cases(3))
    assert [c.impl for c in cases] == ["1x2", "1x1", "2x1"]
    assert {c.baseline for c in cases} == {"1x2"} and len({c.name for c in cases}) == 1
    for _ in range(3):
        assert [c.forward()["samples_per_s"] for c in cases] == [100.0, 100.0, 200.0]
    assert calls == [(3, 1, 2), (3, 1, 1), (3, 2, 1)]
    assert all(c.forward_backward is None for c in cases)


def _record(name: str, impl: str, baseline: str, batch: int, fwd_bwd_ms: float | None,
            **extra: float) -> Record:
    return Record("train", name, impl, {"batch": batch}, 1.0, fwd_bwd_ms, 0.5, baseline,
                  extra=dict(extra))


def test_annotate_computes_rates_and_ratios_from_the_records() -> None:
    records = [_record("step a", "torch", "torch", 64, 10.0),
               _record("step a", "prodint", "torch", 64, 12.0),
               _record("step b", "torch", "torch", 32, 8.0),
               _record("step b", "prodint", "torch", 32, 8.8),
               _record("ddp x", "1x2", "1x2", 64, None, samples_per_s=1000.0),
               _record("ddp x", "1x1", "1x2", 64, None, samples_per_s=800.0),
               _record("ddp x", "2x1", "1x2", 64, None, samples_per_s=1600.0)]
    train_suite.annotate(records)
    torch_a, ours_a, torch_b, ours_b, two_threads, one_thread, two_procs = records
    assert torch_a.extra == {"samples_per_s": 6400.0}
    assert ours_a.extra["samples_per_s"] == pytest.approx(64 / 0.012, abs=0.01)
    assert ours_a.extra["throughput_ratio"] == pytest.approx(1.2)
    assert ours_a.extra["within_target"] is False
    assert ours_b.extra["throughput_ratio"] == pytest.approx(1.1)
    assert ours_b.extra["within_target"] is True
    assert "throughput_ratio" not in torch_b.extra
    assert two_procs.extra["speedup"] == pytest.approx(1.6)
    assert two_procs.extra["speedup_over_1x1"] == pytest.approx(2.0)
    assert one_thread.extra["speedup"] == pytest.approx(0.8)
    assert two_procs.fwd_ms == pytest.approx(40.0)  # ms per step of 64 samples at 1600/s
    assert two_threads.fwd_ms == pytest.approx(64.0)
    assert two_procs.ratio_fwd == pytest.approx(0.625)
    assert two_threads.ratio_fwd == pytest.approx(1.0)
    assert all(r.peak_mem_mb is None for r in records[4:])

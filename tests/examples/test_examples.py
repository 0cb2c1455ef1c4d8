"""Every script of ``examples/`` runs with ``--small`` and prints the facts it checks (its
agreement with an independent computation; what its models are)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Lines (or parts of lines) each example must print at its small size.
FACTS = {
    "order2_digits.py": ["order 2 (quaternion product): order 2",
                         "order 1 (projection only): order 1", "test accuracy"],
    "rotated_digits.py": ["C4 group convolution", "plain CNN", "test accuracy at 0/90/180/270°"],
    "dtn_generator.py": ["prefill + step == forward: True", "validation bits per character",
                         "sample:"],
    "graph_span.py": ["span == D^-1/2 A D^-1/2 X W: True", "accuracy on the"],
}


def same_accuracy_at_every_angle(out: str) -> None:
    """The C4 network's accuracy is the same at the four angles (its predictions are)."""
    line = next(line for line in out.splitlines() if line.startswith("C4 group convolution"))
    accuracies = line.rsplit(":", 1)[1].split()
    assert len(accuracies) == 4 and len(set(accuracies)) == 1, line


def constant_state(out: str) -> None:
    """The DTN's state has one size after prompts of every length."""
    sizes = [line.rsplit(":", 1)[1] for line in out.splitlines()
             if line.startswith("state after a")]
    assert len(sizes) == 3 and len(set(sizes)) == 1, out


#: Further checks of an example's output.
CHECKS = {"rotated_digits.py": same_accuracy_at_every_angle, "dtn_generator.py": constant_state}


def test_every_example_is_checked() -> None:
    assert sorted(path.name for path in EXAMPLES.glob("*.py")) == sorted(FACTS)


@pytest.mark.parametrize("name", sorted(FACTS))
def test_example_runs_small(name: str, tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="agg")  # small tensors: one thread
    done = subprocess.run([sys.executable, str(EXAMPLES / name), "--small"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for fact in FACTS[name]:
        assert fact in done.stdout, (fact, done.stdout)
    if name in CHECKS:
        CHECKS[name](done.stdout)

"""Every tutorial runs at its small size (``PRODINT_DOCS_SMALL=1``) and prints the facts it
demonstrates; the facts checked here are known independently of the code (identities of
the algebras, counts of entries, equalities with torch or with formulas written out)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[2] / "docs" / "tutorials"

#: Lines (or parts of lines) each tutorial must print.
FACTS = {
    "t01_algebras.py": ["nonzero entries: 16", "associative: True  commutative: False",
                        "mul == einsum with Γ: True", "real part == x0 y0 - <x, y>: True",
                        "octonions associative: False", "e1·e1 = [1.0, 0.0, 0.0, 0.0",
                        "e1·e2 + e2·e1 = 0: True", "matches circular convolution: True",
                        "R[z]/(z^5) is causal convolution: True",
                        "Γ is the Kronecker product: True"],
    "t02_interactions.py": ["order: 2", "compiled == torch: True", "reference == torch: True",
                            "dense              order 1", "glu                order 2",
                            "softmax attention  order 3", "tensor attention   order 5",
                            "orders: 1 -> 3", "value == X (XᵀX): True"],
    "t03_symmetry.py": ["parameters: 384 instead of 24576",
                        "layer == circular convolution: True", "shift in, shift out: True",
                        "constrained Γ parameters: 64 of 512", "/ 0\n"],
    "t04_zoo.py": ["order: 1", "attention order: 3", "rotate the input == rotate the output: True",
                   "group convolution order: 1"],
    "t05_tensor_attention.py": ["two pieces == one pass: True", "order: 5",
                                "step by step == forward: True",
                                "prefill then step == forward: True"],
    "t06_spans_sparse.py": ["span == F.conv1d: True", "adjoint identity: True",
                            "band offsets: [0, 1, 2]", "M x + b == layer(x): True",
                            "lowered span == layer(x): True", "nonzeros 324",
                            "nonzeros above the block diagonal: 0",
                            "rows sum to one: True  entries above the diagonal: 0",
                            "span == D⁻¹ A X W: True"],
    "t07_hypercube.py": ["s3      trained on 100% of the cells", "group isotope: True",
                         "latin5", "group isotope: False", "characters: [6.0, 0.0, 0.0, 0.0",
                         "R[C5]: verdict True", "H: verdict False"],
    "t08_training_search.py": ["checkpoint.safetensors", "metrics.jsonl",
                               "resumed weights == uninterrupted weights: True",
                               "structure-constants  quick", "interrupted after step 3",
                               "8 candidates; by order: {1: 2, 2: 6}", "the study is sampled",
                               "'state': 'complete'"],
}


def test_every_tutorial_is_checked() -> None:
    assert sorted(path.name for path in TUTORIALS.glob("*.py")) == sorted(FACTS)


@pytest.mark.parametrize("name", sorted(FACTS))
def test_tutorial_runs_small(name: str, tmp_path: Path) -> None:
    env = dict(os.environ, PRODINT_DOCS_SMALL="1", MPLBACKEND="agg", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(TUTORIALS / name)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for fact in FACTS[name]:
        assert fact in done.stdout, (fact, done.stdout)

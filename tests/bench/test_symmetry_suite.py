"""Suite ``symmetry``: prodint's tensor product against e3nn on the same weights and inputs."""

import torch

from prodint.bench import symmetry_suite
from prodint.bench.harness import measure


def test_tensor_product_cases_agree_with_e3nn_and_share_the_baseline() -> None:
    cases = list(symmetry_suite.tensor_product_cases(8, "cpu"))
    assert [c.impl for c in cases] == ["e3nn", "prodint", "oracle"]
    assert {c.baseline for c in cases} == {"e3nn"}
    outputs = [c.forward() for c in cases]
    # Same weights and CG signs: the outputs agree to float32 rounding.
    for out in outputs[1:]:
        assert float((out - outputs[0]).abs().max()) < 1e-4 * float(outputs[0].abs().max())
    for c in cases:
        c.forward_backward()


def test_quick_suite_measures_every_case() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        records = measure("symmetry", symmetry_suite.cases(quick=True), memory=False)
    finally:
        torch.set_num_threads(threads)
    impls = [(r.name.split()[0], r.impl) for r in records]
    assert impls == [("tp", "e3nn"), ("tp", "prodint"), ("tp", "oracle"), ("tfn", "prodint")]
    for r in records:
        assert r.fwd_ms > 0 and r.fwd_bwd_ms is not None and r.fwd_bwd_ms > 0
        assert r.ratio_fwd is not None and r.ratio_fwd_bwd is not None
    assert records[0].ratio_fwd == 1.0

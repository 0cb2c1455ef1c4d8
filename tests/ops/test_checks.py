"""The shared argument checks: every operator of ``prodint.ops`` refuses the same bad input
with the same message, in every form."""

import pytest
import torch

from prodint.ops import linear_attention, tensor_attention, tensor_interaction
from prodint.ops.checks import (
    check_causal,
    check_chunk_size,
    check_eps,
    check_mode,
    check_rows,
    check_state,
    check_streaming,
)
from prodint.ops.linear_attention import LinearAttentionState
from prodint.ops.tensor_interaction import TensorInteractionState

OPERATORS = {"linear_attention": linear_attention, "tensor_attention": tensor_attention,
             "tensor_interaction": tensor_interaction}
MODES = ("naive", "chunk", "recurrent")


def _rows(d: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(2, 5, 3, d, generator=g, dtype=torch.float64) for _ in range(3))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(OPERATORS))
def test_every_operator_refuses_alike(name: str, mode: str) -> None:
    op = OPERATORS[name]
    q, k, v = _rows()
    with pytest.raises(TypeError, match=r"^k: expected a torch\.Tensor \[B, T, H, D\], "
                                        r"received list \[1\.0\]$"):
        op(q, [1.0], v, mode=mode)
    with pytest.raises(ValueError, match=r"^q: expected a tensor of rank 4 \[B, T, H, D\], "
                                         r"received shape \(2, 5, 12\)$"):
        op(q.flatten(-2), k, v, mode=mode)
    with pytest.raises(ValueError, match=r"^k: expected the shape of q \(2, 5, 3, 4\), "
                                         r"received \(2, 4, 3, 4\)$"):
        op(q, k[:, :4], v, mode=mode)
    if name == "tensor_attention":  # grouped value heads: HV a multiple of H
        with pytest.raises(ValueError, match=r"^v: expected a number of value heads HV that "
                                             r"is a multiple of H = 3 \(the heads of q\), "
                                             r"received HV = 2$"):
            op(q, k, v[:, :, :2], mode=mode)
    else:
        with pytest.raises(ValueError, match=r"^v: expected leading dims \(2, 5, 3\) \(those "
                                             r"of q\), received shape \(2, 5, 2, 4\)$"):
            op(q, k, v[:, :, :2], mode=mode)
    with pytest.raises(TypeError, match=r"^v: expected the dtype of q \(torch\.float64\), "
                                        r"received torch\.float32$"):
        op(q, k, v.float(), mode=mode)
    if name == "tensor_attention":  # half rows are computed in float32, returned in half
        assert op(q.half(), k.half(), v.half(), mode=mode)[0].dtype == torch.float16
    else:
        with pytest.raises(TypeError, match=r"^q: expected dtype float32, float64, received "
                                            r"torch\.float16$"):
            op(q.half(), k.half(), v.half(), mode=mode)
    with pytest.raises(ValueError, match=r"^k: expected a tensor on cpu \(that of q\), "
                                         r"received one on meta$"):
        op(q, k.to("meta"), v, mode=mode)
    if mode != "recurrent":  # there a causal that is not True is refused as not causal
        with pytest.raises(TypeError, match=r"^causal: expected a bool, received 1$"):
            op(q, k, v, causal=1, mode=mode)
    with pytest.raises(ValueError, match=r"^mode: expected one of 'naive', 'chunk', "
                                         r"'recurrent', received 'fused'$"):
        op(q, k, v, mode="fused")
    with pytest.raises(ValueError, match=r"^chunk_size: expected a positive int, received 0$"):
        op(q, k, v, chunk_size=0, mode=mode)
    with pytest.raises(TypeError, match=r"^chunk_size: expected an int, received 4\.0$"):
        op(q, k, v, chunk_size=4.0, mode=mode)
    with pytest.raises(TypeError, match=r"^output_final_state: expected a bool, received 1$"):
        op(q, k, v, mode=mode, output_final_state=1)


@pytest.mark.parametrize("mode", ["naive", "chunk"])
@pytest.mark.parametrize("name", ["linear_attention", "tensor_interaction"])
def test_a_streaming_state_needs_the_causal_form(name: str, mode: str) -> None:
    q, k, v = _rows()
    with pytest.raises(ValueError, match=r"^initial_state/output_final_state: expected "
                                         r"causal=True for a streaming state, received "
                                         r"causal=False$"):
        OPERATORS[name](q, k, v, causal=False, mode=mode, output_final_state=True)


@pytest.mark.parametrize("mode", MODES)
def test_a_state_of_another_dtype_is_refused(mode: str) -> None:
    q, k, v = _rows()
    with pytest.raises(TypeError, match=r"^initial_state\.M: expected dtype torch\.float64 "
                                        r"\(that of q\), received torch\.float32$"):
        tensor_interaction(q, k, v, mode=mode,
                           initial_state=TensorInteractionState(torch.zeros(2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"^initial_state\.M: expected a tensor on cpu \(that "
                                         r"of q\), received one on meta$"):
        tensor_interaction(q, k, v, mode=mode, initial_state=TensorInteractionState(
            torch.zeros(2, 3, 4, 4, dtype=q.dtype, device="meta")))
    with pytest.raises(TypeError, match=r"^initial_state\.S: expected dtype torch\.float64"):
        linear_attention(q, k, v, mode=mode,
                         initial_state=LinearAttentionState(torch.zeros(2, 3, 4, 4)))


def test_the_checks_return_what_they_accept() -> None:
    q, k, v = _rows()
    assert all(a is b for a, b in zip(check_rows(("q", "k", "v"), (q, k, v), "[B, T, H, D]"),
                                      (q, k, v), strict=True))
    assert check_mode("chunk", MODES) == "chunk"
    assert check_causal(False) is False
    assert check_chunk_size(3) == 3
    check_streaming(True, None, True)
    check_streaming(False, None, False)
    fields = {"S": ("[B, H, D, Dv]", (2, 3, 4, 4))}
    check_state(None, LinearAttentionState, "state", fields, q, "q")
    state = LinearAttentionState(torch.zeros(2, 3, 4, 4, dtype=q.dtype))
    check_state(state, LinearAttentionState, "state", fields, q, "q")
    with pytest.raises(TypeError, match=r"^state: expected a TensorInteractionState or None, "
                                        r"received LinearAttentionState$"):
        check_state(state, TensorInteractionState, "state",
                    {"M": ("[B, H, D, D]", (2, 3, 4, 4))}, q, "q")
    with pytest.raises(ValueError, match=r"^state\.S: expected shape \[B, H, D, Dv\] = "
                                         r"\[2, 3, 4, 5\] \(the sizes of q, v\), received "
                                         r"\(2, 3, 4, 4\)$"):
        check_state(state, LinearAttentionState, "state",
                    {"S": ("[B, H, D, Dv]", (2, 3, 4, 5))}, q, "q, v")
    with pytest.raises(TypeError, match=r"^chunk_size: expected an int, received True$"):
        check_chunk_size(True)


@pytest.mark.parametrize("eps", [0.0, -1e-6, float("nan"), float("inf"), 1e-40])
@pytest.mark.parametrize("name", ["tensor_attention", "tensor_interaction"])
def test_the_guard_floor_is_positive_and_finite_in_the_dtype(name: str, eps: float) -> None:
    """``eps = 0`` (or one that rounds to 0 in float32) would let ``0 / 0`` through."""
    q, k, v = (x.float() for x in _rows())
    options = {"normalize": True} if name == "tensor_attention" else {}
    with pytest.raises(ValueError, match=r"^eps: expected a finite number >= 1\.17549e-38"):
        OPERATORS[name](q, k, v, eps=eps, **options)
    assert check_eps(1e-40, torch.float64) == 1e-40
    with pytest.raises(TypeError, match=r"^eps: expected a real number, received None$"):
        check_eps(None, torch.float64)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(OPERATORS))
def test_zero_rows_give_a_zero_output(name: str, mode: str) -> None:
    """Queries and keys of zero: the normaliser of tensor attention is 0 and guarded, tensor
    interaction's ‖M‖² is 0 and floored; the output is zero, never NaN."""
    q, k, v = _rows()
    options = {"normalize": True} if name == "tensor_attention" else {}
    o, _ = OPERATORS[name](torch.zeros_like(q), torch.zeros_like(k), v, mode=mode, **options)
    assert torch.equal(o, torch.zeros_like(o))

"""Boundary entries of prodint.ops: every operator, in every form, under hostile arguments.

The streaming states are NamedTuples (exempt as types); their fields are arguments of the
entries (``"initial_state.S"``), so that every field is mutated like any other tensor.
"""

from __future__ import annotations

from typing import Any

import torch

from prodint.ops import (
    LinearAttentionState,
    SelectiveScanState,
    TensorAttentionState,
    linear_attention,
    linear_attention_step,
    selective_scan,
    selective_scan_step,
    tensor_attention,
    tensor_interaction,
)
from prodint.ops.linear_attention import (
    linear_attention_chunk,
    linear_attention_naive,
    linear_attention_recurrent,
)
from prodint.ops.selective_scan import (
    check_inputs,
    check_step_inputs,
    selective_scan_chunk,
    selective_scan_naive,
    selective_scan_recurrent,
)
from prodint.ops.tensor_attention import (
    TensorAttentionStep,
    from_fla_state,
    guard,
    tensor_attention_chunk,
    tensor_attention_naive,
    tensor_attention_recurrent,
    to_fla_state,
)
from prodint.ops.tensor_interaction import (
    TensorInteractionState,
    tensor_interaction_chunk,
    tensor_interaction_naive,
    tensor_interaction_recurrent,
)
from prodint.testing.contract import Entry

B, T, H, D, DV, N = 2, 5, 2, 3, 4, 3


def _randn(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)


def _rows(dv: int = DV) -> dict[str, Any]:
    return dict(q=_randn(B, T, H, D, seed=1), k=_randn(B, T, H, D, seed=2),
                v=_randn(B, T, H, dv, seed=3))


# ---------------------------------------------------------------- tensor attention
def _ta_state(a: dict[str, Any]) -> TensorAttentionState:
    return TensorAttentionState(*(a[f"initial_state.{f}"] for f in ("S", "C", "G", "m", "h")))


def _ta_arguments(chunk: bool = True, mode: bool = False) -> dict[str, Any]:
    s = _randn(B, H, D, D, seed=4, scale=0.3)
    out = dict(_rows(), causal=True, normalize=True, decay=0.9, eps=1e-6,
               output_final_state=True, **{
                   "initial_state.S": s @ s.transpose(-1, -2),
                   "initial_state.C": _randn(B, H, D, DV, seed=5, scale=0.3),
                   "initial_state.G": _randn(B, H, D, DV, seed=6, scale=0.3),
                   "initial_state.m": _randn(B, H, D, seed=7, scale=0.3),
                   "initial_state.h": _randn(B, H, D, seed=8, scale=0.3)})
    if chunk:
        out["chunk_size"] = 2
    if mode:
        out["mode"] = "chunk"
    return out


def _ta(form: Any, chunk: bool, mode: bool = False) -> Any:
    def run(a: dict[str, Any]) -> Any:
        options = {n: a[n] for n in ("causal", "normalize", "decay", "eps",
                                     "output_final_state")}
        if chunk:
            options["chunk_size"] = a["chunk_size"]
        if mode:
            options["mode"] = a["mode"]
        return form(a["q"], a["k"], a["v"], initial_state=_ta_state(a), **options)
    return run


def _ta_plain(form: Any, **fixed: Any) -> Any:
    return lambda a: form(a["q"], a["k"], a["v"], **fixed, **{
        n: a[n] for n in a if n not in ("q", "k", "v")})


def _ta_packed_arguments() -> dict[str, Any]:
    """Two packed sequences ``[0, 2)``, ``[2, 5)`` of one batch row, two value heads per
    query/key head, a scale, a state per sequence."""
    s = _randn(2, H, D, D, seed=4, scale=0.3)
    return dict(q=_randn(1, T, H, D, seed=1), k=_randn(1, T, H, D, seed=2),
                v=_randn(1, T, 2 * H, DV, seed=3), scale=0.7, cu_seqlens=torch.tensor([0, 2, 5]),
                causal=True, normalize=True, decay=0.9, eps=1e-6, output_final_state=True,
                mode="recurrent", chunk_size=2, **{
                    "initial_state.S": s @ s.transpose(-1, -2),
                    "initial_state.C": _randn(2, 2 * H, D, DV, seed=5, scale=0.3),
                    "initial_state.G": _randn(2, 2 * H, D, DV, seed=6, scale=0.3),
                    "initial_state.m": _randn(2, H, D, seed=7, scale=0.3),
                    "initial_state.h": _randn(2, H, D, seed=8, scale=0.3)})


def _ta_packed(a: dict[str, Any]) -> Any:
    options = {n: v for n, v in a.items() if not n.startswith("initial_state.")}
    return tensor_attention(**options, initial_state=_ta_state(a))


def _fla_arguments() -> dict[str, Any]:
    """fla's state for two query/key heads of two value heads each (``S, m, h`` repeated)."""
    s = _randn(B, H, D, D, seed=4, scale=0.3)
    return {"state.S": (s @ s.transpose(-1, -2)).repeat_interleave(2, 1),
            "state.C": _randn(B, 2 * H, D, DV, seed=5, scale=0.3),
            "state.m": _randn(B, H, D, seed=7, scale=0.3).repeat_interleave(2, 1),
            "state.G": _randn(B, 2 * H, D, DV, seed=6, scale=0.3),
            "state.h": _randn(B, H, D, seed=8, scale=0.3).repeat_interleave(2, 1), "heads": H}


def _from_fla(a: dict[str, Any]) -> Any:
    return from_fla_state(tuple(a[f"state.{f}"] for f in ("S", "C", "m", "G", "h")), a["heads"])


def _to_fla_arguments() -> dict[str, Any]:
    state = from_fla_state(tuple(_fla_arguments()[f"state.{f}"] for f in ("S", "C", "m", "G",
                                                                           "h")), H)
    return {f"state.{f}": getattr(state, f) for f in ("S", "C", "G", "m", "h")}


def _to_fla(a: dict[str, Any]) -> Any:
    return to_fla_state(TensorAttentionState(*(a[f"state.{f}"] for f in ("S", "C", "G", "m",
                                                                           "h"))))


# ---------------------------------------------------------------- tensor interaction
def _step(a: dict[str, Any]) -> Any:
    s = TensorAttentionStep(a["state"], normalize=a["normalize"], decay=a["decay"], eps=a["eps"],
                            kernel=a["kernel"])
    return s(a["q"], a["k"], a["v"]), s.state()


def _step_arguments() -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 3, n, generator=g, dtype=torch.float64) for n in (4, 4, 5))
    _, state = tensor_attention(q, k, v, normalize=True, output_final_state=True)
    return dict(state=state, normalize=True, decay=0.9, eps=1e-6, kernel="auto", q=q[:, 0],
                k=k[:, 0], v=v[:, 0])


def _ti_arguments(chunk: bool = True, mode: bool = False) -> dict[str, Any]:
    out = dict(_rows(D), causal=True, eps=1e-6, output_final_state=True,
               **{"initial_state.M": _randn(B, H, D, D, seed=9, scale=0.3)})
    if chunk:
        out["chunk_size"] = 2
    if mode:
        out["mode"] = "recurrent"
    return out


def _with_state(form: Any, state: type, fields: tuple[str, ...], argument: str) -> Any:
    def run(a: dict[str, Any]) -> Any:
        options = {n: v for n, v in a.items() if not n.startswith(argument + ".")}
        options[argument] = state(*(a[f"{argument}.{f}"] for f in fields))
        return form(**options)
    return run


# ---------------------------------------------------------------- linear attention
def _la_arguments(chunk: bool = True, mode: bool = False) -> dict[str, Any]:
    out = dict(_rows(), causal=True, output_final_state=True,
               **{"initial_state.S": _randn(B, H, D, DV, seed=9, scale=0.3)})
    if chunk:
        out["chunk_size"] = 2
    if mode:
        out["mode"] = "naive"
    return out


def _la_step_arguments() -> dict[str, Any]:
    return {"q_t": _randn(B, H, D, seed=1), "k_t": _randn(B, H, D, seed=2),
            "v_t": _randn(B, H, DV, seed=3), "state.S": _randn(B, H, D, DV, seed=4)}


# ---------------------------------------------------------------- selective scan
def _ss_arguments(chunk: bool = True, mode: bool = False) -> dict[str, Any]:
    out = dict(x=_randn(B, T, D, seed=1),
               delta=torch.nn.functional.softplus(_randn(B, T, D, seed=2)),
               A=-torch.exp(_randn(D, N, seed=3)), B=_randn(B, T, N, seed=4),
               C=_randn(B, T, N, seed=5), D=_randn(D, seed=6), output_final_state=True,
               **{"initial_state.h": _randn(B, D, N, seed=7)})
    if chunk:
        out["chunk_size"] = 2
    if mode:
        out["mode"] = "recurrent"
    return out


def _ss_step_arguments() -> dict[str, Any]:
    return {"x_t": _randn(B, D, seed=1),
            "delta_t": torch.nn.functional.softplus(_randn(B, D, seed=2)),
            "A": -torch.exp(_randn(D, N, seed=3)), "B_t": _randn(B, N, seed=4),
            "C_t": _randn(B, N, seed=5), "D": _randn(D, seed=6),
            "state.h": _randn(B, D, N, seed=7)}


def _ss_check(a: dict[str, Any]) -> Any:
    options = {n: v for n, v in a.items() if n != "initial_state.h"}
    return check_inputs(**options, initial_state=SelectiveScanState(a["initial_state.h"]))


def _ss_step_check(a: dict[str, Any]) -> Any:
    options = {n: v for n, v in a.items() if n != "state.h"}
    return check_step_inputs(**options, state=SelectiveScanState(a["state.h"]))


def _without(arguments: Any, *names: str) -> Any:
    return lambda: {n: v for n, v in arguments().items() if n not in names}


TA = "prodint.ops.tensor_attention"
TI = "prodint.ops.tensor_interaction"
LA = "prodint.ops.linear_attention"
SS = "prodint.ops.selective_scan"

ENTRIES = [
    # tensor attention: the dispatcher and every form, with a state, decay and normaliser
    Entry((f"{TA}",), _ta(tensor_attention, True, True), lambda: _ta_arguments(True, True)),
    Entry((f"{TA}.tensor_attention_chunk",), _ta(tensor_attention_chunk, True),
          lambda: _ta_arguments(True)),
    Entry((f"{TA}.tensor_attention_naive",), _ta(tensor_attention_naive, False),
          lambda: _ta_arguments(False)),
    Entry((f"{TA}.tensor_attention_recurrent",), _ta(tensor_attention_recurrent, False),
          lambda: _ta_arguments(False)),
    # a per-head decay tensor, no state
    Entry((f"{TA}",), _ta_plain(tensor_attention),
          lambda: dict(_rows(), decay=torch.tensor([0.9, 0.5], dtype=torch.float64),
                       mode="chunk", chunk_size=2, output_final_state=True)),
    # non-causal, normalised
    Entry((f"{TA}",), _ta_plain(tensor_attention, causal=False),
          lambda: dict(_rows(), normalize=True, eps=1e-3, mode="naive")),
    # packed sequences, grouped value heads and a scale, a state per sequence
    Entry((f"{TA}",), _ta_packed, _ta_packed_arguments),
    # half-precision rows (computed in float32)
    Entry((f"{TA}",), _ta_plain(tensor_attention),
          lambda: {n: x.to(torch.bfloat16) for n, x in _rows().items()} | dict(
              mode="naive", normalize=True, scale=0.5)),
    Entry((f"{TA}.TensorAttentionStep",), _step, _step_arguments),
    Entry((f"{TA}.from_fla_state",), _from_fla, _fla_arguments),
    Entry((f"{TA}.to_fla_state",), _to_fla, _to_fla_arguments),
    Entry((f"{TA}.guard",), lambda a: guard(**a),
          lambda: dict(den=_randn(3, 4, seed=1), eps=1e-3)),
    # tensor interaction
    Entry((f"{TI}",), _with_state(tensor_interaction, TensorInteractionState, ("M",),
                                  "initial_state"), lambda: _ti_arguments(True, True)),
    Entry((f"{TI}.tensor_interaction_chunk",),
          _with_state(tensor_interaction_chunk, TensorInteractionState, ("M",),
                      "initial_state"), lambda: _ti_arguments(True)),
    Entry((f"{TI}.tensor_interaction_naive",),
          _with_state(tensor_interaction_naive, TensorInteractionState, ("M",),
                      "initial_state"), lambda: _ti_arguments(False)),
    Entry((f"{TI}.tensor_interaction_recurrent",),
          _with_state(tensor_interaction_recurrent, TensorInteractionState, ("M",),
                      "initial_state"), lambda: _ti_arguments(False)),
    Entry((f"{TI}",), lambda a: tensor_interaction(**a),
          lambda: dict(_rows(D), causal=False, eps=1e-3, mode="chunk", chunk_size=3)),
    # linear attention
    Entry((f"{LA}",), _with_state(linear_attention, LinearAttentionState, ("S",),
                                  "initial_state"), lambda: _la_arguments(True, True)),
    Entry((f"{LA}.linear_attention_chunk",),
          _with_state(linear_attention_chunk, LinearAttentionState, ("S",), "initial_state"),
          lambda: _la_arguments(True)),
    Entry((f"{LA}.linear_attention_naive",),
          _with_state(linear_attention_naive, LinearAttentionState, ("S",), "initial_state"),
          lambda: _la_arguments(False)),
    Entry((f"{LA}.linear_attention_recurrent",),
          _with_state(linear_attention_recurrent, LinearAttentionState, ("S",),
                      "initial_state"), lambda: _la_arguments(False)),
    Entry((f"{LA}",), lambda a: linear_attention(**a),
          lambda: dict(_rows(), causal=False, mode="chunk", chunk_size=3)),
    Entry(("prodint.ops.linear_attention_step",),
          _with_state(linear_attention_step, LinearAttentionState, ("S",), "state"),
          _la_step_arguments),
    # selective scan
    Entry((f"{SS}",), _with_state(selective_scan, SelectiveScanState, ("h",), "initial_state"),
          lambda: _ss_arguments(True, True)),
    Entry((f"{SS}.selective_scan_chunk",),
          _with_state(selective_scan_chunk, SelectiveScanState, ("h",), "initial_state"),
          lambda: _ss_arguments(True)),
    Entry((f"{SS}.selective_scan_naive",),
          _with_state(selective_scan_naive, SelectiveScanState, ("h",), "initial_state"),
          lambda: _ss_arguments(False)),
    Entry((f"{SS}.selective_scan_recurrent",),
          _with_state(selective_scan_recurrent, SelectiveScanState, ("h",), "initial_state"),
          lambda: _ss_arguments(True)),
    Entry((f"{SS}",), lambda a: selective_scan(**a),
          lambda: dict(_without(_ss_arguments, "initial_state.h", "D")(), mode="naive")),
    Entry(("prodint.ops.selective_scan_step",),
          _with_state(selective_scan_step, SelectiveScanState, ("h",), "state"),
          _ss_step_arguments),
    Entry((f"{SS}.check_inputs",), _ss_check,
          _without(_ss_arguments, "chunk_size", "output_final_state")),
    Entry((f"{SS}.check_step_inputs",), _ss_step_check, _ss_step_arguments),
]

EXEMPT = {
    "prodint.ops.TensorAttentionState": "a NamedTuple state type (its fields are fuzzed as "
                                        "initial_state.* in the tensor attention entries)",
    f"{TI}.TensorInteractionState": "a NamedTuple state type (fuzzed as initial_state.M)",
    "prodint.ops.LinearAttentionState": "a NamedTuple state type (fuzzed as initial_state.S)",
    "prodint.ops.SelectiveScanState": "a NamedTuple state type (fuzzed as initial_state.h)",
    f"{LA}.MODES": "a constant (the names of the forms)",
    f"{SS}.MODES": "a constant (the names of the forms)",
}

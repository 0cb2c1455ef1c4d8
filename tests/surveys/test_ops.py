"""The demo's DTN section: every fast form agrees with the definition; timings are recorded."""

import pytest

from prodint.surveys.ops import forms_rows, section, speed_row


def test_forms_agree_with_the_definition() -> None:
    rows = forms_rows(length=37, chunk_size=8)
    assert [(r.operator, r.variant) for r in rows] == [
        ("tensor attention", "plain"), ("tensor attention", "normalize"),
        ("tensor attention", "decay 0.95"), ("tensor interaction", "plain")]
    assert all(r.chunk_error < 1e-10 and r.recurrent_error < 1e-10 for r in rows)


def test_speed_row_times_both() -> None:
    row = speed_row(length=128, heads=2, dim=8)
    assert row.length == 128 and row.chunk_ms > 0 and row.sdpa_ms > 0
    assert abs(row.ratio - row.chunk_ms / row.sdpa_ms) < 1e-12


def test_sizes_are_refused_before_allocation() -> None:
    with pytest.raises(ValueError, match=r"^length: expected a size for which T × T definition "
                                         r"fits in"):
        forms_rows(length=2**20)
    with pytest.raises(ValueError, match=r"^heads: expected a size for which inputs and attention "
                                         r"scores fits in"):
        speed_row(length=8, heads=2**40, dim=4)
    with pytest.raises(ValueError, match=r"^chunk_size: expected a positive int, received 0$"):
        forms_rows(length=5, chunk_size=0)
    for sizes in (dict(length=0), dict(heads=-1), dict(dim=0)):
        name, = sizes
        with pytest.raises(ValueError, match=rf"^{name}: expected a positive int"):
            speed_row(**{"length": 8, "heads": 1, "dim": 4, **sizes})
    for sizes in (dict(length=2**40), dict(dim=10**30)):
        name, = sizes
        with pytest.raises(ValueError, match=rf"^{name}: expected a size for which inputs"):
            speed_row(**{"length": 8, "heads": 1, "dim": 4, **sizes})
    with pytest.raises(TypeError, match=r"^length: expected an int, received 8.0$"):
        speed_row(length=8.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^speed_length: expected a size for which inputs"):
        section(length=5, chunk_size=2, speed_length=2**40)

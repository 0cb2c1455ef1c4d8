"""Figures of the experiments: a matplotlib figure as PNG bytes, written atomically.

Figures are drawn on matplotlib's Agg canvas (no display, no pyplot state shared between
experiments) and written with :func:`prodint.storage.write_atomic`.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from prodint.checks import check_float, check_instance, check_int
from prodint.storage import write_atomic

__all__ = ["new_figure", "write_png"]


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A figure of ``width`` x ``height`` inches (each in ``[0.5, 50]``) on its own Agg canvas.

    Raises:
        TypeError, ValueError: a size that is not a finite real in range.
    """
    width = check_float(width, "width", minimum=0.5, maximum=50)
    height = check_float(height, "height", minimum=0.5, maximum=50)
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def write_png(figure: Figure, path: Path, *, dpi: int = 110) -> Path:
    """Write ``figure`` as a PNG to ``path`` atomically; return ``path``.

    Raises:
        TypeError: ``figure`` is not a matplotlib figure.
        ValueError: ``path`` cannot be written, a ``dpi`` out of range.
    """
    check_instance(figure, "figure", Figure)
    dpi = check_int(dpi, "dpi", minimum=20, maximum=600)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=dpi)
    write_atomic(path, buffer.getvalue())
    return path

"""Figures that show themselves in Jupyter without pyplot.

:class:`DisplayFigure` is a ``matplotlib.figure.Figure`` on an Agg canvas
(``FigureCanvasAgg``) with ``_repr_png_``: the last expression of a notebook cell that is
such a figure — or the axes the plotting functions return, :class:`DisplayAxes` — is shown
as ``image/png``, whether pyplot was imported or not.  Nothing here imports pyplot, selects
a backend or changes ``rcParams``, so:

* the figure is never registered with pyplot, so a notebook with ``%matplotlib inline``
  shows it once (pyplot's own formatter for Figures, when registered, draws it instead of
  ``_repr_png_``; it is never drawn twice);
* ``fig.savefig(path)`` works as on any Figure; ``fig.canvas.draw()`` renders with Agg;
* axes you pass (``ax=``) are drawn on and returned as they are: their figure is yours.

This module imports matplotlib when it is imported: the plotting functions import it on
their first figure, never at ``import flexspace``.
"""
from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["DisplayFigure", "DisplayAxes", "new_axes", "figure_png"]


def figure_png(fig, dpi=None) -> bytes:
    """``fig`` as PNG bytes (tight bounding box, as notebooks show figures), at ``dpi``
    (default: the figure's own)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, bbox_inches="tight")
    return buf.getvalue()


class DisplayFigure(Figure):
    """A ``matplotlib.figure.Figure`` on an Agg canvas that Jupyter shows as ``image/png``
    (``_repr_png_``) without pyplot."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)  # sets self.canvas: draw() and savefig() without any backend

    def _repr_png_(self) -> bytes:
        return figure_png(self)


class DisplayAxes(Axes):
    """The axes the plotting functions create: an ordinary ``Axes`` whose notebook view is
    its figure as ``image/png`` (``ax.figure`` is a :class:`DisplayFigure`)."""

    def _repr_png_(self) -> bytes:
        return figure_png(self.figure)


def new_axes(figsize=(6, 4.5)) -> DisplayAxes:
    """A new :class:`DisplayFigure` with one :class:`DisplayAxes`."""
    return DisplayFigure(figsize=figsize).add_subplot(axes_class=DisplayAxes)

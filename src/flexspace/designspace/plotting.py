"""Figures of design spaces.  Everything draws on a ``matplotlib.figure.Figure`` (or on the
axes you pass): nothing here imports pyplot or changes the matplotlib backend, so a
notebook's figures and backend are left alone.  Save with ``fig.savefig(path)``.

A new figure is a :class:`~.figure.DisplayFigure` (Agg canvas) and the axes returned a
:class:`~.figure.DisplayAxes`: in Jupyter, ``dmap.plot()`` as a cell's last expression is
shown as ``image/png`` without importing pyplot (and once with ``%matplotlib inline``).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import ValidationError

__all__ = ["plot_design_space", "design_space_figure", "plot_limiting_cqa"]

#: colours of overlaid maps' contours (dotted), in order
OVERLAY_COLOURS = ("orange", "cyan", "magenta", "yellow")


def _rect_list(rectangles):
    out = []
    for r in rectangles or []:
        if hasattr(r, "rectangles"):  # a FlexTestRegion
            out.extend((x.lower, x.upper) for x in r.rectangles)
        elif hasattr(r, "lower"):
            out.append((r.lower, r.upper))
        else:
            out.append((np.asarray(r[0], float), np.asarray(r[1], float)))
    return out


def _new_axes(figsize=(6, 4.5)):
    from .figure import new_axes

    return new_axes(figsize)


def plot_design_space(dmap: "DesignSpaceMap", ax=None, confidence: Optional[float] = 0.85, rectangles=None,
                      overlays: Sequence["DesignSpaceMap"] = (), title: Optional[str] = None, colorbar: bool = True):
    """Probability over a 2-parameter grid on ``ax`` (default: a new Figure's axes).

    Colour = probability; white contour at ``confidence``; failed points as red crosses
    (never coloured as feasible); uncertified/contradicted points as orange circles;
    Algorithm 3 rectangles (``rectangles``: FlexTestRegions, Rectangles or (lower, upper)
    pairs; default the map's own) dashed red; ``overlays``: other maps whose
    ``confidence`` contours are drawn dotted.  Returns the axes."""
    import matplotlib

    if confidence is not None:
        from ..validation import check_probability

        confidence = check_probability("confidence", confidence)
    if len(dmap.axes) != 2:
        raise ValidationError(f"plot_design_space draws maps over 2 process parameters; this one has {len(dmap.axes)}")
    ax = _new_axes() if ax is None else ax
    a0, a1 = dmap.axes  # rows: first θp (y axis), columns: second θp (x axis)
    P = dmap.probability
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    im = ax.pcolormesh(a1, a0, np.ma.masked_invalid(P), vmin=0, vmax=1, cmap=cmap, shading="nearest")
    if confidence is not None and len(a0) > 1 and len(a1) > 1:
        ax.contour(a1, a0, np.nan_to_num(P, nan=0.0), levels=[confidence], colors="w", linewidths=2)
    marked = _mark_points(ax, dmap)
    rects = _rect_list(dmap.rectangles if rectangles is None else rectangles)
    _draw_rectangles(ax, rects)
    _draw_overlays(ax, [m for m in overlays if m is not None and m is not dmap], confidence)
    ax.set_xlabel(dmap.axis_label(1))
    ax.set_ylabel(dmap.axis_label(0))
    if title is None:
        st = dmap.settings
        title = ("Monte Carlo" if dmap.kind == "mc" else
                 f"flexibility index ({st.get('set', '?')}, {st.get('solver', '?')})")
    ax.set_title(title, fontsize=10)
    if marked or rects:
        ax.legend(loc="lower right", fontsize=8, framealpha=0.7)
    if colorbar:
        label = f"probability (white: {confidence})" if confidence is not None else "probability"
        ax.figure.colorbar(im, ax=ax, label=label)
    return ax


def _mark_points(ax, dmap) -> bool:
    a0, a1 = dmap.axes
    fail = dmap.failed
    if fail.any():
        ii, jj = np.nonzero(fail)
        ax.plot(a1[jj], a0[ii], "rx", ms=7, mew=2, label=f"failed ({int(fail.sum())})", ls="none")
    inferred = dmap.inferred
    untrusted = ~dmap.trusted & ~fail & ~inferred
    if untrusted.any():
        ii, jj = np.nonzero(untrusted)
        ax.plot(a1[jj], a0[ii], "o", mfc="none", mec="orange", ms=7, mew=1.5, ls="none",
                label=f"uncertified / contradicted ({int(untrusted.sum())})")
    if inferred.any():  # adaptive maps: not solved, so drawn as such (never coloured as solved)
        ii, jj = np.nonzero(inferred)
        ax.plot(a1[jj], a0[ii], ".", color="0.55", ms=2, ls="none", label=f"not solved ({int(inferred.sum())})")
    return bool(fail.any() or untrusted.any() or inferred.any())


def _draw_rectangles(ax, rects) -> None:
    from matplotlib.patches import Rectangle

    for k, (lo, hi) in enumerate(rects):
        ax.add_patch(Rectangle((lo[1], lo[0]), hi[1] - lo[1], hi[0] - lo[0], fill=False, ec="red",
                               lw=2, ls="--", label="Algorithm 3" if k == 0 else None))


def _draw_overlays(ax, overlays, confidence) -> None:
    if confidence is None:
        return
    for other, colour in zip(overlays, OVERLAY_COLOURS):
        a0, a1 = other.axes
        if len(a0) > 1 and len(a1) > 1:
            ax.contour(a1, a0, np.nan_to_num(other.probability, nan=0.0), levels=[confidence], colors=colour,
                       linewidths=1.5, linestyles=":")
    if overlays:
        ax.text(0.01, 0.01, "dotted: the other maps' contours", transform=ax.transAxes, fontsize=7, color="w")


def design_space_figure(maps: Sequence["DesignSpaceMap"], region=None, confidence: float = 0.85,
                        title: Optional[str] = None):
    """One panel per map, each with the other maps' ``confidence`` contours and the
    Algorithm 3 ``region`` overlaid; returns the ``matplotlib.figure.Figure`` (a
    :class:`~.figure.DisplayFigure`: shown as ``image/png`` in Jupyter without pyplot)."""
    from .figure import DisplayFigure

    maps = [m for m in maps if m is not None]
    fig = DisplayFigure(figsize=(5.6 * len(maps), 4.4))
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    for ax, m in zip(axes, maps):
        plot_design_space(m, ax=ax, confidence=confidence, rectangles=[region] if region is not None else [],
                          overlays=[o for o in maps if o is not m])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


#: colour of points inside the region on the limiting-CQA layer, and of outside points no sample explains
INSIDE_COLOUR, UNEXPLAINED_COLOUR = "whitesmoke", "dimgrey"


def _limiting_labels(dmap, limiting) -> np.ndarray:
    """``limiting`` (a :func:`~flexspace.designspace.limiting_cqa` table, a sequence of CQA
    names aligned with the map's points, or None: the map's ``worst_constraint`` column) ->
    one label per point, checked against the map's points."""
    if limiting is None:
        if "worst_constraint" not in dmap.table:
            raise ValidationError("this map has no worst_constraint column (a Monte Carlo map): pass "
                             "limiting=flexspace.designspace.limiting_cqa(model, dmap)")
        labels = dmap.table["worst_constraint"]
    elif hasattr(limiting, "columns"):
        names = [n for n in dmap.theta_p_names if n in limiting.columns]
        if len(limiting) == len(dmap.table) and len(names) == len(dmap.theta_p_names) and not np.allclose(
                limiting[names].to_numpy(float), dmap.points):
            raise ValidationError("limiting: its θp points are not the map's points (in the map's order); "
                             "compute it with limiting_cqa(model, dmap)")
        labels = limiting["limiting"]
    else:
        labels = limiting
    labels = np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in labels],
                      dtype=object)
    if len(labels) != len(dmap.table):
        raise ValidationError(f"limiting has {len(labels)} entries, the map has {len(dmap.table)} points")
    return labels


def plot_limiting_cqa(dmap: "DesignSpaceMap", limiting=None, ax=None, confidence: float = 0.85,
                      title: Optional[str] = None):
    """The limiting CQA over a 2-parameter map on ``ax`` (default: a new Figure's axes).

    Each point outside the map's ``confidence`` region is coloured by its limiting CQA (one
    categorical colour per CQA, legend with the names); points inside the region are drawn
    neutral (light grey), outside points with no violated CQA dark grey, failed points as red
    crosses; the ``confidence`` contour of the map's probability (black) on top; the legend
    sits right of the axes.  ``limiting``: the table of
    :func:`flexspace.designspace.limiting_cqa` (Monte Carlo), a sequence of CQA names aligned
    with ``dmap.points``, or None for the map's own ``worst_constraint`` (flexibility-index
    maps).  Returns the axes."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if len(dmap.axes) != 2:
        raise ValidationError(f"plot_limiting_cqa draws maps over 2 process parameters; this one has {len(dmap.axes)}")
    labels = _limiting_labels(dmap, limiting)
    inside = dmap.region(confidence).ravel()
    order = list(dmap.settings.get("model", {}).get("g_names") or [])
    cqas = order + sorted({x for x in labels[~inside] if x and x not in order})
    palette = [_cqa_colour(k) for k in range(len(cqas))]
    code = np.array([cqas.index(x) + 2 if x else 1 for x in labels], float)
    code[inside] = 0
    ax = _new_axes() if ax is None else ax
    a0, a1 = dmap.axes
    cmap = ListedColormap([INSIDE_COLOUR, UNEXPLAINED_COLOUR] + palette)
    ax.pcolormesh(a1, a0, code.reshape(dmap.shape), cmap=cmap, vmin=-0.5, vmax=len(cqas) + 1.5,
                  shading="nearest")
    if len(a0) > 1 and len(a1) > 1 and inside.any():  # the region's contour, as in plot_design_space
        ax.contour(a1, a0, np.nan_to_num(dmap.probability, nan=0.0), levels=[confidence], colors="k", linewidths=2)
    present = set(labels[~inside])
    handles = [Patch(fc=c, ec="k", label=f"{n} ({int(np.sum(labels[~inside] == n))})")
               for n, c in zip(cqas, palette) if n in present]
    handles.append(Patch(fc=INSIDE_COLOUR, ec="k", label=f"inside P >= {confidence} ({int(inside.sum())})"))
    if "" in present:
        handles.append(Patch(fc=UNEXPLAINED_COLOUR, ec="k", label="outside, no CQA violated"))
    _mark_points(ax, dmap)
    ax.legend(handles=handles + ax.get_legend_handles_labels()[0], fontsize=8, framealpha=0.8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), title="limiting CQA", title_fontsize=8)
    ax.set_xlabel(dmap.axis_label(1))
    ax.set_ylabel(dmap.axis_label(0))
    ax.set_title(title if title is not None else
                 f"limiting CQA outside the {'Monte Carlo' if dmap.kind == 'mc' else dmap.kind} region", fontsize=10)
    return ax


def _cqa_colour(k: int) -> str:
    """The k-th categorical colour (matplotlib's tab10 colours; no global state)."""
    import matplotlib
    from matplotlib.colors import to_hex

    return to_hex(matplotlib.colormaps["tab10"](k % 10))

"""Notebook views (``_repr_html_``) of design-space results: a map (grid, counts per status,
region size, settings and its plot as an inline PNG), an Algorithm 3 region (one row per
rectangle) and a map centre.  Every text is escaped; the tables are those of
:mod:`flexspace.formulations.display`.
"""
from __future__ import annotations

import base64

import numpy as np

from ..formulations.display import esc, fmt, html_table, status_badge

__all__ = ["map_html", "region_html", "centre_html", "MAX_PLOTTED_POINTS"]

#: a map's view embeds its plot only up to this many grid points (a larger one costs seconds to draw)
MAX_PLOTTED_POINTS = 62_500
#: confidence of the region counted (and of the white contour drawn) in a map's view
VIEW_CONFIDENCE = 0.85


def _title(dmap) -> str:
    st = dmap.settings
    if dmap.kind == "mc":
        return f"Monte Carlo map ({st.get('n_samples', '?')} samples)"
    if dmap.kind == "flexindex":
        return f"flexibility-index map ({st.get('set', '?')}, {st.get('solver', '?')})"
    if dmap.kind == "flextest":
        return f"Algorithm 3 rectangles on a grid ({st.get('set', '?')}, {st.get('solver', '?')})"
    return f"design-space map ({dmap.kind})"


def _map_rows(dmap) -> list:
    n = int(np.prod(dmap.shape))
    rows = [(esc("grid"), esc(" x ".join(map(str, dmap.shape)) + f" = {n} points"))]
    for i, a in enumerate(dmap.axes):
        span = f"{fmt(float(np.min(a)))} .. {fmt(float(np.max(a)))} ({len(a)} points)" if len(a) else "empty"
        rows.append((esc(dmap.axis_label(i)), esc(span)))
    counts = ", ".join(f"{status_badge(k)}: {v}" for k, v in sorted(dmap.status_counts.items()))
    rows.append((esc("points per status"), counts or esc("\u2013")))
    summary = dmap.summary(VIEW_CONFIDENCE)
    region = summary[f"region_points_p{VIEW_CONFIDENCE}"]
    rows.append((esc(f"region (P >= {VIEW_CONFIDENCE})"), esc(f"{region} of {n} points (trusted points only)")))
    for key, label in (("failed_points", "failed points"), ("untrusted_points", "untrusted points"),
                       ("sampled_points", "sampled (not proven) points"), ("inferred_points", "inferred points"),
                       ("failed_samples", "failed samples")):
        if summary.get(key):
            rows.append((esc(label), esc(summary[key])))
    info = dmap.run_info
    if "elapsed_s" in info:
        run = f"{info['elapsed_s']:.2f} s, {info.get('executor', '?')}, {info.get('workers', '?')} worker(s)"
        if info.get("resumed"):
            run += f", {info['resumed']} point(s) resumed from the checkpoint"
        rows.append((esc("run"), esc(run)))
    return rows


def _map_image(dmap) -> str:
    """The map's plot as an inline PNG (2-parameter maps up to :data:`MAX_PLOTTED_POINTS`)."""
    if len(dmap.axes) != 2:
        return ""
    if int(np.prod(dmap.shape)) > MAX_PLOTTED_POINTS:
        return f"<p>{esc(f'(plot not embedded: over {MAX_PLOTTED_POINTS} points; call .plot())')}</p>"
    from .figure import figure_png
    from .plotting import plot_design_space

    try:
        ax = plot_design_space(dmap, confidence=VIEW_CONFIDENCE)
        png = figure_png(ax.figure, dpi=72)
    except Exception as exc:  # noqa: BLE001 - a view never fails because its picture does
        return f"<p>{esc(f'(plot not embedded: {type(exc).__name__}: {exc})')}</p>"
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(_title(dmap))}"/>'


def map_html(dmap) -> str:
    """A :class:`~flexspace.designspace.DesignSpaceMap` as HTML: grid, axes with units,
    counts per status, the region at p = 0.85, the run, and its plot."""
    return (f'<div class="flexspace-map">{html_table(_map_rows(dmap), caption=_title(dmap))}'
            f"{_map_image(dmap)}</div>")


def _unit(units: dict, name: str) -> str:
    return f" [{units[name]}]" if units.get(name) else ""


def region_html(region) -> str:
    """A :class:`~flexspace.designspace.FlexTestRegion` as HTML: the solve, whether it is
    certified, and one row per rectangle with its θp ranges (units when the model states them)."""
    units = dict(getattr(region, "units", None) or {})
    caption = (f"Algorithm 3 ({region.set_kind}, solver={region.solver}, "
               f"{'global' if region.is_global else 'local'}): {len(region.rectangles)} rectangle(s)")
    rows = [(esc("confidence p_c"), esc(fmt(region.confidence))), (esc("delta_m"), esc(fmt(region.delta_m))),
            (esc("certified"), status_badge("ok") if region.certified else status_badge("uncertified")),
            (esc("extended tests"), esc(f"{region.n_solves} ({region.n_failed} failed, treated as infeasible)")),
            (esc("eps_tol"), esc(fmt(region.eps_tol))), (esc("time"), esc(f"{region.time:.2f} s"))]
    if region.nominal:
        rows.append((esc("nominal point"), esc(f"{region.nominal.get('point')}: {region.nominal.get('source')}")))
    for note in region.notes:
        rows.append((esc("note"), esc(note)))
    header = ["#", "delta_p", "chi", "converged", "tests"] + [f"{n}{_unit(units, n)}" for n in region.theta_p_names] \
        + ["volume"]
    rects = [[esc(k + 1), esc(fmt(r.delta_p)), esc(fmt(r.chi, 3)),
              status_badge("ok") if r.converged else status_badge("failed"), esc(len(r.iterations))]
             + [esc(f"{fmt(float(lo))} .. {fmt(float(hi))}") for lo, hi in zip(r.lower, r.upper)]
             + [esc(fmt(r.volume))] for k, r in enumerate(region.rectangles)]
    return (f'<div class="flexspace-region">{html_table(rows, caption=caption)}'
            f"{html_table(rects, header=header)}</div>")


def centre_html(centre) -> str:
    """A :class:`~flexspace.designspace.MapCentre` as HTML."""
    rows = [(esc("point"), esc(", ".join(fmt(float(x)) for x in np.ravel(centre.point)))),
            (esc("map row"), esc(centre.index)), (esc("delta_p (grid estimate)"), esc(fmt(centre.delta_p))),
            (esc("Chebyshev radius"), esc(fmt(centre.chebyshev_radius))),
            (esc("confidence"), esc(fmt(centre.confidence))),
            (esc("region points"), esc(centre.n_region_points))]
    return f'<div class="flexspace-centre">{html_table(rows, caption="map centre (Algorithm 3 nominal point)")}</div>'

"""Design-space results: :class:`DesignSpaceMap` (a probability map on a θp grid) with
table, CSV round trip, regions and a matplotlib picture."""
from __future__ import annotations

import json
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = ["DesignSpaceMap", "plot_design_space"]

_HEADER = "# flexspace-map "
#: columns written for every map (extra columns follow)
BASE_COLUMNS = ["probability", "std_error", "status", "solver", "global", "certified"]
#: statuses whose probability is proven or certified (see flexspace.ResultStatus)
TRUSTED_STATUSES = ("ok", "nominal infeasible")


class DesignSpaceMap:
    """A probability map over a grid of process parameters θp.

    ``kind`` is "mc" (Algorithm 1) or "flexindex" (Algorithm 2).  Points are stored in
    the order of ``itertools.product(*axes)`` (the last θp varies fastest); one row per
    point with at least θp values, ``probability``, ``std_error`` (Monte Carlo; NaN for
    Algorithm 2), ``status``, ``solver``, ``global`` and ``certified``.  Failed points have
    probability NaN and status "failed"; they are never inside :meth:`region`.
    ``rectangles`` holds Algorithm 3 rectangles to overlay (``(lower, upper)`` pairs)."""

    def __init__(self, kind: str, theta_p_names: Sequence[str], axes: Sequence[np.ndarray], table,
                 settings: Optional[dict] = None, run_info: Optional[dict] = None):
        self.kind = kind
        self.theta_p_names = list(theta_p_names)
        self.axes = [np.asarray(a, float) for a in axes]
        self.table = table.reset_index(drop=True)
        self.settings = dict(settings or {})
        self.run_info = dict(run_info or {})
        self.rectangles: List[tuple] = []
        if len(self.table) != int(np.prod(self.shape)):
            raise ValueError(f"{len(self.table)} rows for a grid of shape {self.shape}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_rows(cls, kind, theta_p_names, axes, rows: List[dict], settings=None, run_info=None) -> "DesignSpaceMap":
        import itertools

        import pandas as pd

        pts = list(itertools.product(*[np.asarray(a, float) for a in axes]))
        recs = []
        for tp, row in zip(pts, rows):
            rec = {n: float(v) for n, v in zip(theta_p_names, tp)}
            rec.update({c: row.get(c, float("nan") if c in ("probability", "std_error") else None)
                        for c in BASE_COLUMNS})
            rec.update({k: v for k, v in row.items() if k not in rec})
            recs.append(rec)
        return cls(kind, theta_p_names, axes, pd.DataFrame(recs), settings, run_info)

    # ------------------------------------------------------------------ views
    @property
    def shape(self):
        return tuple(len(a) for a in self.axes)

    @property
    def points(self) -> np.ndarray:
        return self.table[self.theta_p_names].to_numpy(float)

    @property
    def probability(self) -> np.ndarray:
        """Probability on the grid (shape :attr:`shape`); NaN at failed points."""
        p = self.table["probability"].to_numpy(float).copy()
        p[self.failed.ravel()] = np.nan
        return p.reshape(self.shape)

    @property
    def std_error(self) -> np.ndarray:
        return self.table["std_error"].to_numpy(float).reshape(self.shape)

    @property
    def failed(self) -> np.ndarray:
        st = self.table["status"].astype(str).to_numpy()
        p = self.table["probability"].to_numpy(float)
        return ((st == "failed") | ~np.isfinite(p)).reshape(self.shape)

    @property
    def trusted(self) -> np.ndarray:
        """Points whose probability is proven or certified: status ``ok`` (or ``nominal
        infeasible``, probability 0).  ``uncertified``, ``contradicted`` and ``failed`` points
        are not, and are never inside :meth:`region`."""
        st = self.table["status"].astype(str).to_numpy()
        return np.isin(st, TRUSTED_STATUSES).reshape(self.shape) & ~self.failed

    @property
    def status_counts(self) -> Dict[str, int]:
        return {str(k): int(v) for k, v in self.table["status"].value_counts().items()}

    def region(self, p_c: float = 0.85, n_se: float = 0.0) -> np.ndarray:
        """Boolean grid: probability (+ ``n_se`` standard errors, Monte Carlo) ≥ p_c at a
        :attr:`trusted` point (status ``ok``: proven or certified)."""
        p = self.probability
        if n_se:
            se = np.nan_to_num(self.std_error, nan=0.0)
            p = p + n_se * se
        with np.errstate(invalid="ignore"):
            return (np.nan_to_num(p, nan=-1.0) >= p_c) & self.trusted

    def to_dataframe(self):
        """One row per grid point (a copy)."""
        return self.table.copy()

    def summary(self, p_c: float = 0.85) -> dict:
        return {"kind": self.kind, "points": int(np.prod(self.shape)), "shape": list(self.shape),
                "status_counts": self.status_counts, "failed_points": int(self.failed.sum()),
                "untrusted_points": int((~self.trusted & ~self.failed).sum()),
                f"region_points_p{p_c}": int(self.region(p_c).sum()),
                "failed_samples": int(self.table["n_failed"].sum()) if "n_failed" in self.table else None,
                **{k: v for k, v in self.run_info.items()}}

    # ------------------------------------------------------------------ CSV
    def to_csv(self, path) -> None:
        """CSV with one row per grid point; the first line is ``# flexspace-map {json}``
        (kind, names, axes, settings) so that :meth:`from_csv` restores the object."""
        meta = {"kind": self.kind, "theta_p_names": self.theta_p_names, "axes": [a.tolist() for a in self.axes],
                "settings": self.settings, "run_info": self.run_info,
                "rectangles": [[list(map(float, lo)), list(map(float, hi))] for lo, hi in self.rectangles]}
        from .checkpoint import _jsonable

        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(_HEADER + json.dumps(_jsonable(meta)) + "\n")
            self.table.to_csv(f, index=False)

    @classmethod
    def from_csv(cls, path) -> "DesignSpaceMap":
        import pandas as pd

        with open(path, encoding="utf-8") as f:
            first = f.readline()
            if first.startswith(_HEADER):
                meta = json.loads(first[len(_HEADER):])
            else:
                f.seek(0)
                meta = None
            table = pd.read_csv(f)
        if meta is None:  # a plain CSV: take θp columns as those before "probability"
            cols = list(table.columns)
            names = cols[:cols.index("probability")]
            axes = [np.unique(table[n].to_numpy(float)) for n in names]
            meta = {"kind": "unknown", "theta_p_names": names, "axes": axes}
        obj = cls(meta["kind"], meta["theta_p_names"], meta["axes"], table, meta.get("settings"), meta.get("run_info"))
        obj.rectangles = [(np.asarray(lo), np.asarray(hi)) for lo, hi in meta.get("rectangles", [])]
        return obj

    # ------------------------------------------------------------------ pictures
    def plot(self, ax=None, p_c: Optional[float] = 0.85, rectangles=None, title: Optional[str] = None,
             colorbar: bool = True):
        """Probability map (2 process parameters): colour = probability, white contour at
        ``p_c``, failed points as red crosses (never coloured as feasible), Algorithm 3
        rectangles (``rectangles`` or :attr:`rectangles`) as dashed outlines.  Returns the axes."""
        return plot_design_space(self, ax=ax, p_c=p_c, rectangles=rectangles, title=title, colorbar=colorbar)

    def __repr__(self) -> str:
        return (f"DesignSpaceMap(kind={self.kind!r}, shape={self.shape}, status={self.status_counts}, "
                f"solver={self.settings.get('solver', 'monte carlo')!r})")


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


def plot_design_space(dmap: DesignSpaceMap, ax=None, p_c=0.85, rectangles=None, title=None, colorbar=True):
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.patches as mpatches
    import matplotlib.pyplot as plt

    if len(dmap.axes) != 2:
        raise ValueError(f"plot() draws maps over 2 process parameters; this one has {len(dmap.axes)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    a0, a1 = dmap.axes  # rows: first θp (y axis), columns: second θp (x axis)
    P = dmap.probability
    Z = np.ma.masked_invalid(P)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    im = ax.pcolormesh(a1, a0, Z, vmin=0, vmax=1, cmap=cmap, shading="nearest")
    if p_c is not None and len(a0) > 1 and len(a1) > 1:
        ax.contour(a1, a0, np.nan_to_num(P, nan=0.0), levels=[p_c], colors="w", linewidths=2)
    fail = dmap.failed
    if fail.any():
        ii, jj = np.nonzero(fail)
        ax.plot(a1[jj], a0[ii], "rx", ms=7, mew=2, label=f"failed ({int(fail.sum())})", ls="none")
    untrusted = ~dmap.trusted & ~fail
    if untrusted.any():
        ii, jj = np.nonzero(untrusted)
        ax.plot(a1[jj], a0[ii], "o", mfc="none", mec="orange", ms=7, mew=1.5, ls="none",
                label=f"uncertified / contradicted ({int(untrusted.sum())})")
    rects = _rect_list(dmap.rectangles if rectangles is None else rectangles)
    for k, (lo, hi) in enumerate(rects):
        ax.add_patch(mpatches.Rectangle((lo[1], lo[0]), hi[1] - lo[1], hi[0] - lo[0], fill=False, ec="red",
                                        lw=2, ls="--", label="Algorithm 3" if k == 0 else None))
    ax.set_xlabel(dmap.theta_p_names[1])
    ax.set_ylabel(dmap.theta_p_names[0])
    if title is None:
        st = dmap.settings
        title = ("Monte Carlo" if dmap.kind == "mc" else
                 f"flexibility index ({st.get('set', '?')}, {st.get('solver', '?')})")
    ax.set_title(title, fontsize=10)
    if fail.any() or untrusted.any() or rects:
        ax.legend(loc="lower right", fontsize=8, framealpha=0.7)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=f"probability (white: {p_c})" if p_c is not None else "probability")
    return ax

"""Design-space results: :class:`DesignSpaceMap` (a probability map on a θp grid) with
table, CSV round trip and regions (figures: :mod:`.plotting`)."""
from __future__ import annotations

import json
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import ValidationError
from ..files import write_atomic
from ..validation import check_file_path

__all__ = ["DesignSpaceMap"]

#: columns written for every map (extra columns follow)
BASE_COLUMNS = ["probability", "std_error", "status", "solver", "global", "certified"]
#: every column a map, an adaptive map or a limits table writes beside the θp columns
RESULT_COLUMNS = frozenset(BASE_COLUMNS + [
    "n_failed", "evaluated_by", "time", "message", "delta", "delta_lower_bound", "probability_lower_bound",
    "quality", "delta_sampled", "domain", "worst_constraint", "inferred_member", "failed", "limiting",
    "limiting_share"])
#: prefixes of per-CQA columns (:func:`flexspace.designspace.limits.limiting_cqa_table`)
RESULT_PREFIXES = ("violated:", "only:")


def check_theta_p_names(names: Sequence[str]) -> None:
    """θp names must not be result-column names: a θp called ``probability`` or ``status``
    would be overwritten by the result (refused before any compute, with the fix)."""
    clash = [n for n in names if n in RESULT_COLUMNS or str(n).startswith(RESULT_PREFIXES)]
    if clash:
        raise ValidationError(
            f"theta_p name(s) {clash} are also names of result columns of a map ({sorted(RESULT_COLUMNS)}, and "
            f"columns starting with {list(RESULT_PREFIXES)}), so the result would overwrite them; rename the "
            f"process parameter(s) in the model (e.g. {clash[0]!r} -> 'theta_{clash[0]}')")


#: statuses whose probability is proven: exact, or a proven bound on its safe side (an index's
#: ``delta`` is then its proven lower bound) — see flexspace.ResultStatus
PROVEN_STATUSES = ("ok", "nominal infeasible", "bound")
#: what a region uses: proven, or scenario-certified by sampling at the options' (ε, β) ("sampled")
TRUSTED_STATUSES = PROVEN_STATUSES + ("sampled",)
#: adaptive maps (:mod:`.adaptive`): a point that was not solved; its membership, inferred from the
#: solved points of its cell, is in the column ``inferred_member`` (1 in, 0 out) and counts in
#: :meth:`DesignSpaceMap.region` only with ``include_inferred=True``
INFERRED_STATUS = "inferred"


def _meta_path(path):
    """``map.csv`` -> ``map.json``; any other name gets ``.json`` appended (never itself)."""
    return path.with_suffix(".json") if path.suffix.lower() == ".csv" else path.with_name(path.name + ".json")


def _grid_order(table, names, axes, path):
    """The rows in grid order (first θp slowest), whatever order the CSV has them in."""
    import itertools

    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValidationError(f"{path}: its metadata names the theta_p column(s) {missing}, which the CSV lacks"
                              f"{_stale_hint(path)}")
    pts = np.array(list(itertools.product(*[np.asarray(a, float) for a in axes])), float).reshape(-1, len(names))
    if len(table) != len(pts):
        raise ValidationError(f"{path}: {len(table)} rows for a grid of {len(pts)} points{_stale_hint(path)}")
    # exact floats: the CSV keeps every digit (pandas writes repr, reads round-trip), so
    # points 1e-13 apart stay two points
    lookup = {tuple(map(float, r)): i for i, r in enumerate(table[names].to_numpy(float))}
    try:
        order = [lookup[tuple(map(float, p))] for p in pts]
    except KeyError as exc:
        point = tuple(float(v) for v in exc.args[0])
        raise ValidationError(f"{path}: grid point {point} has no row{_stale_hint(path)}") from None
    return table.iloc[order].reset_index(drop=True)


def _read_meta(side) -> Optional[dict]:
    """The map metadata in ``side`` (a ``.json`` next to the CSV), or None when it is absent
    or not ours (another program's file is ignored, never trusted)."""
    if not side.is_file():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == "flexspace-map/2" else None


def _read_map_csv(path):
    """``(path, table)`` of a map CSV; a missing, empty or foreign file is named with the fix."""
    import pathlib

    import pandas as pd

    if not isinstance(path, (str, pathlib.PurePath)):
        raise ValidationError(f"path must be the path of a map CSV (str or os.PathLike), got {path!r}")
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValidationError(f"path {str(path)!r} is not a file (does it exist?); give the CSV written by "
                              "DesignSpaceMap.to_csv")
    try:
        table = pd.read_csv(path)  # pandas reads floats exactly (round trip)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path} is not a readable map CSV ({type(exc).__name__}: {exc}); give the CSV "
                              "written by DesignSpaceMap.to_csv") from None
    missing = [c for c in ("probability", "status") if c not in table.columns]
    if missing:
        raise ValidationError(f"{path}: no {missing} column(s); a map CSV has the theta_p columns, then "
                              "'probability', 'status', ... (as DesignSpaceMap.to_csv writes it)")
    return path, table


def _stale_hint(path) -> str:
    side = _meta_path(path)
    if side.is_file():
        return (f"; the axes come from {side.name}, which does not describe this CSV (stale or from another map): "
                "delete or regenerate it")
    return ""


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
            raise ValidationError(f"{len(self.table)} rows for a grid of shape {self.shape}")

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
        return ((st == "failed") | (~np.isfinite(p) & (st != INFERRED_STATUS))).reshape(self.shape)

    @property
    def trusted(self) -> np.ndarray:
        """Points a region may use: :attr:`proven` ones and ``sampled`` ones (a local answer
        with the scenario statement of its samples: no violation region of sampling mass > ε,
        confidence 1 − β, at the map's ``certify_epsilon`` / ``certify_beta``).
        ``uncertified``, ``contradicted`` and ``failed`` points are not, and are never inside
        :meth:`region`."""
        st = self.table["status"].astype(str).to_numpy()
        return np.isin(st, TRUSTED_STATUSES).reshape(self.shape) & ~self.failed

    @property
    def proven(self) -> np.ndarray:
        """Points whose probability is proven: status ``ok``, ``nominal infeasible`` or ``bound``
        (the proven lower bound of δ)."""
        st = self.table["status"].astype(str).to_numpy()
        return np.isin(st, PROVEN_STATUSES).reshape(self.shape) & ~self.failed

    @property
    def inferred(self) -> np.ndarray:
        """Points an adaptive map did not solve (status ``inferred``): neither trusted nor failed."""
        return (self.table["status"].astype(str).to_numpy() == INFERRED_STATUS).reshape(self.shape)

    def axis_label(self, i: int) -> str:
        """θp ``i``'s name with its Pyomo units, e.g. ``"V [m**3]"`` (the name alone without units)."""
        units = (self.run_info.get("theta_p_units") or [""] * len(self.theta_p_names))[i]
        return f"{self.theta_p_names[i]} [{units}]" if units else self.theta_p_names[i]

    @property
    def status_counts(self) -> Dict[str, int]:
        return {str(k): int(v) for k, v in self.table["status"].value_counts().items()}

    def region(self, confidence: float = 0.85, n_se: float = 0.0, include_inferred: bool = False,
               proven_only: bool = False) -> np.ndarray:
        """Boolean grid: probability (+ ``n_se`` standard errors, Monte Carlo) ≥ confidence at a
        :attr:`trusted` point (proven, or ``sampled``; ``proven_only=True`` drops the sampled ones).  For a global flexibility
        index the probability of the *proven* set is used, P(set(δ lower bound)), never that
        of the incumbent δ (up to the gap above the true index).  Adaptive maps only:
        ``include_inferred=True`` adds the points not solved but inferred inside (status
        ``inferred``, valid only at the map's own confidence) — an assumption, not a proof."""
        from ..validation import check_number, check_probability

        confidence = check_probability("confidence", confidence)
        n_se = check_number("n_se", n_se, low=0)
        p = self.probability
        if "probability_lower_bound" in self.table:  # a global index: only set(δ_lb) is proven
            plb = self.table["probability_lower_bound"].to_numpy(float).reshape(self.shape)
            p = np.where(np.isfinite(plb), np.minimum(p, plb), p)
        if n_se:
            se = np.nan_to_num(self.std_error, nan=0.0)
            p = p + n_se * se
        with np.errstate(invalid="ignore"):
            inside = (np.nan_to_num(p, nan=-1.0) >= confidence) & (self.proven if proven_only else self.trusted)
        return inside | self._inferred_inside(confidence) if include_inferred else inside

    def _inferred_inside(self, confidence: float) -> np.ndarray:
        """Points with status ``inferred`` and ``inferred_member`` 1 (adaptive maps)."""
        if "inferred_member" not in self.table:
            return np.zeros(self.shape, bool)
        made_at = self.settings.get("adaptive", {}).get("confidence")
        if made_at is None or not math.isclose(float(made_at), confidence):
            raise ValidationError(f"inferred points were decided at confidence {made_at}, not {confidence}: "
                             "use include_inferred=False (solved points only) or rerun the adaptive map")
        st = self.table["status"].astype(str).to_numpy()
        member = self.table["inferred_member"].to_numpy(float) == 1.0
        return ((st == INFERRED_STATUS) & member).reshape(self.shape)

    def to_dataframe(self):
        """One row per grid point (a copy)."""
        return self.table.copy()

    def summary(self, confidence: float = 0.85) -> dict:
        return {"kind": self.kind, "points": int(np.prod(self.shape)), "shape": list(self.shape),
                "status_counts": self.status_counts, "failed_points": int(self.failed.sum()),
                "untrusted_points": int((~self.trusted & ~self.failed & ~self.inferred).sum()),
                "sampled_points": int((self.trusted & ~self.proven).sum()),
                "inferred_points": int(self.inferred.sum()),
                f"region_points_p{confidence}": int(self.region(confidence).sum()),
                "failed_samples": int(self.table["n_failed"].sum()) if "n_failed" in self.table else None,
                **{k: v for k, v in self.run_info.items()}}

    @classmethod
    def from_region(cls, region, axes) -> "DesignSpaceMap":
        """Algorithm 3's rectangles on a grid: inside → probability ``region.confidence`` (a
        lower bound), status ``ok`` when the region is certified (global solver) else
        ``uncertified``; outside → probability 0, status ``outside rectangle`` (not decided
        by Algorithm 3 — not a computed probability)."""
        import itertools

        pts = np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))
        inside = region.contains(pts)
        inside_status = "ok" if region.certified else "uncertified"
        rows = [{"probability": region.confidence if ins else 0.0, "std_error": float("nan"),
                 "status": inside_status if ins else "outside rectangle", "solver": region.solver,
                 "global": region.is_global, "certified": region.certified if ins else False,
                 "message": "inside a proven rectangle" if ins and region.certified else
                 ("inside a rectangle a local solver did not certify" if ins else "not decided by Algorithm 3")}
                for ins in inside]
        units = getattr(region, "units", None) or {}
        dm = cls.from_rows("flextest", region.theta_p_names, axes, rows,
                           settings={"algorithm": "flexibility test (Algorithm 3)", "set": region.set_kind,
                                     "solver": region.solver},
                           run_info={"theta_p_units": [units.get(n, "") for n in region.theta_p_names]})
        dm.rectangles = [(r.lower, r.upper) for r in region.rectangles]
        return dm

    # ------------------------------------------------------------------ CSV
    def metadata(self) -> dict:
        """Kind, θp names, axes, settings (model summary and fingerprint, set, solver, options),
        run information and rectangles, as JSON-ready values."""
        from ..files import jsonable as _jsonable

        return _jsonable({"format": "flexspace-map/2", "kind": self.kind, "theta_p_names": self.theta_p_names,
                          "axes": [a.tolist() for a in self.axes], "settings": self.settings,
                          "run_info": self.run_info,
                          "rectangles": [[list(map(float, lo)), list(map(float, hi))] for lo, hi in self.rectangles]})

    def to_csv(self, path, metadata: bool = True) -> None:
        """A plain CSV (one row per grid point: θp columns, then the results) that
        ``pandas.read_csv`` and spreadsheets open as they are; with ``metadata`` also
        ``<path without .csv>.json`` (:meth:`metadata`), which :meth:`from_csv` reads back.
        An existing ``.json`` that is not flexspace map metadata is never overwritten.  Both
        files are written atomically together (:func:`flexspace.files.write_atomic`): a full
        disk leaves the old files, and the error names the file."""
        import pathlib

        path = pathlib.Path(check_file_path("path", path))
        side = _meta_path(path)
        if metadata and side.exists() and _read_meta(side) is None:
            raise ValidationError(f"{side} exists and is not flexspace map metadata; refusing to overwrite it. "
                                  "Move it, write the CSV under another name, or pass metadata=False")
        # a compressed name (map.csv.gz) is compressed as pandas would for the path itself
        method = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}.get(path.suffix.lower())
        items = [(path, lambda f: self.table.to_csv(f, index=False, compression=method))]
        if metadata:
            text = json.dumps(self.metadata(), indent=1).encode("utf-8")
            items.append((side, lambda f: f.write(text)))
        write_atomic(items)  # both files or neither: never a CSV beside a stale or empty .json

    @classmethod
    def from_csv(cls, path) -> "DesignSpaceMap":
        """A map from :meth:`to_csv` (with its ``.json`` metadata when present; otherwise θp
        columns are those before ``probability`` and the axes their distinct values)."""
        path, table = _read_map_csv(path)
        meta = _read_meta(_meta_path(path))
        if meta is None:
            cols = list(table.columns)
            names = cols[:cols.index("probability")]
            axes = [np.unique(table[n].to_numpy(float)) for n in names]
            meta = {"kind": "unknown", "theta_p_names": names, "axes": axes}
        table = _grid_order(table, meta["theta_p_names"], meta["axes"], path)
        obj = cls(meta["kind"], meta["theta_p_names"], meta["axes"], table, meta.get("settings"), meta.get("run_info"))
        obj.rectangles = [(np.asarray(lo), np.asarray(hi)) for lo, hi in meta.get("rectangles", [])]
        return obj

    # ------------------------------------------------------------------ pictures
    def plot(self, ax=None, confidence: Optional[float] = 0.85, rectangles=None, overlays=(),
             title: Optional[str] = None, colorbar: bool = True):
        """Probability over the grid (:func:`flexspace.designspace.plotting.plot_design_space`):
        the ``confidence`` contour, failed points as red crosses (never coloured as feasible),
        untrusted points as orange circles, Algorithm 3 rectangles, other maps' contours
        (``overlays``).  Draws on ``ax`` or on a new ``matplotlib.figure.Figure`` (no pyplot,
        no backend change); returns the axes — new ones show as ``image/png`` in Jupyter
        without pyplot (:mod:`flexspace.designspace.figure`).  Axis labels carry the θp units
        (:meth:`axis_label`)."""
        from .plotting import plot_design_space

        return plot_design_space(self, ax=ax, confidence=confidence, rectangles=rectangles, overlays=overlays,
                                 title=title, colorbar=colorbar)

    def _repr_html_(self) -> str:
        """Jupyter's view: grid, counts per status, region size and the plot (inline PNG)."""
        from .display import map_html

        return map_html(self)

    def __repr__(self) -> str:
        return (f"DesignSpaceMap(kind={self.kind!r}, shape={self.shape}, status={self.status_counts}, "
                f"solver={self.settings.get('solver', 'monte carlo')!r})")

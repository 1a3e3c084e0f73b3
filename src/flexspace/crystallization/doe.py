"""DoE generator, CSV input/output and validator (crystallization paper, Step 2, Table 1, Table 2, Eq. 2–4).

:func:`generate_doe` builds the crystallization paper's data set with the in-silico lab:

* 31 training runs with the profile mix of the crystallization paper's Table 1 (18 linear cooling, 2 linear
  cooling + heating, 1 one-cycle, 4 two-cycle, 3 three-cycle, 3 four-cycle), random
  set-points within Table 2;
* the crystallization paper's missing-value pattern: D50 in all 31, DoA in 21, crystallinity in 15
  (crystallinity rows ⊂ DoA rows; which rows is seeded-random);
* 4 hold-out runs placed, as in the crystallization paper, at conditions found by a *mechanistic*
  optimisation — here NSGA-II on the noise-free lab itself, maximising D50 and minimising
  DoA over 4-cycle profiles — with all three CQAs measured.

A user's own DoE CSV goes through the same :func:`validate_doe` (via :func:`load_doe`):
required columns = the 13 features; optional = ``run_id``, ``split`` (train/holdout),
``profile_type``, ``n_cycles`` and the CQA columns; anything else, a missing column, an
empty, non-numeric or infinite value, a Table-2 bound or an Eq. 2–5 violation, an empty or
constant CQA column, no training rows or too few of them for the workflow's models
(:data:`MIN_TRAIN_ROWS`), and an unreadable or non-CSV file raise
:class:`DoEValidationError` (a :class:`flexspace.errors.ValidationError`, so a
``ValueError``) naming the file, rows and columns, what was expected, what was found and
the fix.  Duplicate rows or ``run_id``s only warn (``UserWarning``).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputTypeError, ValidationError
from .lab import InSilicoLab
from .profile import (ACTIVE_T_MIN, CQA_NAMES, FEATURE_BOUNDS, FEATURE_NAMES, check_profiles, encode_profile,
                      n_cycles, n_stages, profile_type, seeding_temperature)

#: Crystallization paper, Table 1: number of runs per number of active stages (1 = linear cooling,
#: 2 = linear cooling + heating, 3/5/7/9 = 1/2/3/4 thermocycles).
TABLE1_MIX: dict[int, int] = {1: 18, 2: 2, 3: 1, 5: 4, 7: 3, 9: 3}
#: Crystallization paper, §2.3: CQAs measured in 31 / 21 / 15 of the 31 runs.
MEASURED_COUNTS: dict[str, int] = {"D50": 31, "DoA": 21, "crystallinity": 15}
N_HOLDOUT = 4
OPTIONAL_COLUMNS = ("run_id", "split", "profile_type", "n_cycles")
SPLITS = ("train", "holdout")


#: Fewest measured training rows from which the workflow fits a model of a CQA
#: (:func:`.workflow._steps3_4_selection`: GridSearchCV with K = 3 folds of >= 2 rows).
MIN_TRAIN_ROWS = 6
#: Share of the rows the workflow holds out when a table has no ``holdout`` row
#: (:func:`.workflow._ensure_holdout`: ``max(1, round(0.12 n))`` rows, crystallization paper: 10–15 %).
AUTO_HOLDOUT_FRACTION = 0.12
_ROW_NOTE = "row numbers count data rows from 1, the CSV line is one more; run_id in brackets"
_PROFILE_FIX = (" — expected a feasible profile (Table-2 bounds, Eq. 2-5 in flexspace.crystallization.profile); "
                "correct the set-point or delete the run")


class DoEValidationError(ValidationError):
    """A DoE table (or file) breaks a rule; ``problems`` lists ``(rows, columns, message)``
    and ``source`` names the file (``"DoE"`` for a DataFrame).

    A :class:`flexspace.errors.ValidationError`, hence also a ``ValueError``."""

    def __init__(self, problems: list[tuple[list, list, str]], source: str = "DoE"):
        self.problems = list(problems)
        self.source = source
        by_row = any(list(rows or []) not in ([], ["all"]) for rows, _, _ in self.problems)
        where = f" table ({_ROW_NOTE}):" if by_row else ":"
        lines = [f"{source}: {len(self.problems)} problem(s) in the DoE{where}"]
        for rows, cols, msg in self.problems[:50]:
            lines.append(f"  - {_where(rows, cols)}{msg}")
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more")
        super().__init__("\n".join(lines))


def _where(rows, cols) -> str:
    """``"columns ['T2'], rows 3 (R03), 5 (R05): "`` (nothing for ``rows == ['all']``)."""
    parts = []
    if cols:
        parts.append(f"column{'s' if len(cols) > 1 else ''} {list(cols)}")
    rows = list(rows or [])
    if rows and rows != ["all"]:
        shown = ", ".join(map(str, rows[:20])) + (f", ... (+{len(rows) - 20} more)" if len(rows) > 20 else "")
        parts.append(f"row{'s' if len(rows) > 1 else ''} {shown}")
    return (", ".join(parts) + ": ") if parts else ""


def auto_holdout_rows(n: int) -> int:
    """Rows the workflow holds out of an ``n``-row table without ``holdout`` rows."""
    return max(1, int(round(AUTO_HOLDOUT_FRACTION * n)))


def min_rows_needed(has_holdout: bool) -> int:
    """Fewest rows (all with a measured CQA) for which the workflow can model a CQA:
    :data:`MIN_TRAIN_ROWS` training rows, plus the rows it holds out when none is marked."""
    n = MIN_TRAIN_ROWS
    while not has_holdout and n - auto_holdout_rows(n) < MIN_TRAIN_ROWS:
        n += 1
    return n


# --------------------------------------------------------------------------- sampling
def random_profile(k_stages: int, rng: np.random.Generator) -> np.ndarray:
    """A random feasible 13-feature row with ``k_stages`` stages (Table 2, Eq. 2–5).

    Intermediate cooling stages go down by 5–25 °C (not below 10 °C), heating stages up by
    5–15 °C but not above the previous peak (T1 − 3 °C for the first), so a cycle dissolves
    fines rather than the whole bed; the final stage ends at 5–25 °C (assumed DoE
    heuristics).
    """
    lo_c0, hi_c0 = FEATURE_BOUNDS["c0"]
    c0 = rng.uniform(lo_c0, hi_c0)
    seed = rng.uniform(*FEATURE_BOUNDS["seed_loading"])
    C = rng.uniform(*FEATURE_BOUNDS["C"])
    H = rng.uniform(*FEATURE_BOUNDS["H"])
    t1 = float(seeding_temperature(c0))
    prev, temps, peak = t1, [], t1 - 3.0
    for s in range(k_stages):
        heating = s % 2 == 1
        last = s == k_stages - 1
        if heating:
            T = max(min(prev + rng.uniform(5.0, 15.0), peak), prev)
            peak = T
        elif last:
            T = min(rng.uniform(5.0, 25.0), prev)
        else:
            T = max(prev - rng.uniform(5.0, 25.0), 10.0)
            T = min(T, prev)
        temps.append(max(T, ACTIVE_T_MIN))
        prev = temps[-1]
    return encode_profile(c0, seed, temps, C, H)


def thermocycle_profile(c0: float, seed_loading: float, C: float, H: float, T_end: float, cycles: int,
                        amplitude: float = 8.0) -> np.ndarray:
    """A "staircase" thermocycle profile: ``cycles`` troughs equally spaced between the
    seeding temperature ``T1`` and ``T_end``, each followed by heating ``amplitude`` °C
    (capped at T1), then the final cooling to ``T_end``.  ``cycles = 0`` is linear cooling.
    Used for the thermocycle sweep (the crystallization paper's qualitative findings)."""
    t1 = float(seeding_temperature(c0))
    temps = []
    troughs = np.linspace(t1, T_end, cycles + 2)[1:-1]
    for tr in troughs:
        temps += [tr, min(tr + amplitude, t1)]
    temps.append(T_end)
    return encode_profile(c0, seed_loading, temps, C, H)


def sample_profiles(mix: dict[int, int], random_state=0) -> np.ndarray:
    """Rows for a profile mix ``{n_stages: count}`` (default use: crystallization paper, Table 1)."""
    rng = np.random.default_rng(random_state)
    return np.array([random_profile(k, rng) for k, cnt in mix.items() for _ in range(cnt)])


def mechanistic_holdout(lab: InSilicoLab, n_points: int = N_HOLDOUT, pop_size: int = 12, n_gen: int = 6,
                        random_state=0) -> np.ndarray:
    """Hold-out conditions from a mechanistic optimisation of the noise-free lab, as the
    crystallization paper's 4 hold-out runs came from a prior PBM optimisation [7]: NSGA-II (max D50,
    min DoA) once per number of thermocycles ``4, 3, 2, 1, 4, …``; the knee point of each
    front becomes one hold-out run."""
    from ..surrogates.nsga2 import knee_point, run_nsga2
    from .thermocycles import CycleProfileSpace

    def objectives(F):
        Y = lab.run(F)
        return np.column_stack([-Y["D50"].to_numpy(), Y["DoA"].to_numpy()])

    rng = np.random.default_rng(random_state)
    rows = []
    for i in range(n_points):
        space = CycleProfileSpace(4 - (i % 4))
        X, Fobj, _ = run_nsga2(space.problem(objectives), pop_size=pop_size, n_gen=n_gen,
                               random_state=int(rng.integers(2**31)), sampling=space.sample_feasible(pop_size, rng))
        rows.append(space.to_features(X[knee_point(Fobj)])[0])
    return np.array(rows)


def generate_doe(lab: InSilicoLab | None = None, random_state=0, mix: dict[int, int] | None = None,
                 measured_counts: dict[str, int] | None = None, holdout_kwargs: dict | None = None) -> pd.DataFrame:
    """The crystallization paper's DoE made with the in-silico lab (see module docstring).

    Deterministic for a given ``random_state``.  Columns: ``run_id``, ``split``,
    ``profile_type``, ``n_cycles``, the 13 features and the 3 CQAs (NaN = not measured).
    """
    lab = lab or InSilicoLab()
    rng = np.random.default_rng(random_state)
    mix = dict(TABLE1_MIX if mix is None else mix)
    X = sample_profiles(mix, random_state=rng.integers(2**31))
    Y = lab.measure(X, random_state=int(rng.integers(2**31)))
    n = len(X)
    counts = dict(MEASURED_COUNTS if measured_counts is None else measured_counts)
    counts = {k: min(v, n) for k, v in counts.items()}
    # nested missing pattern: crystallinity rows ⊂ DoA rows ⊂ D50 rows
    perm = rng.permutation(n)
    for name in CQA_NAMES:
        keep = perm[: counts.get(name, n)]
        mask = np.ones(n, bool)
        mask[keep] = False
        Y.loc[mask, name] = np.nan
    Xh = mechanistic_holdout(lab, random_state=int(rng.integers(2**31)), **(holdout_kwargs or {}))
    Yh = lab.measure(Xh, random_state=int(rng.integers(2**31)))
    feats = pd.DataFrame(np.vstack([X, Xh]), columns=list(FEATURE_NAMES))
    df = pd.concat([feats, pd.concat([Y, Yh], ignore_index=True)], axis=1)
    df.insert(0, "run_id", [f"R{i + 1:02d}" for i in range(n)] + [f"V{i + 1}" for i in range(len(Xh))])
    df.insert(1, "split", ["train"] * n + ["holdout"] * len(Xh))
    k = n_stages(df[list(FEATURE_NAMES)].to_numpy())
    df.insert(2, "profile_type", [profile_type(int(v)) for v in k])
    df.insert(3, "n_cycles", n_cycles(df[list(FEATURE_NAMES)].to_numpy()))
    return df


# --------------------------------------------------------------------------- CSV + validation
_WHY_ROWS = (f"the workflow models a CQA only with >= {MIN_TRAIN_ROWS} measured training rows, for "
             "cross-validation with K = 3 folds of >= 2 rows")


def validate_doe(df: pd.DataFrame, source: str = "DoE") -> pd.DataFrame:
    """Check a DoE table and return a normalised copy (adds ``run_id``/``split`` if absent).

    Raises :class:`DoEValidationError` listing every problem with its rows (data rows
    numbered from 1, with the ``run_id``) and columns: unknown, duplicated or missing
    columns, no CQA column, no data rows; empty, non-numeric or infinite feature values,
    Table-2 bounds, Eq. 2 (heating stage cools), Eq. 3 (cooling stage heats), Eq. 4
    (profile restarts after a zero), Eq. 5 (set-point above T1); non-numeric, infinite or
    out-of-range CQA values, an empty or constant CQA column; bad ``split`` labels; no
    training rows, or fewer than :data:`MIN_TRAIN_ROWS` measured training rows for every
    CQA (:func:`min_rows_needed`).  Duplicate rows and duplicate ``run_id`` only warn
    (``UserWarning``): they may be real replicates.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputTypeError(f"{source}: validate_doe expects a pandas DataFrame (or use load_doe(path) for a CSV), "
                             f"got {type(df).__name__}")
    _check_columns(df, source)
    labels = _row_labels(df)
    problems: list[tuple[list, list, str]] = []
    out = df.copy()
    num = _check_features(out, labels, problems)
    _check_cqas(out, labels, problems)
    if "split" in out.columns:
        badsplit = ~out["split"].isin(SPLITS)
        if badsplit.any():
            problems.append(([labels[i] for i in np.flatnonzero(badsplit.to_numpy())], ["split"],
                             f"expected one of {SPLITS}, found {_found(out['split'][badsplit])}; "
                             "write 'train' or 'holdout' (lower case)"))
    if not problems:
        _check_training_rows(out, problems, source)
    if problems:
        raise DoEValidationError(problems, source)
    _warn_duplicates(df, labels, source)
    out[list(FEATURE_NAMES)] = num
    if "run_id" not in out.columns:
        out.insert(0, "run_id", [f"row{i + 1}" for i in range(len(out))])
    if "split" not in out.columns:
        out.insert(1, "split", "train")
    for col in CQA_NAMES:
        if col not in out.columns:
            out[col] = np.nan
    X = out[list(FEATURE_NAMES)].to_numpy()
    out["profile_type"] = [profile_type(int(v)) for v in n_stages(X)]
    out["n_cycles"] = n_cycles(X)
    return out


def _check_columns(df: pd.DataFrame, source: str) -> None:
    """Column names and the row count; raises at once (nothing else can be checked)."""
    problems = []
    known = set(FEATURE_NAMES) | set(CQA_NAMES) | set(OPTIONAL_COLUMNS)
    dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if dup:
        problems.append((["all"], dup, f"duplicated column name(s) {dup}: expected each column once; "
                         "delete or rename the copies"))
    unknown = [c for c in dict.fromkeys(df.columns) if c not in known]
    if unknown:
        problems.append((["all"], unknown, f"unknown column(s) {unknown}; allowed: 13 features "
                         f"{list(FEATURE_NAMES)}, CQAs {list(CQA_NAMES)}, optional {list(OPTIONAL_COLUMNS)}; "
                         "rename or delete them"))
    missing = [c for c in FEATURE_NAMES if c not in df.columns]
    if missing:
        problems.append((["all"], missing, f"missing required column(s) {missing}; add them "
                         "(0 = 'no stage' for unused T3..T10, and H = 0 without heating)"))
    if not any(c in df.columns for c in CQA_NAMES):
        problems.append((["all"], list(CQA_NAMES), "no CQA column: expected at least one of "
                         f"{list(CQA_NAMES)} with the measured values; add it"))
    if not problems and len(df) == 0:
        problems.append((["all"], [], f"no data rows (header only); expected at least {min_rows_needed(False)} "
                         f"runs with a measured CQA ({_WHY_ROWS}; with no 'holdout' row about 12 %, at least 1, of "
                         f"the rows are held out), or {min_rows_needed(True)} 'train' rows plus 'holdout' rows in a "
                         "'split' column; add one row per run"))
    if problems:
        raise DoEValidationError(problems, source)


def _row_labels(df: pd.DataFrame) -> list[str]:
    """``"3"`` or ``"3 (R03)"``: data row number from 1, with the run id when there is one."""
    if "run_id" not in df.columns:
        return [str(i + 1) for i in range(len(df))]
    return [f"{i + 1} ({rid})" if pd.notna(rid) else str(i + 1) for i, rid in enumerate(df["run_id"])]


def _found(values, k: int = 5) -> str:
    """The distinct offending values, quoted, at most ``k``."""
    uniq = list(dict.fromkeys(str(v) for v in values))
    return ", ".join(f"'{v}'" for v in uniq[:k]) + (f" (+{len(uniq) - k} more)" if len(uniq) > k else "")


def _cell_problems(problems, labels, raw: pd.Series, col: str, kind: str) -> pd.Series:
    """Empty (features only), non-numeric and infinite cells of one column; returns the numbers."""
    vals = pd.to_numeric(raw, errors="coerce")
    blank = raw.isna() | (raw.astype(str).str.strip() == "")
    rows = lambda mask: [labels[i] for i in np.flatnonzero(np.asarray(mask))]  # noqa: E731
    nonnum = vals.isna() & ~blank
    if nonnum.any():
        problems.append((rows(nonnum), [col], f"non-numeric {kind} value: expected a number, found "
                         f"{_found(raw[nonnum])}; "
                         "write plain numbers (decimal point '.', no units or text)"
                         + ("" if kind == "feature" else ", or leave the cell empty if not measured")))
    inf = np.isinf(vals.to_numpy(float))
    if inf.any():
        problems.append((rows(inf), [col], f"{kind} value: expected a finite number, found "
                         f"{_found(vals[inf])}; replace it with the real value"))
    if kind == "feature" and blank.any():
        problems.append((rows(blank), [col], "feature value: expected a number in every row, found an empty "
                         "cell; fill it in (0 = 'no stage' for T3..T10 and H) or delete the run"))
    return vals


def _check_features(out: pd.DataFrame, labels, problems) -> pd.DataFrame:
    """Cells of the 13 feature columns, then Table-2 bounds and Eq. 2-5 on the complete rows."""
    num = pd.DataFrame({c: _cell_problems(problems, labels, out[c], c, "feature") for c in FEATURE_NAMES})
    X = num.to_numpy(float)
    ok = np.isfinite(X).all(axis=1)
    with np.errstate(invalid="ignore"):  # T1 of a negative c0 is NaN; the bound check names c0
        violations = check_profiles(X[ok], [labels[i] for i in np.flatnonzero(ok)])
    for v in violations:
        problems.append(([v.row], list(v.columns), v.message + _PROFILE_FIX))
    return num


def _check_cqas(out: pd.DataFrame, labels, problems) -> None:
    """Cells (non-numeric, infinite, outside the physical range) and whole CQA columns (empty,
    constant); converts the CQA columns of ``out`` to numbers."""
    present = [c for c in CQA_NAMES if c in out.columns]
    empty = [c for c in present if (out[c].isna() | (out[c].astype(str).str.strip() == "")).all()]
    if empty and len(empty) == len(present) and len(out):
        problems.append((["all"], empty, f"no training rows: no row has a measured CQA (columns {empty} are "
                         f"empty in all {len(out)} rows); expected >= {MIN_TRAIN_ROWS} measured values ({_WHY_ROWS}); "
                         "fill in the measurements"))
    elif empty:
        problems.append((["all"], empty, f"CQA column(s) {empty} have no measured value in any of the {len(out)} "
                         "rows; expected measurements; fill them in or delete the column(s) (CQA columns are "
                         "optional)"))
    for col in present:
        vals = _cell_problems(problems, labels, out[col], col, "CQA")
        lo, hi = (0.0, np.inf) if col == "D50" else (0.0, 100.0)
        fin = vals.where(np.isfinite(vals.to_numpy(float)))
        oob = (fin < lo) | (fin > hi) | ((fin == 0) & (col == "D50"))
        if oob.any():
            problems.append(([labels[i] for i in np.flatnonzero(oob.to_numpy())], [col],
                             f"{col} outside its physical range: expected {'> 0 µm' if col == 'D50' else '0-100 %'}, "
                             f"found {_found(fin[oob])}; check the units (D50 in µm, DoA and crystallinity in %)"))
        measured = fin.dropna()
        _warn_units(col, measured)
        if len(measured) >= 2 and measured.nunique() == 1:
            problems.append((["all"], [col], f"CQA {col!r} is constant: all {len(measured)} measured values are "
                             f"{measured.iloc[0]:g}; a model cannot learn a constant target; check the column "
                             f"(copy-paste?) or delete it"))
        out[col] = vals


#: a whole CQA column below these values is almost surely in other units: the crystallization paper's D50 is
#: tens of µm (its Table 3), so every D50 < 1 reads as mm; DoA and crystallinity are
#: percentages, so every value <= 1 reads as a fraction
_UNIT_HINTS = {"D50": (1.0, "mm (D50 is in µm: multiply by 1000)"),
               "DoA": (1.0, "a fraction (DoA is in %: multiply by 100)"),
               "crystallinity": (1.0, "a fraction (crystallinity is in %: multiply by 100)")}


def _warn_units(col: str, measured: pd.Series) -> None:
    """Warn when every measured value of ``col`` looks like other units (mm, a fraction)."""
    if col not in _UNIT_HINTS or len(measured) < 2:
        return
    limit, what = _UNIT_HINTS[col]
    if float(measured.max()) <= limit and float(measured.max()) > 0:
        warnings.warn(f"CQA {col!r}: every measured value is <= {limit:g} (max {float(measured.max()):g}); this "
                      f"looks like {what}", UserWarning, stacklevel=4)


def _check_training_rows(out: pd.DataFrame, problems, source: str) -> None:
    """At least one CQA with :data:`MIN_TRAIN_ROWS` measured training rows (after the hold-out
    the workflow takes when no row is marked ``holdout``); warns for CQAs that will be skipped."""
    n = len(out)
    train = (out["split"] == "train").to_numpy() if "split" in out.columns else np.ones(n, bool)
    if not train.any():
        problems.append((["all"], ["split"], f"no training rows: all {n} rows are 'holdout'; expected >= "
                         f"{MIN_TRAIN_ROWS} rows with split = 'train' ({_WHY_ROWS}); mark the runs to fit on as "
                         "'train' (hold out about 10-15 %)"))
        return
    cqas = [c for c in CQA_NAMES if c in out.columns]
    measured = {c: int(out.loc[train, c].notna().sum()) for c in cqas}
    if not any(measured.values()):
        problems.append((["all"], cqas, f"no training rows: none of the {int(train.sum())} 'train' rows has a "
                         f"measured CQA (values only in 'holdout' rows); expected >= {MIN_TRAIN_ROWS} measured "
                         "'train' rows; mark measured runs as 'train'"))
        return
    has_holdout = not train.all()
    held = 0 if has_holdout else auto_holdout_rows(n)
    usable = {c: m - held for c, m in measured.items()}
    found = ", ".join(f"{c} {m}" for c, m in measured.items())
    if max(usable.values()) < MIN_TRAIN_ROWS:
        extra = "" if has_holdout else (f"; with no 'holdout' row the workflow holds out {held} of the {n} rows "
                                        f"(about 12 %, at least 1), so >= {min_rows_needed(False)} rows are needed")
        problems.append((["all"], cqas, f"too few rows: expected >= {MIN_TRAIN_ROWS} measured training rows of at "
                         f"least one CQA ({_WHY_ROWS}){extra}; found {n} row(s), measured training rows per CQA: "
                         f"{found}; add runs"))
        return
    few = [c for c, m in measured.items() if 0 < m and usable[c] < MIN_TRAIN_ROWS]
    if few:
        more = f", of which the workflow holds out {held} row(s)" if held else ""
        warnings.warn(f"{source}: CQA(s) {few} have too few measured training rows ({found}{more}): {_WHY_ROWS}, "
                      "so they will not be modelled; add measurements to model them",
                      UserWarning, stacklevel=3)


def _warn_duplicates(df: pd.DataFrame, labels, source: str) -> None:
    """``UserWarning`` for rows with identical features and CQAs, and for repeated ``run_id``s."""
    cols = [c for c in (*FEATURE_NAMES, *CQA_NAMES, "split") if c in df.columns]
    key = pd.util.hash_pandas_object(df[cols], index=False)
    groups = [g for g in key.groupby(key, sort=False).indices.values() if len(g) > 1]
    if groups:
        text = "; ".join(" = ".join(labels[i] for i in g) for g in groups[:10])
        warnings.warn(f"{source}: duplicate rows {text}: identical features and CQA values; expected one row per "
                      "run. Keep them if they are real replicate runs, otherwise delete the copies (a copied run "
                      "counts twice in the fits and in cross-validation)", UserWarning, stacklevel=3)
    if "run_id" in df.columns:
        ids = df["run_id"]
        rep = ids.notna() & ids.duplicated(keep=False)
        if rep.any():
            groups = ids[rep].groupby(ids[rep].astype(str), sort=False).indices
            text = "; ".join(f"{rid!r} in rows {', '.join(str(i + 1) for i in np.flatnonzero(rep)[g])}"
                             for rid, g in list(groups.items())[:10])
            warnings.warn(f"{source}: duplicate run_id {text}; expected a unique run_id per run; rename the "
                          "run ids (or delete copied rows)", UserWarning, stacklevel=3)


def require_measured(df: pd.DataFrame, cqas=CQA_NAMES, min_rows: int = MIN_TRAIN_ROWS, source: str = "DoE",
                     purpose: str = "this step") -> None:
    """Raise :class:`DoEValidationError` unless every CQA of ``cqas`` has ``min_rows`` measured
    rows in ``df`` (e.g. the design space fits one surrogate per CQA on all its measured rows)."""
    counts = {c: int(df[c].notna().sum()) if c in df.columns else 0 for c in cqas}
    short = [c for c, n in counts.items() if n < min_rows]
    if short:
        found = ", ".join(f"{c} {n}" for c, n in counts.items())
        raise DoEValidationError([(["all"], short, f"{purpose} needs >= {min_rows} measured rows of each of "
                                   f"{list(cqas)}; found {found}; add the measurements of {short}")], source)


_NOT_CSV = {".xlsx": "an Excel workbook", ".xlsm": "an Excel workbook", ".xls": "an Excel workbook",
            ".ods": "an OpenDocument spreadsheet", ".parquet": "a Parquet file", ".feather": "a Feather file",
            ".json": "a JSON file", ".pkl": "a pickle", ".pickle": "a pickle", ".h5": "an HDF5 file",
            ".hdf5": "an HDF5 file", ".npy": "a NumPy array", ".npz": "a NumPy archive", ".zip": "a zip archive",
            ".gz": "a compressed file", ".pdf": "a PDF"}
_EXPECTED_FILE = "a CSV text file (comma-separated, a header row with the 13 feature columns and CQA columns)"


def _file_error(path: Path, found: str, fix: str) -> DoEValidationError:
    return DoEValidationError([(["all"], [], f"expected {_EXPECTED_FILE}; found {found}; {fix}")], str(path))


def _read_csv(path: Path) -> pd.DataFrame:
    """``pd.read_csv`` with one clear :class:`DoEValidationError` per way a file can be wrong."""
    if not path.exists():
        raise _file_error(path, "no such file", f"check the path (working directory: {Path.cwd()})")
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.csv"))[:5]
        raise _file_error(path, "a directory" + (f" (CSV files in it: {inside})" if inside else ""),
                          "pass the CSV file itself, e.g. DIR/doe.csv")
    if path.exists() and not path.is_file():  # a FIFO, socket or device: reading it may never end
        raise _file_error(path, "not a regular file (a pipe, socket or device)",
                          "save the table to a regular CSV file and pass that file")
    kind = _NOT_CSV.get(path.suffix.lower())
    if kind:
        raise _file_error(path, f"{kind} ({path.suffix})", "save/export the table as CSV and pass that file")
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise _file_error(path, f"a file that cannot be read ({exc.strerror or exc})",
                          "check its permissions") from exc
    if b"\x00" in head or head.startswith(b"PK\x03\x04"):
        raise _file_error(path, "binary data, not text", "export the table as CSV")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise _file_error(path, "an empty file", "write the header row and one row per run") from exc
    except UnicodeDecodeError as exc:
        raise _file_error(path, "text that is not UTF-8", "save it as 'CSV UTF-8'") from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise _file_error(path, f"text that is not well-formed CSV ({' '.join(str(exc).split())})",
                          "give every line as many comma-separated fields as the header") from exc
    first = str(df.columns[0]) if len(df.columns) else ""
    sep = next((s for s in (";", "\t", "|") if s in first), None)
    if len(df.columns) == 1 and sep:
        raise _file_error(path, f"a single column {first[:60]!r}: the fields are separated by {sep!r}, not ','",
                          "save it with comma separators (or read it with pd.read_csv(path, sep=...) and pass "
                          "the DataFrame to validate_doe)")
    return df


def load_doe(path) -> pd.DataFrame:
    """Read and validate a DoE CSV (see :func:`validate_doe`); a DataFrame is validated as is.

    Raises :class:`DoEValidationError` naming the file for a missing or unreadable file, a
    directory, a non-CSV file (Excel, binary, other separators) and every invalid cell."""
    if isinstance(path, pd.DataFrame):
        return validate_doe(path)
    path = Path(path)
    return validate_doe(_read_csv(path), source=str(path))


def save_doe(df: pd.DataFrame, path) -> Path:
    """Write a DoE table to CSV (validated first, so it loads back).  CQA columns without any
    measured value (added by :func:`validate_doe` for absent CQAs) are not written."""
    path = Path(path)
    empty = [c for c in CQA_NAMES if c in df.columns and df[c].isna().all()]
    df = df.drop(columns=empty)
    with warnings.catch_warnings():  # duplicates were reported when the table was loaded
        warnings.simplefilter("ignore", UserWarning)
        validate_doe(df)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def split_xy(df: pd.DataFrame, cqa: str, split: str = "train"):
    """Features and target of the rows of ``split`` where ``cqa`` was measured."""
    sub = df[(df["split"] == split) & df[cqa].notna()]
    return sub[list(FEATURE_NAMES)].to_numpy(float), sub[cqa].to_numpy(float)

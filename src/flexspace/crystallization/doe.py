"""DoE generator, CSV input/output and validator (seed Step 2, Table 1, Table 2, Eq. 2–4).

:func:`generate_doe` builds the seed's data set with the in-silico lab:

* 31 training runs with the profile mix of seed Table 1 (18 linear cooling, 2 linear
  cooling + heating, 1 one-cycle, 4 two-cycle, 3 three-cycle, 3 four-cycle), random
  set-points within Table 2;
* the seed's missing-value pattern: D50 in all 31, DoA in 21, crystallinity in 15
  (crystallinity rows ⊂ DoA rows; which rows is seeded-random);
* 4 hold-out runs placed, as in the seed, at conditions found by a *mechanistic*
  optimisation — here NSGA-II on the noise-free lab itself, maximising D50 and minimising
  DoA over 4-cycle profiles — with all three CQAs measured.

A user's own DoE CSV goes through the same :func:`validate_doe` (via :func:`load_doe`):
required columns = the 13 features; optional = ``run_id``, ``split`` (train/holdout),
``profile_type``, ``n_cycles`` and the CQA columns; anything else, a missing column, a
non-numeric value, a Table-2 bound or an Eq. 2–5 violation raises
:class:`DoEValidationError` naming the rows and columns.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .lab import InSilicoLab
from .profile import (ACTIVE_T_MIN, CQA_NAMES, FEATURE_BOUNDS, FEATURE_NAMES, check_profiles, encode_profile,
                      n_cycles, n_stages, profile_type, seeding_temperature)

#: Seed Table 1: number of runs per number of active stages (1 = linear cooling,
#: 2 = linear cooling + heating, 3/5/7/9 = 1/2/3/4 thermocycles).
TABLE1_MIX: dict[int, int] = {1: 18, 2: 2, 3: 1, 5: 4, 7: 3, 9: 3}
#: Seed §2.3: CQAs measured in 31 / 21 / 15 of the 31 runs.
MEASURED_COUNTS: dict[str, int] = {"D50": 31, "DoA": 21, "crystallinity": 15}
N_HOLDOUT = 4
OPTIONAL_COLUMNS = ("run_id", "split", "profile_type", "n_cycles")
SPLITS = ("train", "holdout")


class DoEValidationError(ValueError):
    """A DoE table breaks a rule; ``problems`` lists ``(rows, columns, message)``."""

    def __init__(self, problems: list[tuple[list, list, str]], source: str = "DoE"):
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s) found"]
        for rows, cols, msg in problems[:50]:
            lines.append(f"  rows {rows} columns {cols}: {msg}")
        if len(problems) > 50:
            lines.append(f"  ... and {len(problems) - 50} more")
        lines.append("Fix the listed cells (see flexspace.models.crystallization.profile for Eq. 2-5 "
                     "and Table-2 bounds) and load the file again.")
        super().__init__("\n".join(lines))


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
    Used for the thermocycle sweep (seed's qualitative findings)."""
    t1 = float(seeding_temperature(c0))
    temps = []
    troughs = np.linspace(t1, T_end, cycles + 2)[1:-1]
    for tr in troughs:
        temps += [tr, min(tr + amplitude, t1)]
    temps.append(T_end)
    return encode_profile(c0, seed_loading, temps, C, H)


def sample_profiles(mix: dict[int, int], random_state=0) -> np.ndarray:
    """Rows for a profile mix ``{n_stages: count}`` (default use: seed Table 1)."""
    rng = np.random.default_rng(random_state)
    return np.array([random_profile(k, rng) for k, cnt in mix.items() for _ in range(cnt)])


def mechanistic_holdout(lab: InSilicoLab, n_points: int = N_HOLDOUT, pop_size: int = 12, n_gen: int = 6,
                        random_state=0) -> np.ndarray:
    """Hold-out conditions from a mechanistic optimisation of the noise-free lab, as the
    seed's 4 hold-out runs came from a prior PBM optimisation [7]: NSGA-II (max D50,
    min DoA) once per number of thermocycles ``4, 3, 2, 1, 4, …``; the knee point of each
    front becomes one hold-out run."""
    from ...surrogates.design import knee_point, run_nsga2
    from .design import CycleProfileSpace

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
    """The seed's DoE made with the in-silico lab (see module docstring).

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
def validate_doe(df: pd.DataFrame, source: str = "DoE") -> pd.DataFrame:
    """Check a DoE table and return a normalised copy (adds ``run_id``/``split`` if absent).

    Raises :class:`DoEValidationError` listing every problem with its rows and columns:
    unknown columns, missing required columns, non-numeric or missing feature values,
    Table-2 bounds, Eq. 2 (heating stage cools), Eq. 3 (cooling stage heats), Eq. 4
    (profile restarts after a zero), Eq. 5 (set-point above T1), CQA values out of range,
    bad ``split`` labels, no CQA column at all.
    """
    problems: list[tuple[list, list, str]] = []
    known = set(FEATURE_NAMES) | set(CQA_NAMES) | set(OPTIONAL_COLUMNS)
    unknown = [c for c in df.columns if c not in known]
    if unknown:
        problems.append((["all"], unknown, f"unknown column(s) {unknown}; allowed: 13 features "
                         f"{list(FEATURE_NAMES)}, CQAs {list(CQA_NAMES)}, optional {list(OPTIONAL_COLUMNS)}"))
    missing = [c for c in FEATURE_NAMES if c not in df.columns]
    if missing:
        problems.append((["all"], missing, f"missing required column(s) {missing}"))
    if not any(c in df.columns for c in CQA_NAMES):
        problems.append((["all"], list(CQA_NAMES), "no CQA column: at least one of D50, DoA, crystallinity is needed"))
    if problems:
        raise DoEValidationError(problems, source)
    out = df.copy()
    if "run_id" not in out.columns:
        out.insert(0, "run_id", [f"row{i + 1}" for i in range(len(out))])
    labels = out["run_id"].astype(str).tolist()
    # numeric features
    num = out[list(FEATURE_NAMES)].apply(pd.to_numeric, errors="coerce")
    bad = num.isna()
    for col in FEATURE_NAMES:
        rows = [labels[i] for i in np.flatnonzero(bad[col].to_numpy())]
        if rows:
            problems.append((rows, [col], "missing or non-numeric value (feature columns must be numbers; use 0 for 'no stage')"))
    ok = ~bad.any(axis=1).to_numpy()
    for v in check_profiles(num.to_numpy()[ok], [labels[i] for i in np.flatnonzero(ok)]):
        problems.append(([v.row], list(v.columns), v.message))
    for col in CQA_NAMES:
        if col not in out.columns:
            continue
        vals = pd.to_numeric(out[col], errors="coerce")
        nonnum = vals.isna() & out[col].notna() & (out[col].astype(str).str.strip() != "")
        if nonnum.any():
            problems.append(([labels[i] for i in np.flatnonzero(nonnum.to_numpy())], [col], "non-numeric CQA value"))
        lo, hi = (0.0, np.inf) if col == "D50" else (0.0, 100.0)
        oob = (vals < lo) | (vals > hi) | ((vals == 0) & (col == "D50"))
        if oob.any():
            problems.append(([labels[i] for i in np.flatnonzero(oob.to_numpy())], [col],
                             f"{col} outside its physical range ({'> 0 µm' if col == 'D50' else '0–100 %'})"))
        out[col] = vals
    if "split" in out.columns:
        badsplit = ~out["split"].isin(SPLITS)
        if badsplit.any():
            problems.append(([labels[i] for i in np.flatnonzero(badsplit.to_numpy())], ["split"],
                             f"split must be one of {SPLITS}"))
    if problems:
        raise DoEValidationError(problems, source)
    out[list(FEATURE_NAMES)] = num
    if "split" not in out.columns:
        out.insert(1, "split", "train")
    for col in CQA_NAMES:
        if col not in out.columns:
            out[col] = np.nan
    X = out[list(FEATURE_NAMES)].to_numpy()
    out["profile_type"] = [profile_type(int(v)) for v in n_stages(X)]
    out["n_cycles"] = n_cycles(X)
    return out


def load_doe(path) -> pd.DataFrame:
    """Read and validate a DoE CSV (see :func:`validate_doe`)."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pragma: no cover - pandas' own message is clear
        raise DoEValidationError([(["all"], [], f"cannot read CSV: {exc}")], str(path)) from exc
    return validate_doe(df, source=str(path))


def save_doe(df: pd.DataFrame, path) -> Path:
    """Write a DoE table to CSV (validated first, so it loads back)."""
    path = Path(path)
    validate_doe(df)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def split_xy(df: pd.DataFrame, cqa: str, split: str = "train"):
    """Features and target of the rows of ``split`` where ``cqa`` was measured."""
    sub = df[(df["split"] == split) & df[cqa].notna()]
    return sub[list(FEATURE_NAMES)].to_numpy(float), sub[cqa].to_numpy(float)

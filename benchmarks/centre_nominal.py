"""Algorithm 3 from the model's nominal point vs from the map centre that maximises δp.

    .venv/bin/python benchmarks/centre_nominal.py [--quick]   (12 min wall, 4 min CPU on a loaded machine;
                                                             --quick: case 1 only, ~1 min)

For case 1 (ellipsoid and box) and case 2 (box), SCIP, p_c = 0.85, ε_tol = 1e-5: the Monte
Carlo map on the seed grid (1000 samples, random_state 0), its Chebyshev-type centre
(``flexspace.designspace.centre.chebyshev_centre`` with Algorithm 3's rectangle shape on the
model's θp bounds), and Algorithm 3 grown from the model's ``theta_p_nominal`` and from that
centre (``flexibility_test_region(model, p_c, <the map>, ...)``).  Prints both rectangles and
writes ``benchmarks/results/centre_nominal.md``.
"""
from __future__ import annotations

import pathlib
import platform
import sys
import time
from datetime import datetime, timezone

import flexspace
from flexspace.designspace import BracketError, flexibility_test_region, monte_carlo_map
from flexspace.designspace.centre import chebyshev_centre
from flexspace.models.cases import case1, case2

OUT = pathlib.Path(__file__).resolve().parent / "results" / "centre_nominal.md"
CONFIDENCE = 0.85


def _box(r, names) -> str:
    return ", ".join(f"{n} in [{lo:.5g}, {hi:.5g}]" for n, lo, hi in zip(names, r.lower, r.upper))


def run(name, model, uset) -> list:
    dmap = monte_carlo_map(model, n_samples=1000, random_state=0)
    centre = chebyshev_centre(dmap, CONFIDENCE, model.theta_p_bounds)
    rows = []
    for label, nominal in (("model nominal", None), ("map centre", dmap)):
        t0 = time.perf_counter()
        try:
            res = flexibility_test_region(model, CONFIDENCE, nominal, uset, "scip")
        except BracketError as exc:
            rows.append(f"| {name} | {uset} | {label} | – | – | – | failed: {str(exc)[:80]} |")
            continue
        r = res.rectangle
        print(f"{name} {uset} from {label} {r.center.tolist()}: delta_p = {r.delta_p:.6g}, volume = {r.volume:.6g}, "
              f"{'converged' if r.converged else 'NOT converged'}, {res.n_solves} tests, "
              f"{time.perf_counter() - t0:.1f} s\n    {_box(r, model.theta_p_names)}", flush=True)
        rows.append(f"| {name} | {uset} | {label} {[round(x, 4) for x in r.center.tolist()]} | {r.delta_p:.6g} | "
                    f"{r.volume:.6g} | {res.n_solves} ({time.perf_counter() - t0:.1f} s) | "
                    f"{_box(r, model.theta_p_names)} |")
    print(f"    map centre: grid estimate delta_p {centre.delta_p:.4g} (Monte Carlo region, "
          f"{centre.n_region_points} points)")
    return rows


def main() -> None:
    jobs = [("case 1", case1.model(), "ellipsoid"), ("case 1", case1.model(), "box")]
    if "--quick" not in sys.argv:
        jobs.append(("case 2", case2.model(), "box"))
    rows = []
    for name, model, uset in jobs:
        rows += run(name, model, uset)
    head = (f"# Algorithm 3: model nominal point vs map centre\n\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, flexspace "
            f"{getattr(flexspace, '__version__', '?')}; SCIP, p_c = {CONFIDENCE}, eps_tol = 1e-5; written by "
            "`benchmarks/centre_nominal.py`.\n\n| case | set | nominal | delta_p | volume | extended tests | rectangle |\n"
            "|---|---|---|---|---|---|---|\n")
    OUT.write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

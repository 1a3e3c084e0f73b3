"""Case 2 with MAiNGO (issue 2): global ellipsoid/box index on the reduced-space form vs
Monte Carlo, and the enumeration vs MINLP routes, at several θp.  Prints a markdown table.

Run: ``.venv/bin/python benchmarks/bench_case2_maingo.py`` (about 1 min)."""
import time

import numpy as np

from flexspace import FlexibilityAnalysis
from flexspace.models.cases import case2
from flexspace.montecarlo import monte_carlo_probability

POINTS = [(20.0, 1100.0), (25.0, 1300.0), (16.0, 1000.0), (12.0, 800.0), (17.0, 1300.0)]


def main():
    model = case2.model(formulation="reduced")
    print("| θp (R, τ) | set | δ enumeration | δ MINLP | abs diff | P(set(δ)) | MC p ± SE (20 000) | conservative |"
          " time enum / MINLP [s] | status |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tp in POINTS:
        mc = monte_carlo_probability(model, tp, n_samples=20000, random_state=1)
        for s in ("box", "ellipsoid", "ldl"):
            fa = FlexibilityAnalysis(model, s, "maingo", time_limit=60, diagnose_failures=False)
            t0 = time.perf_counter()
            e = fa.index(tp)
            t1 = time.perf_counter()
            m = fa.index(tp, method="minlp")
            t2 = time.perf_counter()
            ok = e.probability <= mc.probability + mc.std_error if np.isfinite(e.probability) else False
            print(f"| {tp} | {s} | {e.delta:.6f} | {m.delta:.6f} | {abs(e.delta - m.delta):.1e} | "
                  f"{e.probability:.4f} | {mc.probability:.4f} ± {mc.std_error:.4f} | {'yes' if ok else 'NO'} | "
                  f"{t1 - t0:.1f} / {t2 - t1:.1f} | {e.solve_quality}; {m.solve_quality} |", flush=True)


if __name__ == "__main__":
    main()

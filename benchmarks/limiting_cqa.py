"""What limits the design space of cases 1 and 2 (issue item "What limits the design space").

    .venv/bin/python benchmarks/limiting_cqa.py [n_samples]   (default 1000; ~5 s)

For each case: the Monte Carlo map on the seed grid (n_samples, random_state 0), the limiting
CQA per grid point (``flexspace.designspace.limiting_cqa``, the same samples), the layer
``plot_limiting_cqa`` saved as ``benchmarks/results/<case>_limiting_cqa.png``, and the ranking
of the CQAs by the points gained when each is relaxed (``rank_cqas``) at relax = 0.05, 0.5 and
1 × s_k (s_k: std of g_k over the θm samples at the nominal θp).
"""
from __future__ import annotations

import pathlib
import platform
import sys
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd

import flexspace
from flexspace.designspace import limiting_cqa, monte_carlo_map, plot_limiting_cqa, rank_cqas
from flexspace.models.cases import case1, case2

OUT = pathlib.Path(__file__).resolve().parent / "results"
CONFIDENCE = 0.85
RELAX = (0.05, 0.5, 1.0)


def run_case(name, model, n_samples):
    t0 = time.perf_counter()
    dmap = monte_carlo_map(model, n_samples=n_samples, random_state=0, progress=False)
    lim = limiting_cqa(model, dmap, n_samples=n_samples, random_state=0)
    assert np.array_equal(lim["probability"].to_numpy(), dmap.table["probability"].to_numpy())
    outside = ~dmap.region(CONFIDENCE).ravel()
    counts = lim["limiting"][outside].replace("", "(none)").value_counts()
    ax = plot_limiting_cqa(dmap, lim, confidence=CONFIDENCE,
                           title=f"{name}: limiting CQA outside the Monte Carlo region (P >= {CONFIDENCE}, "
                                 f"{n_samples} samples)")
    ax.figure.savefig(OUT / f"{name}_limiting_cqa.png", dpi=120, bbox_inches="tight")
    print(f"\n## {name}: grid {dmap.shape}, {n_samples} samples, region {int((~outside).sum())} of "
          f"{outside.size} points at P >= {CONFIDENCE}")
    print("limiting CQA at the points outside the region: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"failed samples (all points): {lim['failed'].sum() * n_samples:.0f}")
    for r in RELAX:
        tab = rank_cqas(model, dmap, relax=r, n_samples=n_samples, confidence=CONFIDENCE, random_state=0)
        print(f"\nranking, relax = {tab.attrs['relaxation']}:")
        print(tab.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"\n{name}: {time.perf_counter() - t0:.1f} s; figure {OUT / f'{name}_limiting_cqa.png'}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    n_samples = int(argv[0]) if argv else 1000
    OUT.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200)
    print(f"# limiting CQA — flexspace {getattr(flexspace, '__version__', '?')}, python "
          f"{platform.python_version()}, {platform.machine()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    for name, case in (("case1", case1), ("case2", case2)):
        run_case(name, case.model(), n_samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

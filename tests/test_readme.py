"""The README's Python examples run verbatim: each ```python block in its own fresh interpreter
(in a temporary working directory, so files it writes land there), and what the README says
they print is checked where it states a number that can be derived independently."""
import math
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
#: far above need (the slowest block takes ~20 s on an idle 2-core machine); only a hang trips it
HANG_LIMIT_S = 1200


def _first_line(code):
    return next(line for line in code.splitlines() if line.strip())


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs_verbatim(code, tmp_path):
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=HANG_LIMIT_S)
    assert proc.returncode == 0, f"README example starting {_first_line(code)!r} failed:\n{proc.stderr[-3000:]}"
    if "print(" in code:
        assert proc.stdout.strip(), "the example prints nothing"
    if "RecourseAnalysis(model, \"ellipsoid\"" in code:
        _check_hx_network(proc.stdout)


def _check_hx_network(stdout):
    """The heat-exchanger network's numbers, derived by hand from its six CQAs.

    With Qc free in [0, Qc_max], a θ is feasible iff every lower bound on Qc is below every
    upper bound. The binding pair is g5 (Qc ≥ 1.5T1 + 2T3 + T5 + 3T8 − 3153) against g2
    (Qc ≤ 2(0.75T1 + T3 + T5 − 1388.5)): 3 T8 − T5 ≤ 376, with slack 20 at the nominal θ.
    Box of half-width 10 δ: the worst corner uses 3·10δ + 10δ = 40δ ⇒ δ = 0.5.
    Ellipsoid in σ units (Σ = 11.11 I): δ = 20 / (σ ‖(0, 0, −1, 3)‖) = 20 / (√11.11 √10)."""
    lines = stdout.strip().splitlines()
    assert float(lines[0].split()[0]) == pytest.approx(0.5, abs=1e-6)
    assert "global" in lines[0]
    assert float(lines[1]) == pytest.approx(20 / (math.sqrt(11.11) * math.sqrt(10)), rel=1e-5)

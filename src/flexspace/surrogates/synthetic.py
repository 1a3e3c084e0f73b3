"""Constrained synthetic-data generators (crystallization paper, Step 6, §2.1.1).

Every generator models the joint distribution of (inputs, one CQA) of the real rows and
returns new rows that satisfy the domain constraints **by construction**: it works in an
unconstrained latent parameterisation supplied by a *transform* (for crystallization:
:class:`flexspace.crystallization.profile.ProfileLatentTransform` — a categorical
number of stages ``k`` plus logits of stage fractions and scaled bounds) and maps every
sample deterministically back to a feasible row.  Nothing is generated and then
discarded (the crystallization paper found in-training enforcement better than post-hoc filtering).

A transform has ``encode(X) -> (k, Z)``, ``decode(k, Z) -> X``, ``categories`` and
``active_mask(k)``; :class:`IdentityTransform` is the unconstrained default.  The target
is mapped by :class:`TargetTransform` (``log`` for positive sizes, ``logit100`` for
percentages) so generated CQAs stay physical.

Generators here: :class:`GaussianCopulaGenerator` (numpy/scipy only).  The GAN and VAE
generators live in :mod:`flexspace.surrogates.deep` (optional torch extra).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import UnknownNameError
from .constrained import ConstrainedGenerator, IdentityTransform, TargetTransform

__all__ = ["ConstrainedGenerator", "IdentityTransform", "TargetTransform", "GaussianCopulaGenerator",
           "make_generator", "torch_available"]


class GaussianCopulaGenerator(ConstrainedGenerator):
    """Gaussian copula on the latent table (scipy only).

    Marginals: empirical CDFs (linear interpolation of plotting positions; tails extended by
    ``tail`` × the range) for the continuous latent columns and the empirical distribution of
    the stage count ``k``; dependence: the correlation of the normal scores, shrunk towards
    the identity by ``shrinkage`` (assumed 0.2; needed with 15–31 rows and 15 columns).
    Inactive latent entries (stages beyond ``k``) are imputed by the column median before
    fitting and are ignored when decoding.
    """

    name = "copula"

    def __init__(self, transform=None, target: str = "identity", shrinkage: float = 0.2, tail: float = 0.1,
                 random_state=None):
        super().__init__(transform, target, random_state)
        self.shrinkage = shrinkage
        self.tail = tail

    def _fit_latent(self, k, W, mask):
        W = W.copy()
        for j in range(W.shape[1]):
            act = mask[:, j]
            W[~act, j] = np.median(W[act, j]) if act.any() else 0.0
        cols = np.column_stack([k.astype(float), W])
        n = len(cols)
        U = (stats.rankdata(cols, axis=0) - 0.5) / n
        S = stats.norm.ppf(U)
        with np.errstate(invalid="ignore", divide="ignore"):  # constant columns → NaN → 0 below
            R = np.corrcoef(S, rowvar=False) if n > 2 else np.eye(S.shape[1])
        R = np.nan_to_num(R)
        np.fill_diagonal(R, 1.0)
        self._R = (1 - self.shrinkage) * R + self.shrinkage * np.eye(len(R))
        self._sorted = [np.sort(cols[:, j]) for j in range(cols.shape[1])]

    def _sample_latent(self, m, rng):
        L = np.linalg.cholesky(self._R + 1e-9 * np.eye(len(self._R)))
        S = rng.standard_normal((m, len(self._R))) @ L.T
        U = stats.norm.cdf(S)
        out = np.empty_like(U)
        for j, srt in enumerate(self._sorted):
            n = len(srt)
            if j == 0:  # discrete stage count: empirical quantile function
                out[:, j] = srt[np.minimum((U[:, j] * n).astype(int), n - 1)]
                continue
            span = (srt[-1] - srt[0]) if n > 1 else 1.0
            xs = np.concatenate(([srt[0] - self.tail * span], srt, [srt[-1] + self.tail * span]))
            ps = np.concatenate(([0.0], (np.arange(n) + 0.5) / n, [1.0]))
            out[:, j] = np.interp(U[:, j], ps, xs)
        return out[:, 0].astype(int), out[:, 1:]


def make_generator(name: str, transform=None, target: str = "identity", random_state=None, **kwargs):
    """``"copula"``, ``"gan"`` or ``"vae"`` generator (the last two need torch)."""
    if name == "copula":
        return GaussianCopulaGenerator(transform, target, random_state=random_state, **kwargs)
    if name in ("gan", "vae"):
        from . import deep

        cls = deep.GANGenerator if name == "gan" else deep.VAEGenerator
        return cls(transform, target, random_state=random_state, **kwargs)
    raise UnknownNameError(f"unknown generator {name!r}; choose copula, gan or vae")


def torch_available() -> bool:
    """True when the optional torch extra is importable."""
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True

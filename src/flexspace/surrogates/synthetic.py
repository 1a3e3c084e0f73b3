"""Constrained synthetic-data generators (seed Step 6, §2.1.1).

Every generator models the joint distribution of (inputs, one CQA) of the real rows and
returns new rows that satisfy the domain constraints **by construction**: it works in an
unconstrained latent parameterisation supplied by a *transform* (for crystallization:
:class:`flexspace.models.crystallization.profile.ProfileLatentTransform` — a categorical
number of stages ``k`` plus logits of stage fractions and scaled bounds) and maps every
sample deterministically back to a feasible row.  Nothing is generated and then
discarded (the seed found in-training enforcement better than post-hoc filtering).

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


class IdentityTransform:
    """No constraints: one category, ``Z = X``."""

    categories = np.array([0])

    def encode(self, X):
        X = np.atleast_2d(np.asarray(X, float))
        return np.zeros(len(X), int), X.copy()

    def decode(self, k, Z):
        return np.atleast_2d(np.asarray(Z, float)).copy()

    def active_mask(self, k):
        return None


class TargetTransform:
    """Map a CQA to an unbounded scale: ``identity``, ``log`` (y > 0) or ``logit100`` (0–100 %)."""

    def __init__(self, kind: str = "identity"):
        if kind not in ("identity", "log", "logit100"):
            raise ValueError(f"unknown target transform {kind!r}")
        self.kind = kind

    def forward(self, y):
        y = np.asarray(y, float)
        if self.kind == "log":
            return np.log(np.maximum(y, 1e-6))
        if self.kind == "logit100":
            p = np.clip(y / 100.0, 0.005, 0.995)
            return np.log(p / (1 - p))
        return y.copy()

    def inverse(self, t):
        t = np.asarray(t, float)
        if self.kind == "log":
            return np.exp(t)
        if self.kind == "logit100":
            return 100.0 / (1.0 + np.exp(-t))
        return t.copy()


class ConstrainedGenerator:
    """Base class: ``fit(X, y)`` on real rows, ``sample(m, random_state)`` → ``(X_syn, y_syn)``.

    Subclasses implement ``_fit_latent(k, W, mask)`` and ``_sample_latent(m, rng)`` on the
    latent table ``W = [Z, t(y)]`` (standardised) with stage count ``k``.
    """

    name = "base"

    def __init__(self, transform=None, target: str = "identity", random_state=None):
        self.transform = transform
        self.target = target
        self.random_state = random_state

    # --------------------------------------------------------------- public API
    def fit(self, X, y):
        tr = self.transform or IdentityTransform()
        self._tr, self._tt = tr, TargetTransform(self.target)
        k, Z = tr.encode(X)
        W = np.column_stack([Z, self._tt.forward(y)])
        mask = tr.active_mask(k)
        mask = np.ones_like(W, bool) if mask is None else np.column_stack([mask, np.ones(len(W), bool)])
        # standardise each latent column over its active entries; inactive → 0
        Wm = np.where(mask, W, np.nan)
        mu = np.nanmean(np.where(mask.any(0), Wm, 0.0), axis=0)
        sd = np.nanstd(np.where(mask.any(0), Wm, 0.0), axis=0)
        self._mu = np.nan_to_num(mu)
        self._sd = np.where(np.nan_to_num(sd) > 1e-8, np.nan_to_num(sd), 1.0)
        Ws = np.where(mask, (W - self._mu) / self._sd, 0.0)
        self._cats = np.asarray(tr.categories)
        self._fit_latent(np.asarray(k), Ws, mask)
        return self

    def sample(self, m: int, random_state=None):
        """``m`` feasible synthetic rows ``(X, y)``; seeded by ``random_state`` (or the
        generator's own)."""
        rng = np.random.default_rng(self.random_state if random_state is None else random_state)
        k, Ws = self._sample_latent(int(m), rng)
        W = Ws * self._sd + self._mu
        X = self._tr.decode(k, W[:, :-1])
        return X, self._tt.inverse(W[:, -1])

    # --------------------------------------------------------------- to implement
    def _fit_latent(self, k, W, mask):  # pragma: no cover - abstract
        raise NotImplementedError

    def _sample_latent(self, m, rng):  # pragma: no cover - abstract
        raise NotImplementedError


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
    raise ValueError(f"unknown generator {name!r}; choose copula, gan or vae")


def torch_available() -> bool:
    """True when the optional torch extra is importable."""
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True

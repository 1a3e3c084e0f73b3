"""The base of every constrained synthetic-data generator (crystallization paper, Step 6, §2.1.1): the
latent transforms and :class:`ConstrainedGenerator` (see :mod:`.synthetic` for the idea;
the copula generator is in :mod:`.synthetic`, GAN/VAE in :mod:`.deep`)."""
from __future__ import annotations

import abc

import numpy as np

from ..errors import UnknownNameError

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
            raise UnknownNameError(f"unknown target transform {kind!r}")
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


class ConstrainedGenerator(abc.ABC):
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

    # --------------------------------------------------------------- subclasses implement
    @abc.abstractmethod
    def _fit_latent(self, k, W, mask):
        """Fit the latent model on ``(k, W)`` (``mask``: active columns per stage count)."""

    @abc.abstractmethod
    def _sample_latent(self, m, rng):
        """``m`` latent samples ``(k, W)``."""

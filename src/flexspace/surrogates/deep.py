"""GAN and VAE synthetic-data generators in plain PyTorch (optional extra).

Choice of library: the crystallization paper used the Synthetic Data Vault (SDV 1.10; CTGAN/TVAE).  SDV
is licensed under the Business Source License 1.1 (BUSL-1.1), which is not an open-source
licence, so this package writes the two generators directly in **PyTorch** (BSD-style
licence; CPU build ``torch==2.13.0``).  torch is imported lazily inside the classes: the
package and the Gaussian-copula route work without it.

Both generators model the latent table of :mod:`flexspace.surrogates.synthetic` — a
categorical stage count ``k`` (one-hot) plus standardised unconstrained latent columns —
and every output is decoded deterministically to a feasible profile, so Eq. 2–4 hold
during generation (no rejection sampling).  Latent entries of inactive stages are masked
out of the losses (the discriminator sees them as zeros; the VAE reconstruction ignores
them).  Training is full-batch Adam; RNG: a seeded ``torch.Generator`` / forked RNG state,
never the global seed.
"""
from __future__ import annotations

import numpy as np

from ..errors import MissingExtraError
from .constrained import ConstrainedGenerator


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("GAN/VAE generators need torch (the optional 'deep' extra): "
                                "pip install 'torch==2.13.0' (CPU) then pip install \"flexspace[deep]\", "
                                "or use the 'copula' generator") from exc
    return torch


class _TorchGenerator(ConstrainedGenerator):
    """Shared helpers: one-hot encoding of ``k``, latent masks, seeding."""

    def __init__(self, transform=None, target="identity", epochs: int = 600, hidden: int = 32, lr: float = 2e-3,
                 random_state=None):
        super().__init__(transform, target, random_state)
        self.epochs = epochs
        self.hidden = hidden
        self.lr = lr

    def _prep(self, k, W, mask):
        torch = _torch()
        self._cat_index = {int(c): i for i, c in enumerate(self._cats)}
        idx = np.array([self._cat_index[int(v)] for v in k])
        self._mask_table = self._category_masks(W.shape[1])
        onehot = np.eye(len(self._cats))[idx]
        return (torch.tensor(onehot, dtype=torch.float32), torch.tensor(W, dtype=torch.float32),
                torch.tensor(mask, dtype=torch.float32))

    def _category_masks(self, d):
        """``(n_categories, d)`` latent masks (which columns are active per category)."""
        m = self._tr.active_mask(self._cats)
        return np.ones((len(self._cats), d)) if m is None else np.column_stack([m, np.ones(len(self._cats))])

    def _seed(self):
        return int(np.random.default_rng(self.random_state).integers(2**31))

    def _fit_latent(self, k, W, mask):
        """Train with one intra-op thread (the networks are tiny; several OpenMP runtimes
        in one process — torch, xgboost, BLAS — otherwise contend badly) and restore."""
        torch = _torch()
        prev = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._train(k, W, mask)
        finally:
            torch.set_num_threads(prev)


class GANGenerator(_TorchGenerator):
    """Conditional-free tabular GAN: generator MLP → (Gumbel-softmax stage category,
    latent columns masked by the category); discriminator MLP on (one-hot, masked latent).
    Non-saturating BCE losses, ``epochs`` full-batch steps (assumed small-data defaults)."""

    name = "gan"

    def __init__(self, transform=None, target="identity", epochs: int = 800, hidden: int = 32, lr: float = 2e-3,
                 noise_dim: int = 8, random_state=None):
        super().__init__(transform, target, epochs, hidden, lr, random_state)
        self.noise_dim = noise_dim

    def _train(self, k, W, mask):
        torch = _torch()
        nn = torch.nn
        with torch.random.fork_rng():
            torch.manual_seed(self._seed())
            onehot, Wt, Mt = self._prep(k, W, mask)
            K, d = onehot.shape[1], Wt.shape[1]
            mtab = torch.tensor(self._mask_table, dtype=torch.float32)
            G = nn.Sequential(nn.Linear(self.noise_dim, self.hidden), nn.LeakyReLU(0.2),
                              nn.Linear(self.hidden, self.hidden), nn.LeakyReLU(0.2), nn.Linear(self.hidden, K + d))
            D = nn.Sequential(nn.Linear(K + d, self.hidden), nn.LeakyReLU(0.2),
                              nn.Linear(self.hidden, self.hidden), nn.LeakyReLU(0.2), nn.Linear(self.hidden, 1))
            oG = torch.optim.Adam(G.parameters(), lr=self.lr, betas=(0.5, 0.9))
            oD = torch.optim.Adam(D.parameters(), lr=self.lr, betas=(0.5, 0.9))
            bce = nn.BCEWithLogitsLoss()
            real = torch.cat([onehot, Wt * Mt], dim=1)
            n = len(real)
            ones, zeros = torch.full((n, 1), 0.9), torch.zeros((n, 1))  # one-sided label smoothing
            for _ in range(self.epochs):
                fake = self._generate(G, n, K, mtab, torch)
                lossD = bce(D(real), ones) + bce(D(fake.detach()), zeros)
                oD.zero_grad()
                lossD.backward()
                oD.step()
                lossG = bce(D(self._generate(G, n, K, mtab, torch)), torch.ones((n, 1)))
                oG.zero_grad()
                lossG.backward()
                oG.step()
        self._G, self._K = G.eval(), K
        return self

    def _generate(self, G, n, K, mtab, torch, gen=None):
        z = torch.randn((n, self.noise_dim), generator=gen)
        out = G(z)
        logits, w = out[:, :K], out[:, K:]
        if gen is None:
            onehot = torch.nn.functional.gumbel_softmax(logits, tau=0.5, hard=True)
        else:  # sampling: exact categorical draw
            g = -torch.log(-torch.log(torch.rand(logits.shape, generator=gen).clamp_min(1e-12)))
            onehot = torch.nn.functional.one_hot((logits + g).argmax(1), K).float()
        mask = onehot @ mtab
        return torch.cat([onehot, w * mask], dim=1)

    def _sample_latent(self, m, rng):
        torch = _torch()
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        mtab = torch.tensor(self._mask_table, dtype=torch.float32)
        with torch.no_grad():
            out = self._generate(self._G, m, self._K, mtab, torch, gen).numpy()
        k = self._cats[out[:, : self._K].argmax(1)]
        return k, out[:, self._K:]


class VAEGenerator(_TorchGenerator):
    """Tabular VAE: encoder on (one-hot ``k``, latent columns) → Gaussian code (``code_dim``);
    decoder → category logits + Gaussian latent columns with a learned per-column SD.
    Loss: cross-entropy + masked Gaussian NLL + ``beta`` × KL (assumed small-data defaults)."""

    name = "vae"

    def __init__(self, transform=None, target="identity", epochs: int = 800, hidden: int = 32, lr: float = 5e-3,
                 code_dim: int = 4, beta: float = 1.0, random_state=None):
        super().__init__(transform, target, epochs, hidden, lr, random_state)
        self.code_dim = code_dim
        self.beta = beta

    def _train(self, k, W, mask):
        torch = _torch()
        nn = torch.nn
        with torch.random.fork_rng():
            torch.manual_seed(self._seed())
            onehot, Wt, Mt = self._prep(k, W, mask)
            K, d = onehot.shape[1], Wt.shape[1]
            enc = nn.Sequential(nn.Linear(K + d, self.hidden), nn.Tanh(), nn.Linear(self.hidden, 2 * self.code_dim))
            dec = nn.Sequential(nn.Linear(self.code_dim, self.hidden), nn.Tanh(), nn.Linear(self.hidden, K + d))
            log_sd = nn.Parameter(torch.full((d,), -1.0))
            opt = torch.optim.Adam([*enc.parameters(), *dec.parameters(), log_sd], lr=self.lr)
            x = torch.cat([onehot, Wt * Mt], dim=1)
            target_idx = onehot.argmax(1)
            for _ in range(self.epochs):
                h = enc(x)
                mu, logvar = h[:, : self.code_dim], h[:, self.code_dim:].clamp(-8, 8)
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                out = dec(z)
                ce = nn.functional.cross_entropy(out[:, :K], target_idx, reduction="sum")
                nll = (((Wt - out[:, K:]) / torch.exp(log_sd)) ** 2 / 2 + log_sd) * Mt
                kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())
                loss = (ce + nll.sum() + self.beta * kl) / len(x)
                opt.zero_grad()
                loss.backward()
                opt.step()
        self._dec, self._log_sd, self._K = dec.eval(), log_sd.detach(), K
        return self

    def _sample_latent(self, m, rng):
        torch = _torch()
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        with torch.no_grad():
            z = torch.randn((m, self.code_dim), generator=gen)
            out = self._dec(z)
            probs = torch.softmax(out[:, : self._K], dim=1)
            idx = torch.multinomial(probs, 1, generator=gen).squeeze(1)
            w = out[:, self._K:] + torch.exp(self._log_sd) * torch.randn((m, out.shape[1] - self._K), generator=gen)
        return self._cats[idx.numpy()], w.numpy()

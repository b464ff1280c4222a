"""Stationary Gaussian random fields with Matérn covariance on a regular grid, sampled exactly.

Covariance (Rasmussen & Williams 2006, eq. 4.14) of one component, plus a nugget τ²:

    C(r) = σ² 2^{1−ν}/Γ(ν) (√(2ν) r/ℓ)^ν K_ν(√(2ν) r/ℓ) + τ² 1[r = 0]

ν = 1/2 is the exponential covariance, ν → ∞ the Gaussian one; ℓ is the correlation length in
the same units as the grid spacing. The nugget τ² is the variance of an uncorrelated
(cell-to-cell white noise) part, as in geostatistics: C(0) = σ² + τ², C(r > 0) = σ² ρ(r).
A sum of independent components has the summed covariance, so it is sampled in one go.

Sampling is by circulant embedding (Dietrich & Newsam 1997): the covariance on the grid's lags
is wrapped onto a torus at least twice the grid, whose covariance matrix is circulant with
eigenvalues λ = FFT(c). Then field = C^{1/2} ξ = IFFT(√λ · FFT(ξ)) restricted to the grid has
exactly the target covariance, for white noise ξ, when λ ≥ 0. The torus is enlarged until the
covariance error caused by clipping negative λ is below ``COVARIANCE_TOLERANCE`` (relative to
the variance); fields with correlation lengths too long for that are refused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import fft, special

#: Largest allowed |covariance error| of the embedding, relative to the point variance.
COVARIANCE_TOLERANCE = 1e-8
#: Largest torus side tried, in multiples of the grid side.
MAX_PADDING = 8


@dataclass(frozen=True)
class MaternComponent:
    """One independent Matérn term of a random field."""

    sigma: float  # standard deviation of the correlated part
    length: float  # correlation length ℓ
    nu: float  # smoothness ν
    nugget: float = 0.0  # variance τ² of the uncorrelated part

    @property
    def variance(self) -> float:
        return self.sigma**2 + self.nugget


def matern_covariance(r: np.ndarray, component: MaternComponent) -> np.ndarray:
    """C(r) of one component, including its nugget at r = 0."""
    r = np.asarray(r, dtype=float)
    out = np.full(r.shape, float(component.sigma) ** 2 + float(component.nugget))
    positive = r > 0
    x = np.sqrt(2.0 * component.nu) * r[positive] / component.length
    # log of 2^{1−ν}/Γ(ν) x^ν K_ν(x), with K_ν(x) = kve(ν, x) e^{−x}: finite for every x > 0
    log_correlation = (
        (1.0 - component.nu) * np.log(2.0)
        - special.gammaln(component.nu)
        + component.nu * np.log(x)
        + np.log(special.kve(component.nu, x))
        - x
    )
    out[positive] = component.sigma**2 * np.exp(log_correlation)
    return out


def field_covariance(r: np.ndarray, components: tuple[MaternComponent, ...]) -> np.ndarray:
    """Covariance of the sum of independent components."""
    return sum((matern_covariance(r, c) for c in components), np.zeros(np.shape(r)))


@dataclass(frozen=True)
class CirculantEmbedding:
    """Exact sampler for a stationary field on an (ny, nx) grid."""

    shape: tuple[int, int]
    torus: tuple[int, int]
    sqrt_eigenvalues: np.ndarray  # (my, mx // 2 + 1), half spectrum for rfft2
    covariance_error: float  # max |embedded − target| covariance over the grid's lags

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One zero-mean field (ny, nx) from ``rng`` (draws my·mx standard normals)."""
        noise = rng.standard_normal(self.torus)
        field = fft.irfft2(self.sqrt_eigenvalues * fft.rfft2(noise), s=self.torus)
        return field[: self.shape[0], : self.shape[1]]


def _torus_lags(size: int, spacing: float) -> np.ndarray:
    k = np.arange(size)
    return np.minimum(k, size - k) * spacing


def _embedding_error(
    shape: tuple[int, int], spacing: tuple[float, float], components, torus: tuple[int, int]
) -> tuple[np.ndarray, float]:
    ly, lx = _torus_lags(torus[0], spacing[0]), _torus_lags(torus[1], spacing[1])
    c = field_covariance(np.hypot(ly[:, None], lx[None, :]), components)
    eigenvalues = fft.rfft2(c).real
    clipped = np.maximum(eigenvalues, 0.0)
    embedded = fft.irfft2(clipped, s=torus)
    error = np.max(np.abs(embedded - c)[: shape[0], : shape[1]])
    return clipped, float(error)


@functools.lru_cache(maxsize=16)
def circulant_embedding(
    shape: tuple[int, int], spacing: tuple[float, float], components: tuple[MaternComponent, ...]
) -> CirculantEmbedding:
    """The smallest embedding (torus sides 2n, growing by 25 %) within the tolerance.

    ``spacing`` is (h_y, h_x). Raises ValueError when even an 8× torus is not accurate enough.
    """
    variance = sum(c.variance for c in components)
    scale = 2.0
    while True:
        torus = tuple(fft.next_fast_len(int(np.ceil(scale * n)), real=True) for n in shape)
        eigenvalues, error = _embedding_error(shape, spacing, components, torus)
        if error <= COVARIANCE_TOLERANCE * variance:
            break
        scale *= 1.25
        if scale > MAX_PADDING:
            raise ValueError(
                f"circulant embedding of this covariance needs a torus over {MAX_PADDING}× the "
                f"grid (covariance error {error / variance:.1e}); shorten the correlation length"
            )
    return CirculantEmbedding(shape, torus, np.sqrt(eigenvalues), error)

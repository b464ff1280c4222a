"""Random wave-speed fields as in the SL paper's code (jax-cfd ``filtered_velocity_field``).

Each of two velocity components is white noise filtered in Fourier space by
√S(|k|), S(k) = lognormal_pdf(k; mode k0, log-variance s²) / k (zero at k = 0), on the integer
wavenumbers of the 2π-periodic grid; the pair is projected onto divergence-free fields (jax-cfd
does this with a finite-volume pressure solve; here it is exact and spectral — the difference is
O((kh)²) ≈ 10⁻⁴ at the k ≤ 4 that carry the field). The speed is the sum of the two components,
min–max scaled to [c_min, c_max] per sample. A divergence-free (u, v) has u + v = (∂_y − ∂_x)ψ,
so the field is a diagonal derivative of a stream function: smooth, anisotropic, and, with the
default [0, 1] range, exactly zero somewhere.
"""

from __future__ import annotations

import numpy as np


def wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer wavenumbers ``(k_y, k_x)`` of an n-point grid on [0, 2π), as (n, n//2+1) meshes."""
    ky = np.fft.fftfreq(n, d=1.0 / n)
    kx = np.fft.rfftfreq(n, d=1.0 / n)
    return np.meshgrid(ky, kx, indexing="ij")


def lognormal_filter(n: int, peak: float, log_variance: float) -> np.ndarray:
    """√S(|k|) on the rfft grid: S = lognormal pdf with mode ``peak`` over |k| (the 2-D density)."""
    ky, kx = wavenumbers(n)
    k = np.hypot(ky, kx)
    density = np.zeros_like(k)
    positive = k > 0
    mean = np.log(peak) + log_variance
    logk = np.log(k[positive])
    density[positive] = np.exp(-((mean - logk) ** 2) / (2 * log_variance) - logk) / k[positive]
    return np.sqrt(density)


def speed_field(
    rng: np.random.Generator,
    n: int,
    peak: float,
    log_variance: float,
    divergence_free: bool,
    c_min: float,
    c_max: float,
) -> np.ndarray:
    """One ``(n, n)`` speed field (rows y, columns x) drawn with ``rng``."""
    filt = lognormal_filter(n, peak, log_variance)
    spectra = [np.fft.rfft2(rng.standard_normal((n, n))) * filt for _ in range(2)]
    if divergence_free:
        ky, kx = wavenumbers(n)
        k2 = kx**2 + ky**2
        k2[0, 0] = 1.0
        divergence = (kx * spectra[0] + ky * spectra[1]) / k2
        spectra = [spectra[0] - kx * divergence, spectra[1] - ky * divergence]
    total = np.fft.irfft2(spectra[0] + spectra[1], s=(n, n))
    span = total.max() - total.min()
    return c_min + (c_max - c_min) * (total - total.min()) / span

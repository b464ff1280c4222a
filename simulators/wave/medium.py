"""Random wave-speed fields exactly as the SL paper's demo draws them with jax-cfd.

The demo calls jax-cfd's ``filtered_velocity_field`` (Dresdner et al., jax-cfd, 2021–2024) on
the 2π-periodic n² grid, sums the two velocity components and min–max scales the sum per
sample. That function

1. multiplies the Fourier transform of each component's white noise by the spectral density
   S(|k|) = lognormal_pdf(|k|; mode k0, log-variance s²) / |k| itself (not by √S; S(0) = 0),
   on the integer wavenumbers of the grid;
2. places the components on the staggered (MAC) grid — component a on the faces normal to
   axis a — and projects them onto discretely divergence-free fields: divergence by backward
   differences, pressure gradient by forward differences, pressure from the periodic 5-point
   Laplacian (its pseudo-inverse, zero mode removed);
3. rescales to a maximum speed, and repeats projection and rescaling three times.

The discrete projection P = I − G L⁺ D (L = D G) is linear and idempotent, and the min–max
scaling ignores any positive factor, so the three repetitions equal one projection up to
round-off: here it is applied once, exactly, as a Fourier multiplier of the same difference
operators. Given the same noise this reproduces jax-cfd's float32 fields to ~10⁻⁷
(``tests/data/wave_medium_jaxcfd.npz``, ``benchmarks/wave_medium_vs_jaxcfd.py``).

Arrays are indexed like the demo's: the speed at index [i, j] multiplies the Laplacian of u at
[i, j]. slsim labels axis 0 ``y`` and the demo labels it ``x``; the law of the field is
invariant under that transposition.
"""

from __future__ import annotations

import numpy as np


def wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer wavenumbers ``(k_0, k_1)`` of axes 0 and 1 of an n-point grid on [0, 2π).

    Meshes of shape (n, n//2 + 1), matching ``np.fft.rfft2``.
    """
    k0 = np.fft.fftfreq(n, d=1.0 / n)
    k1 = np.fft.rfftfreq(n, d=1.0 / n)
    return np.meshgrid(k0, k1, indexing="ij")


def lognormal_density(n: int, peak: float, log_variance: float) -> np.ndarray:
    """jax-cfd's filter S(|k|) = lognormal pdf(|k|; mode ``peak``) / |k| on the rfft grid."""
    k_0, k_1 = wavenumbers(n)
    k = np.hypot(k_0, k_1)
    density = np.zeros_like(k)
    positive = k > 0
    mean = np.log(peak) + log_variance
    logk = np.log(k[positive])
    density[positive] = np.exp(-((mean - logk) ** 2) / (2 * log_variance) - logk) / k[positive]
    return density


def staggered_differences(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fourier symbols of the backward and forward differences along axes 0 and 1.

    Returns ``(backward, forward)``, each of shape (2, n, n//2 + 1), for grid step 2π/n:
    backward (u[j] − u[j−1])/h ↔ (1 − e^{−iθ})/h and forward (u[j+1] − u[j])/h ↔ (e^{iθ} − 1)/h,
    θ = 2πk/n.
    """
    h = 2 * np.pi / n
    phases = np.exp(1j * 2 * np.pi * np.stack(wavenumbers(n)) / n)
    return (1 - phases.conj()) / h, (phases - 1) / h


def project_divergence_free(spectra: np.ndarray) -> np.ndarray:
    """jax-cfd's staggered-grid pressure projection of the rfft2 ``spectra`` (2, n, n//2+1)."""
    n = spectra.shape[1]
    backward, forward = staggered_differences(n)
    laplacian = (backward * forward).real.sum(axis=0)  # Σ_a (2 cos θ_a − 2)/h², ≤ 0
    laplacian[0, 0] = 1.0  # zero mode: the pseudo-inverse drops it (divergence is 0 there)
    pressure = (backward * spectra).sum(axis=0) / laplacian
    return spectra - forward * pressure


def component_sum(
    noise: np.ndarray, peak: float, log_variance: float, divergence_free: bool
) -> np.ndarray:
    """u_0 + u_1 of the filtered (and projected) velocity made from noise ``(2, n, n)``.

    Not yet scaled: its Fourier coefficients have mean power n² S(|k|)² |1 − (Σ_a F_a) B_b / L|²
    summed over b (F, B: forward and backward symbols, L their Laplacian), which tends to
    n² S(|k|)² (k_0 − k_1)²/|k|² on resolved scales.
    """
    n = noise.shape[-1]
    spectra = np.fft.rfft2(np.asarray(noise, np.float64)) * lognormal_density(n, peak, log_variance)
    if divergence_free:
        spectra = project_divergence_free(spectra)
    return np.fft.irfft2(spectra[0] + spectra[1], s=(n, n))


def speed_from_noise(
    noise: np.ndarray,
    peak: float,
    log_variance: float,
    divergence_free: bool,
    c_min: float,
    c_max: float,
) -> np.ndarray:
    """The ``(n, n)`` speed field made from white noise ``(2, n, n)`` (one slab per component).

    The component sum min–max scaled to [c_min, c_max], as the demo does.
    """
    total = component_sum(noise, peak, log_variance, divergence_free)
    span = total.max() - total.min()
    return c_min + (c_max - c_min) * (total - total.min()) / span

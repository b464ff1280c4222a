"""Two-point flux pressure solve −∇·(K λ ∇p) = q on a rectangular grid with no-flow boundaries.

Cells are indexed row-major over (ny, nx). Face transmissibilities are harmonic means of the
cell values k = K λ_t (listing 1 of Aarnes, Gimse & Lie 2007): T = (h_⊥/h) · 2/(1/k_a + 1/k_b).
The pure-Neumann system is made definite by adding the producer's diagonal to itself ("pinning"),
which, since Σq = 0, fixes the gauge p = 0 at that cell without changing any flux.

Within one trajectory only λ_t(S) changes between solves, so :class:`PressureSolver` factorises
occasionally (a sparse L·D·Lᵀ, ``ldl``, in the minimum-degree order computed once per grid) and
otherwise runs conjugate gradients preconditioned by the most recent factor, warm-started from
the previous pressure. Everything per solve is Numba code that releases the GIL, so threads
can run trajectories concurrently.
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np
import scipy.sparse as sp

from . import ldl


@nb.njit(nogil=True, cache=True)
def transmissibilities(k, hx, hy):
    """Face transmissibilities (ny, nx+1) and (ny+1, nx) of cell values k; boundary faces 0."""
    ny, nx = k.shape
    tx = np.zeros((ny, nx + 1))
    ty = np.zeros((ny + 1, nx))
    for i in range(ny):
        for j in range(1, nx):
            tx[i, j] = (hy / hx) * 2.0 / (1.0 / k[i, j - 1] + 1.0 / k[i, j])
    for i in range(1, ny):
        for j in range(nx):
            ty[i, j] = (hx / hy) * 2.0 / (1.0 / k[i - 1, j] + 1.0 / k[i, j])
    return tx, ty


@nb.njit(nogil=True, cache=True)
def face_fluxes(p, tx, ty):
    """Total fluxes through the faces, positive towards increasing column (x) / row (y)."""
    ny, nx = p.shape
    fx = np.zeros((ny, nx + 1))
    fy = np.zeros((ny + 1, nx))
    for i in range(ny):
        for j in range(1, nx):
            fx[i, j] = tx[i, j] * (p[i, j - 1] - p[i, j])
    for i in range(1, ny):
        for j in range(nx):
            fy[i, j] = ty[i, j] * (p[i - 1, j] - p[i, j])
    return fx, fy


@nb.njit(nogil=True, cache=True)
def _diagonal(tx, ty, i, j):
    return tx[i, j] + tx[i, j + 1] + ty[i, j] + ty[i + 1, j]


@nb.njit(nogil=True, cache=True)
def apply_operator(tx, ty, pin_cell, x, out):
    """out = A x for the pinned TPFA matrix (x, out flat, row-major)."""
    ny, nx = ty.shape[0] - 1, tx.shape[1] - 1
    for i in range(ny):
        for j in range(nx):
            c = i * nx + j
            v = _diagonal(tx, ty, i, j) * x[c]
            if j > 0:
                v -= tx[i, j] * x[c - 1]
            if j < nx - 1:
                v -= tx[i, j + 1] * x[c + 1]
            if i > 0:
                v -= ty[i, j] * x[c - nx]
            if i < ny - 1:
                v -= ty[i + 1, j] * x[c + nx]
            out[c] = v
    pi, pj = pin_cell // nx, pin_cell % nx
    out[pin_cell] += _diagonal(tx, ty, pi, pj) * x[pin_cell]


@functools.lru_cache(maxsize=8)
def _csc_pattern(ny: int, nx: int) -> tuple[np.ndarray, np.ndarray]:
    """indptr, indices of the 5-point matrix (symmetric, so CSC = CSR), sorted per column."""
    cells = np.arange(ny * nx).reshape(ny, nx)
    rows, cols = [cells.ravel()], [cells.ravel()]
    for a, b in ((cells[:, :-1], cells[:, 1:]), (cells[:-1, :], cells[1:, :])):
        rows += [a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel()]
    pattern = sp.csc_matrix(
        (np.ones(sum(r.size for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
        shape=(ny * nx, ny * nx),
    )
    pattern.sort_indices()
    return pattern.indptr, pattern.indices


@nb.njit(nogil=True, cache=True)
def _fill_csc(tx, ty, pin_cell, indptr, indices, data):
    nx = tx.shape[1] - 1
    for col in range(indptr.size - 1):
        i, j = col // nx, col % nx
        for k in range(indptr[col], indptr[col + 1]):
            row = indices[k]
            if row == col:
                data[k] = _diagonal(tx, ty, i, j) * (2.0 if col == pin_cell else 1.0)
            elif row == col - 1:
                data[k] = -tx[i, j]
            elif row == col + 1:
                data[k] = -tx[i, j + 1]
            elif row == col - nx:
                data[k] = -ty[i, j]
            else:
                data[k] = -ty[i + 1, j]


def pressure_matrix(tx: np.ndarray, ty: np.ndarray, pin_cell: int) -> sp.csc_matrix:
    """The pinned TPFA matrix as a SciPy CSC matrix."""
    ny, nx = ty.shape[0] - 1, tx.shape[1] - 1
    indptr, indices = _csc_pattern(ny, nx)
    data = np.empty(indices.size)
    _fill_csc(tx, ty, pin_cell, indptr, indices, data)
    return sp.csc_matrix((data, indices, indptr), shape=(ny * nx, ny * nx))


@nb.njit(nogil=True, cache=True)
def _pcg(tx, ty, pin_cell, b, x, l_ptr, l_idx, l_val, d_inv, position, rtol, max_iter):
    """Preconditioned CG on A x = b from the given x; returns iterations, or -1 if not converged."""
    n = b.size
    r = np.empty(n)
    z = np.empty(n)
    y = np.empty(n)
    q = np.empty(n)
    apply_operator(tx, ty, pin_cell, x, q)
    for i in range(n):
        r[i] = b[i] - q[i]
    target = rtol * np.sqrt(np.dot(b, b))
    if np.sqrt(np.dot(r, r)) <= target:
        return 0
    ldl.solve(l_ptr, l_idx, l_val, d_inv, position, r, y, z)
    d = z.copy()
    rz = np.dot(r, z)
    for it in range(1, max_iter + 1):
        apply_operator(tx, ty, pin_cell, d, q)
        alpha = rz / np.dot(d, q)
        for i in range(n):
            x[i] += alpha * d[i]
            r[i] -= alpha * q[i]
        if np.sqrt(np.dot(r, r)) <= target:
            return it
        ldl.solve(l_ptr, l_idx, l_val, d_inv, position, r, y, z)
        rz_new = np.dot(r, z)
        beta = rz_new / rz
        rz = rz_new
        for i in range(n):
            d[i] = z[i] + beta * d[i]
    return -1


@functools.lru_cache(maxsize=8)
def _symbolic(ny: int, nx: int) -> ldl.Symbolic:
    """Ordering and elimination tree of the pressure matrix of an (ny, nx) grid."""
    tx, ty = transmissibilities(np.ones((ny, nx)), 1.0, 1.0)
    return ldl.analyse(pressure_matrix(tx, ty, ny * nx - 1))


class PressureSolver:
    """Pinned TPFA solves for one trajectory, reusing an L·D·Lᵀ factor as a CG preconditioner.

    Only the mobility changes between solves, so the factor of an earlier matrix is a good
    preconditioner: CG on A(k) preconditioned by A(k₀)⁻¹ converges at a rate set by the
    spread of the transmissibility ratios T(k)/T(k₀). A solve refactorises first when the
    previous one needed more than ``refactor_after`` iterations (the front has moved far
    since the factorisation), or when CG fails within ``max_iter``.
    """

    def __init__(
        self, shape: tuple[int, int], pin_cell: int, rtol: float, refactor_after: int,
        max_iter: int = 200,
    ):  # fmt: skip
        self.symbolic = _symbolic(*shape)
        self.pin_cell = pin_cell
        self.rtol = rtol
        self.refactor_after = refactor_after
        self.max_iter = max_iter
        self.factorizations = 0
        self.iterations = 0
        self.solves = 0
        size = self.symbolic.l_indptr[-1]
        self._l_indices = np.empty(size, dtype=np.int64)
        self._l_values = np.empty(size)
        self._d_inv = np.empty(shape[0] * shape[1])
        self._last_iterations = -1

    def _factorize(self, tx: np.ndarray, ty: np.ndarray) -> None:
        sym = self.symbolic
        indptr, indices = _csc_pattern(ty.shape[0] - 1, tx.shape[1] - 1)
        data = np.empty(indices.size)
        _fill_csc(tx, ty, self.pin_cell, indptr, indices, data)
        if not ldl.factorize(
            data, sym.upper_indptr, sym.upper_indices, sym.entries, sym.parent, sym.l_indptr,
            self._l_indices, self._l_values, self._d_inv,
        ):  # fmt: skip
            raise RuntimeError("the pressure matrix is not positive definite")
        self.factorizations += 1

    def _cg(self, tx: np.ndarray, ty: np.ndarray, rhs: np.ndarray, p: np.ndarray) -> int:
        return _pcg(
            tx, ty, self.pin_cell, rhs, p, self.symbolic.l_indptr, self._l_indices,
            self._l_values, self._d_inv, self.symbolic.position, self.rtol, self.max_iter,
        )  # fmt: skip

    def solve(
        self, tx: np.ndarray, ty: np.ndarray, rhs: np.ndarray, guess: np.ndarray
    ) -> np.ndarray:
        """Pressure (flat) for transmissibilities tx, ty and sources rhs, starting at guess."""
        if self._last_iterations < 0 or self._last_iterations > self.refactor_after:
            self._factorize(tx, ty)
        p = guess.copy()
        iterations = self._cg(tx, ty, rhs, p)
        if iterations < 0:
            self._factorize(tx, ty)
            p = guess.copy()
            iterations = self._cg(tx, ty, rhs, p)
            if iterations < 0:
                raise RuntimeError("pressure CG did not converge with a fresh factorisation")
        self._last_iterations = iterations
        self.iterations += iterations
        self.solves += 1
        return p

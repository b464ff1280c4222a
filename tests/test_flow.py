"""Two-phase flow (IMPES): Buckley–Leverett, the published quarter five-spot, mass balance,
bounds and monotonicity, the pressure solve, the plain reference, reproducibility, the config."""

from __future__ import annotations

import h5py
import numba
import numpy as np
import pytest

from slsim.pipelines.ensemble import check_ensemble
from slsim.pipelines.generation import generate
from slsim.simulators import ConfigError, build_config, get_system
from slsim.simulators.flow import model as fl
from slsim.simulators.flow.impes import Fluid, Numerics, Wells, waterflood
from slsim.simulators.flow.matern import MaternComponent, circulant_embedding
from slsim.simulators.flow.reference import reference_waterflood
from slsim.simulators.flow.relperm import (
    fractional_flow_slope,
    max_fractional_flow_slope,
    total_mobility,
)
from slsim.simulators.flow.tpfa import face_fluxes, pressure_matrix, transmissibilities
from slsim.simulators.seeding import trajectory_seeds

from .conftest import generation_job

POLICIES = ["global", "local"]


def small(**overrides) -> fl.FlowConfig:
    """16² cells, 6 frames: a whole trajectory in milliseconds."""
    return build_config(fl.FlowConfig, {"n_cells": 16, "n_frames": 6, **overrides})


def medium(n: int, seed: int = 5) -> np.ndarray:
    """A default-like log-normal permeability on an n² grid of the unit square."""
    components = (MaternComponent(1.0, 0.2, 1.5), MaternComponent(0.5, 0.05, 0.5))
    embedding = circulant_embedding((n, n), (1 / n, 1 / n), components)
    return np.exp(embedding.sample(np.random.default_rng(seed)))


# --- fractional flow -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "measured"),  # max f'(S) for quadratic relperms, measured on a fine grid
    [(0.1, 2.98), (0.5, 2.08), (1.0, 2.00), (2.0, 2.08), (10.0, 2.98), (20.0, 3.77), (100.0, 7.30)],
)
def test_max_fractional_flow_slope_matches_the_measured_values(ratio, measured):
    assert max_fractional_flow_slope(ratio) == pytest.approx(measured, abs=0.006)


def test_listing8_factor_three_breaks_monotonicity_where_the_computed_bound_does_not():
    """For M = 50, max f' = 5.42 > 3: listing 8's fixed factor lets the upwind scheme create
    new extrema in a 1-D flood, whose exact profile decreases monotonically downstream."""
    ratio, n = 50.0, 200
    fastest = max_fractional_flow_slope(ratio)
    increases = {}
    for bound in (3.0, fastest):
        run = waterflood(
            np.ones((1, n)), (1 / n, 1.0), 1.0, Fluid(ratio), Wells(0, n - 1, 1.0),
            np.linspace(0, 0.5, 11), Numerics(time_stepping="global", cfl_safety=bound / fastest),
        )  # fmt: skip
        increases[bound] = np.diff(run.saturation[:, 0, :], axis=1).max()
    assert increases[3.0] > 1e-3
    assert increases[fastest] == 0.0


# --- Buckley–Leverett ------------------------------------------------------------------------

BL_FLUID = Fluid(viscosity_ratio=2.0, s_wc=0.1, s_or=0.15)


def buckley_leverett(pore_volume_coordinate: np.ndarray, pvi: float) -> np.ndarray:
    """Exact 1-D solution (Buckley & Leverett 1942, Welge 1952): rarefaction
    x = t f'(S)/(1−s_wc−s_or) behind the Welge shock S_f = 1/√(1+M), s = s_wc ahead of it."""
    fluid, ratio = BL_FLUID, BL_FLUID.viscosity_ratio
    states = np.linspace(1 / np.sqrt(1 + ratio), 1.0, 4001)
    positions = pvi * fractional_flow_slope(states, ratio) / fluid.mobile_range
    normalised = np.interp(pore_volume_coordinate, positions[::-1], states[::-1], right=0.0)
    return fluid.s_wc + fluid.mobile_range * normalised


def column_flood(n: int, pvi: np.ndarray, policy: str, porosity: np.ndarray | None = None):
    """1-D flood through n cells of unit total length, injector and producer at the ends."""
    porosity = np.ones((1, n)) if porosity is None else porosity
    times = np.asarray(pvi) * porosity.mean()  # unit rate: one pore volume per porosity.mean()
    return waterflood(
        np.ones((1, n)), (1 / n, 1.0), porosity, BL_FLUID, Wells(0, n - 1, 1.0), times,
        Numerics(time_stepping=policy),
    )  # fmt: skip


def pv_centres(porosity: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(porosity)
    return (cumulative - porosity / 2) / cumulative[-1]


def test_welge_closed_form_is_the_tangent_construction():
    ratio = BL_FLUID.viscosity_ratio
    front = 1 / np.sqrt(1 + ratio)
    water = front**2 / (front**2 + (1 - front) ** 2 / ratio)
    assert water / front == pytest.approx(fractional_flow_slope(front, ratio), rel=1e-12)
    breakthrough = BL_FLUID.mobile_range * 2 * (1 + ratio - np.sqrt(1 + ratio))
    breakthrough /= ratio * np.sqrt(1 + ratio)
    assert breakthrough == pytest.approx(BL_FLUID.mobile_range / (water / front), rel=1e-12)


@pytest.mark.parametrize("policy", POLICIES)
def test_buckley_leverett_front_and_shock_saturation(policy):
    n, pvi = 800, 0.5
    ratio, fluid = BL_FLUID.viscosity_ratio, BL_FLUID
    run = column_flood(n, [0.0, pvi], policy)
    s = run.saturation[-1, 0]
    x = (np.arange(n) + 0.5) / n
    front_exact = pvi * fractional_flow_slope(1 / np.sqrt(1 + ratio), ratio) / fluid.mobile_range
    s_front = fluid.s_wc + fluid.mobile_range / np.sqrt(1 + ratio)
    half = fluid.s_wc + (s_front - fluid.s_wc) / 2
    k = np.nonzero(s < half)[0][0]  # first cell below half the shock height
    front = np.interp(half, [s[k], s[k - 1]], [x[k], x[k - 1]])
    assert front == pytest.approx(front_exact, abs=4 / n)  # smeared over ~3 cells
    # the shock is a few cells wide and rises from s_wc to the Welge saturation
    assert np.all(s[x > front + 3 / n] == fluid.s_wc)
    behind = np.interp(front - 0.02, x, s)  # 16 cells back: the rarefaction has barely risen
    assert behind == pytest.approx(s_front, abs=0.01)


@pytest.mark.parametrize("policy", POLICIES)
def test_buckley_leverett_breakthrough_time(policy):
    n = 400
    ratio, fluid = BL_FLUID.viscosity_ratio, BL_FLUID
    pvi = np.linspace(0.0, 0.7, 141)
    run = column_flood(n, pvi, policy)
    outlet = run.saturation[:, 0, -1]
    half = fluid.s_wc + fluid.mobile_range / np.sqrt(1 + ratio) / 2
    k = np.nonzero(outlet > half)[0][0]
    arrival = np.interp(half, outlet[k - 1 : k + 1], pvi[k - 1 : k + 1])
    exact = fluid.mobile_range * 2 * (1 + ratio - np.sqrt(1 + ratio)) / (ratio * np.sqrt(1 + ratio))
    # the producer's centre is half a cell before the outlet
    assert arrival == pytest.approx(exact * (1 - 0.5 / n), rel=0.01)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("random_porosity", [False, True])
def test_buckley_leverett_l1_error_falls_at_the_rate_of_a_monotone_scheme(policy, random_porosity):
    """With random porosity cells take different local steps; the exact solution is the same
    in the pore-volume coordinate."""
    sizes = [50, 100, 200, 400, 800]
    errors = []
    for n in sizes:
        porosity = np.random.default_rng(n).uniform(0.1, 1.0, (1, n)) if random_porosity else None
        run = column_flood(n, [0.0, 0.5], policy, porosity)
        weights = np.ones(n) if porosity is None else porosity[0]
        exact = buckley_leverett(pv_centres(weights), 0.5)
        errors.append(np.sum(weights * np.abs(run.saturation[-1, 0] - exact)) / weights.sum())
    rate = -np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert 0.7 < rate < 1.1, f"L1 errors {errors}, rate {rate:.2f}"
    assert errors[-1] < 0.005


# --- quarter five-spot (Aarnes, Gimse & Lie 2007, listing 9) ---------------------------------

LISTING9 = [0.99965, 0.91968, 0.77584, 0.90268, 0.81068, 0.67467, 0.66065]


def quarter_five_spot(policy: str, n: int = 64):
    """64² unit square, K = φ = 1, M = 1, s_wc = s_or = 0, 28 pressure steps to 0.7 PVI."""
    return waterflood(
        np.ones((n, n)), (1 / n, 1 / n), 1.0, Fluid(1.0), Wells(0, n * n - 1, 1.0),
        np.linspace(0.0, 0.7, 29), Numerics(time_stepping=policy, pressure_rtol=1e-12),
    )  # fmt: skip


def test_quarter_five_spot_reproduces_the_published_explicit_values():
    """S(1:600:end) of listing 9 with explicit Upstream, as recorded from the MATLAB code."""
    run = quarter_five_spot("global")
    np.testing.assert_allclose(run.saturation[-1].ravel()[::600], LISTING9, atol=6e-6)


def test_local_time_stepping_is_more_accurate_than_global_steps():
    """Against a 128² solution averaged onto 32², local steps (larger Courant numbers away from
    the wells, less numerical diffusion) beat one global step, with a fraction of the work."""
    fine = quarter_five_spot("local", 128).saturation
    reference = fine.reshape(29, 32, 4, 32, 4).mean(axis=(2, 4))
    runs = {policy: quarter_five_spot(policy, 32) for policy in POLICIES}
    error = {p: np.abs(r.saturation - reference).mean(axis=(1, 2)).max() for p, r in runs.items()}
    assert error["local"] < error["global"] < 0.05
    assert runs["local"].stats["cell_updates"] < runs["global"].stats["cell_updates"] / 5


# --- conservation, bounds, pressure ----------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_water_volume_equals_injected_minus_produced_at_every_frame(policy):
    n, porosity = 24, 0.2
    fluid = Fluid(5.0, s_wc=0.1, s_or=0.2)
    run = waterflood(
        medium(n), (1 / n, 1 / n), porosity, fluid, Wells(0, n * n - 1, 1.0),
        np.linspace(0.0, 1.2, 13) * porosity, Numerics(time_stepping=policy),
    )  # fmt: skip
    water = porosity / n**2 * (run.saturation - fluid.s_wc).sum(axis=(1, 2))
    assert run.produced[-1] > 0.1 * run.injected[-1]  # well past breakthrough
    np.testing.assert_allclose(water, run.injected - run.produced, rtol=0, atol=1e-14)


@pytest.mark.parametrize("policy", POLICIES)
def test_saturation_stays_within_residual_bounds(policy):
    n = 24
    fluid = Fluid(20.0, s_wc=0.15, s_or=0.25)
    run = waterflood(
        medium(n, seed=9), (1 / n, 1 / n), 0.3, fluid, Wells(0, n * n - 1, 1.0),
        np.linspace(0.0, 1.5, 16) * 0.3, Numerics(time_stepping=policy),
    )  # fmt: skip
    assert run.saturation.min() >= fluid.s_wc - 1e-12
    assert run.saturation.max() <= 1 - fluid.s_or + 1e-12
    assert run.saturation[-1].max() > 1 - fluid.s_or - 0.05  # the bound is actually approached


def test_pressure_solves_the_pinned_tpfa_system():
    n = 32
    config = build_config(fl.FlowConfig, {"n_cells": n, "n_frames": 8})
    run = fl.run_trajectory(config, fl.log_permeability(config, 11))
    q = np.zeros(n * n)
    q[0], q[-1] = config.injection_rate, -config.injection_rate
    permeability = np.exp(fl.log_permeability(config, 11))
    for k in (0, 4, 7):
        normalised = (run.saturation[k] - config.s_wc) / (1 - config.s_wc - config.s_or)
        mobility = permeability * total_mobility(normalised, config.viscosity_ratio)
        tx, ty = transmissibilities(mobility, 1 / n, 1 / n)
        p = run.pressure[k]
        residual = pressure_matrix(tx, ty, n * n - 1) @ p.ravel() - q
        assert np.linalg.norm(residual) <= config.pressure_rtol * np.linalg.norm(q)
        assert abs(p[-1, -1]) <= 1e-6 * p.max()  # gauge: p = 0 at the producer
        assert p[0, 0] == p.max()  # the injector is the maximum (discrete maximum principle)
        fx, fy = face_fluxes(p, tx, ty)
        divergence = (fx[:, 1:] - fx[:, :-1] + fy[1:, :] - fy[:-1, :]).ravel()
        np.testing.assert_allclose(divergence, q, atol=1e-6)
    assert run.stats["factorizations"] < run.stats["pressure_solves"]


def test_fast_global_solver_matches_the_plain_scipy_reference():
    """Same scheme, independent implementation (spsolve, sparse upwind matrix): round-off."""
    ny, nx = 12, 9
    permeability = np.exp(np.random.default_rng(2).normal(size=(ny, nx)))
    fluid, wells = Fluid(3.0, 0.1, 0.15), Wells(0, ny * nx - 1, 1.0)
    times = np.linspace(0.0, 0.9, 10) * 0.3
    fast = waterflood(
        permeability, (1 / nx, 1 / ny), 0.3, fluid, wells, times,
        Numerics(time_stepping="global", pressure_steps_per_frame=2, pressure_rtol=1e-14),
    )  # fmt: skip
    plain = reference_waterflood(
        permeability, (1 / nx, 1 / ny), 0.3, fluid, wells, times, pressure_steps_per_frame=2
    )
    np.testing.assert_allclose(fast.saturation, plain.saturation, rtol=0, atol=1e-11)
    np.testing.assert_allclose(
        fast.pressure, plain.pressure, rtol=0, atol=1e-11 * plain.pressure.max()
    )
    np.testing.assert_allclose(fast.produced, plain.produced, rtol=0, atol=1e-13)


def test_saturation_depends_on_pore_volumes_injected_only():
    """Constant porosity and rate only convert PVI to time and scale the pressure."""
    base = small()
    scaled = small(porosity=0.35, injection_rate=2.5)
    log_k = fl.log_permeability(base, 3)
    a, b = fl.run_trajectory(base, log_k), fl.run_trajectory(scaled, log_k)
    np.testing.assert_allclose(a.saturation, b.saturation, atol=1e-10)
    np.testing.assert_allclose(
        2.5 * a.pressure, b.pressure, rtol=1e-6, atol=1e-6 * b.pressure.max()
    )


# --- the system: layout, reproducibility, config, generation ----------------------------------


def test_layout_puts_the_injector_top_left_and_y_decreasing_down_the_rows():
    config = small()
    coords = fl.SYSTEM.coordinates(config)
    h = 1 / config.n_cells
    np.testing.assert_allclose(coords["x"].values, (np.arange(16) + 0.5) * h)
    np.testing.assert_allclose(coords["y"].values, 1 - (np.arange(16) + 0.5) * h)
    np.testing.assert_allclose(coords["time"].values, np.linspace(0, 0.7, 6))
    out = fl.simulate(config, trajectory_seeds(0, "train", 0, 2))
    assert {k: v.shape for k, v in out.items()} == fl.SYSTEM.shapes(config, 2)
    assert all(v.dtype == np.float32 for v in out.values())
    first = out["saturation"][:, 1]
    assert np.all(first[:, 0, 0] > 0.5) and np.all(first[:, -1, -1] == 0.0)


def test_coarsened_storage_is_the_block_mean_of_the_full_solution():
    """coarsen = 4 stores 4 × 4 block means of the same 16² solve: water volume is kept, and the
    coordinates are the coarse cell centres."""
    seeds = trajectory_seeds(2, "train", 0, 2)
    full = fl.simulate(small(), seeds)
    coarse_config = small(coarsen=4)
    coarse = fl.simulate(coarse_config, seeds)
    for name in ("saturation", "pressure", "log_permeability"):
        expected = full[name].astype(np.float64)
        expected = expected.reshape(*expected.shape[:-2], 4, 4, 4, 4).mean(axis=(-3, -1))
        np.testing.assert_allclose(coarse[name], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        coarse["saturation"].mean(axis=(-2, -1)), full["saturation"].mean(axis=(-2, -1)), rtol=1e-6
    )
    assert {k: v.shape for k, v in coarse.items()} == fl.SYSTEM.shapes(coarse_config, 2)
    np.testing.assert_allclose(
        fl.SYSTEM.coordinates(coarse_config)["x"].values, np.array([1, 3, 5, 7]) / 8
    )
    with pytest.raises(ConfigError, match="coarsen must be a divisor"):
        small(coarsen=3)


def test_output_is_bit_identical_for_threads_batches_and_regeneration():
    config = small()
    seeds = trajectory_seeds(4, "train", 0, 5)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fl.simulate(config, seeds)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = fl.simulate(config, seeds)
    finally:
        numba.set_num_threads(before)
    pieces = [fl.simulate(config, seeds[:2]), fl.simulate(config, seeds[2:][::-1])]
    for name in one:
        np.testing.assert_array_equal(one[name], two[name])
        joined = np.concatenate([pieces[0][name], pieces[1][name][::-1]])
        np.testing.assert_array_equal(one[name], joined)
    for i, seed in enumerate(seeds):
        np.testing.assert_array_equal(
            one["log_permeability"][i], fl.log_permeability(config, seed).astype(np.float32)
        )
    assert not np.array_equal(one["log_permeability"][0], one["log_permeability"][1])


def test_log_permeability_has_the_configured_mean_and_variance():
    config = small(n_cells=32, log_k_mean=1.5, sigma_1=0.8, sigma_2=0.3, nugget_2=0.05)
    fields = np.stack(
        [fl.log_permeability(config, s) for s in trajectory_seeds(1, "train", 0, 400)]
    )
    variance = 0.8**2 + 0.3**2 + 0.05
    assert fields.mean() == pytest.approx(1.5, abs=4 * np.sqrt(variance / 400))
    assert fields.var() == pytest.approx(variance, rel=0.1)


def test_generation_through_the_engine_gives_a_valid_file(tmp_path):
    config = small()
    path = tmp_path / "train.h5"
    generate(generation_job("flow", config, path, n=5, shard_size=2, seed=2))
    assert check_ensemble(path, deep=True) == []
    with h5py.File(path, "r") as handle:
        seeds = handle["seed"][...]
        stored = handle["saturation"][3]
    np.testing.assert_array_equal(stored, fl.simulate(config, seeds[3:4])["saturation"][0])


def test_shard_count_does_not_change_the_file_contents(tmp_path):
    config = small()
    arrays = []
    for shard_size in (1, 3, 7):
        path = tmp_path / f"s{shard_size}.h5"
        generate(generation_job("flow", config, path, n=7, shard_size=shard_size, seed=4))
        with h5py.File(path, "r") as handle:
            arrays.append({k: handle[k][...] for k in ("seed", "saturation", "pressure")})
    for other in arrays[1:]:
        for name, values in arrays[0].items():
            np.testing.assert_array_equal(other[name], values)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"porosity": 0.0}, "porosity must be in"),
        ({"s_wc": 0.6, "s_or": 0.5}, "s_wc \\+ s_or < 1"),
        ({"viscosity_ratio": -1.0}, "viscosity_ratio must be > 0"),
        ({"n_frames": 1}, "n_frames must be ≥ 2"),
        ({"length_2": 0.0}, "length_2 must be > 0"),
        ({"nugget_1": -0.1}, "nugget_1 must be ≥ 0"),
        ({"time_stepping": "adaptive"}, "time_stepping must be one of local, global"),
        ({"cfl_safety": 0.5}, "cfl_safety must be ≥ 1"),
        ({"length_1": 5.0}, "shorten the correlation length"),
        ({"n_cell": 32}, "unknown parameter 'n_cell'"),
        ({"viscosity_ratio": "thick"}, "expects float"),
    ],
)
def test_invalid_configurations_are_refused_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config(fl.FlowConfig, overrides)


def test_the_wells_are_where_the_system_declares_them(monkeypatch):
    """Moving the producer (a landmark of the system) moves it in the solver and in the QoI."""
    from slsim.pipelines.qoi import metrics_for

    assert get_system("flow").landmarks is fl.WELLS
    monkeypatch.setitem(fl.WELLS, "producer", (0.0, 1.0))  # top-right instead of bottom-right
    config = small(t_end=1.5)
    out = fl.simulate(config, trajectory_seeds(0, "train", 0, 2))
    pressure, saturation = out["pressure"], out["saturation"]
    # p is relative to the producer: zero there (to solver round-off), not at the old corner
    assert np.abs(pressure[:, 1:, 0, -1]).max() < 1e-9 * np.abs(pressure).max()
    assert np.abs(pressure[:, 1:, -1, -1]).min() > 1e-3 * np.abs(pressure).max()
    assert saturation[:, -1, 0, -1].min() > 0.1  # water has reached it
    assert saturation[:, -1, -1, -1].max() < saturation[:, -1, 0, -1].min()
    (wct,) = metrics_for("flow", "crossing-time")
    assert np.all(wct.values({"saturation": saturation}, 2, corner_cells=1) < 1.0)

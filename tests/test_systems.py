"""The system contract, checked for every registered system (a new system is covered by
registering it): shapes as declared, finite states, reproducible per-trajectory seeding."""

from __future__ import annotations

import numpy as np
import pytest

from slsim.simulators import SYSTEMS, build_config, trajectory_seeds


@pytest.fixture(scope="module", params=sorted(SYSTEMS))
def simulated(request):
    spec = SYSTEMS[request.param]
    config = build_config(spec.config_type, dict(spec.tiny_config))
    seeds = trajectory_seeds(0, "train", 0, 3)
    return spec, config, seeds, spec.simulate(config, seeds)


def test_every_declared_variable_is_simulated_with_its_declared_shape(simulated):
    spec, config, seeds, out = simulated
    assert set(out) == {v.name for v in spec.variables}
    for name, shape in spec.shapes(config, len(seeds)).items():
        assert out[name].shape == shape, name
        assert out[name].dtype == np.dtype(spec.variable(name).dtype), name
    for name in spec.state_variables:
        assert np.isfinite(out[name]).all(), name
    assert spec.state_kind in ("vector", "field")
    assert (spec.state_kind == "field") == ("x" in spec.variable(spec.state_variables[0]).dims)


def test_a_trajectory_depends_on_its_own_seed_only(simulated):
    spec, config, seeds, out = simulated
    alone = spec.simulate(config, seeds[1:2])  # the same trajectory, simulated by itself
    for name in out:
        np.testing.assert_array_equal(alone[name][0], out[name][1], err_msg=name)
    state = out[spec.state_variables[0]]
    assert not np.array_equal(state[0], state[2])  # another seed, another trajectory

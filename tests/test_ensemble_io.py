"""HDF5 ensemble schema: round trip, xarray/dask access, validation, atomic writes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr

from slsim.pipelines.ensemble import (
    SIMULATOR,
    EnsembleHeader,
    atomic_output,
    check_ensemble,
    open_ensemble,
    verdict,
    write_ensemble,
)
from slsim.pipelines.errors import UserError
from slsim.simulators import get_system
from slsim.simulators.seeding import trajectory_seeds


@pytest.fixture
def duffing_file(tmp_path, tiny_duffing):
    spec = get_system("duffing")
    seeds = trajectory_seeds(0, "train", 0, 12)
    arrays = {**spec.simulate(tiny_duffing, seeds), "seed": seeds}
    header = EnsembleHeader("duffing", tiny_duffing, SIMULATOR, "train", 0, 12)
    return write_ensemble(tmp_path / "train.h5", spec, header, arrays), arrays


def test_round_trip_keeps_data_config_and_provenance(duffing_file, tiny_duffing):
    path, arrays = duffing_file
    with open_ensemble(path) as ensemble:
        np.testing.assert_array_equal(ensemble["state"][...], arrays["state"])
        np.testing.assert_array_equal(ensemble["seed"][...], arrays["seed"])
        assert ensemble.config == tiny_duffing
        assert ensemble.source == SIMULATOR
        assert ensemble.attrs["split"] == "train"
        assert ensemble.attrs["master_seed"] == 0
        assert ensemble.attrs["slsim_version"]
        np.testing.assert_allclose(
            ensemble.time, np.linspace(0, tiny_duffing.t_end, tiny_duffing.n_frames)
        )


def test_xarray_sees_named_dimensions_coordinates_and_lazy_chunks(duffing_file):
    path, arrays = duffing_file
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds["state"].dims == ("trajectory", "time", "component")
        assert list(ds["component"].values) == ["x", "v"]
        assert ds["time"].attrs["long_name"] == "time"
        np.testing.assert_array_equal(ds["state"].values, arrays["state"])
    with xr.open_dataset(path, engine="h5netcdf", chunks={}) as lazy:
        assert lazy["state"].chunks is not None
        assert float(lazy["state"].sel(component="x").mean().compute()) == pytest.approx(
            arrays["state"][..., 0].mean(), rel=1e-6
        )


def test_valid_file_gets_an_ok_verdict(duffing_file):
    ok, line = verdict(duffing_file[0], deep=True)
    assert ok and line.startswith(
        "OK: duffing ensemble from simulator, 12 trajectories × 21 frames"
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f.__delitem__("state"), "missing dataset 'state'"),
        (lambda f: f.attrs.__delitem__("config"), "missing root attribute(s) config"),
        (lambda f: f.attrs.__setitem__("config", "{not json"), "bad configuration"),
        (lambda f: f.attrs.__setitem__("system", "lorenz"), "unknown system 'lorenz'"),
        (
            lambda f: f.attrs.__setitem__("n_trajectories", 13),
            "has shape (12, 21, 2), expected (13, 21, 2)",
        ),
        (lambda f: f.attrs.__setitem__("source", "guesswork"), "unknown source"),
    ],
)
def test_schema_check_names_what_is_wrong(duffing_file, damage, message):
    path = duffing_file[0]
    with h5py.File(path, "r+") as handle:
        damage(handle)
    problems = check_ensemble(path)
    assert any(message in p for p in problems), problems
    with pytest.raises(UserError, match=r"train\.h5"):
        open_ensemble(path)


def test_deep_check_finds_non_finite_values(duffing_file):
    path = duffing_file[0]
    with h5py.File(path, "r+") as handle:
        handle["state"][3, 4, 0] = np.nan
    assert check_ensemble(path) == []
    assert any("non-finite" in p for p in check_ensemble(path, deep=True))


def test_non_hdf5_and_missing_files_are_reported(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    assert check_ensemble(junk) == ["not a readable HDF5 file"]
    assert check_ensemble(tmp_path / "nope.h5") == ["file does not exist"]
    with pytest.raises(UserError, match=r"nope\.h5 does not exist; make it first"):
        open_ensemble(tmp_path / "nope.h5", hint="make it first")


def test_atomic_output_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.h5"
    target.write_text("previous")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "previous"
    assert list(tmp_path.iterdir()) == [target]


def test_unwritable_destination_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with (
        pytest.raises(UserError, match="cannot create directory"),
        atomic_output(blocker / "sub" / "x.h5"),
    ):
        pass

"""``slsim demo``: the whole pipeline on a small configuration, through the CLI's own commands.

Each stage is skipped when its output already exists (an unfinished training run resumes), so
an interrupted demo continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slsim.surrogate.checkpoint import load_checkpoint

from . import layout
from .errors import UserError
from .sampling import unreadable_checkpoint


def _field_demo(generation: str) -> dict:
    """The CPU recipe at a demo's budget: 32² frames (``generation``), 2 000 training steps
    for SL and MSE (docs/field-surrogates.md)."""
    recipe = ["iterations=2000"]
    return {
        "n": 512,
        "n_test": 512,
        "set": [generation],
        "runs": {"sl": ("sl", "cpu", recipe), "mse": ("mse", "cpu", recipe)},
    }


#: Per system: ensemble sizes and the runs to compare (name -> method, preset, overrides).
DEMOS: dict[str, dict] = {
    "duffing": {
        "n": 2000,
        "n_test": 1000,
        "runs": {
            "sl": ("sl", "fast", []),
            "mse": ("mse", "fast", []),
        },
    },
    "wave": _field_demo("subsample=8"),
    "flow": _field_demo("coarsen=3"),
}


def _trained(run_dir: Path) -> bool:
    checkpoint = run_dir / "checkpoint.pt"
    if not checkpoint.exists():
        return False
    try:
        return bool(load_checkpoint(checkpoint)["finished"])
    except Exception as err:
        advice = f"delete {run_dir} and run the demo again"
        raise UserError(unreadable_checkpoint(checkpoint, err, advice)) from None


def run(
    system: str,
    data_dir: Path,
    device: str,
    quiet: bool,
    threads: int | None = None,
    *,
    generate: Callable,
    train: Callable,
    sample: Callable,
    compare: Callable,
) -> None:
    """Run the demo for ``system`` under ``data_dir`` with the CLI command functions given."""
    if system not in DEMOS:
        raise UserError(f"no demo for '{system}' (available: {', '.join(DEMOS)})")
    settings = DEMOS[system]
    if not layout.split_path(system, "test", data_dir).exists():
        generate(
            system,
            n=settings["n"],
            n_test=settings["n_test"],
            seed=0,
            set_=settings.get("set"),
            data_dir=data_dir,
            shard_size=None,
            workers=1,
            scheduler=None,
            overwrite=True,
            show_config=False,
            quiet=quiet,
            threads=threads,
        )
    for name, (method, preset, overrides) in settings["runs"].items():
        run_dir = layout.run_dir(system, name, data_dir)
        if not _trained(run_dir):
            train(
                system,
                method=method,
                preset=preset,
                set_=overrides,
                name=name,
                data_dir=data_dir,
                device=device,
                overwrite=False,
                show_config=False,
                quiet=quiet,
                threads=threads,
            )
        if not (run_dir / "samples.h5").exists():
            sample(
                system,
                run=name,
                n=None,
                seed=0,
                context_frames=1,
                batch_size=1024,
                data_dir=data_dir,
                device=device,
                overwrite=False,
                quiet=quiet,
                threads=threads,
            )
    compare(
        files=None,
        system=system,
        qoi="all",
        out=None,
        data_dir=data_dir,
        plots=True,
        bootstrap=50,
        threads=threads,
    )

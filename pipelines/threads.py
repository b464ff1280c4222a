"""CPU thread counts for torch, Numba and BLAS, chosen on purpose rather than by each library.

Left alone, torch, Numba and the BLAS each start one thread per core. On a machine that other
jobs share, those threads wait for each other at every parallel region: a small Duffing MLP
step took 140 ms with two threads against 13 ms with one while another process was running.
So slsim uses, unless ``--threads`` says otherwise: ``$OMP_NUM_THREADS`` when it is set; one
thread for the small networks of vector states (a step is too short to share); and the CPUs
this process may run on for everything else. Generated data is bit-identical for any thread
count; trained weights may differ in the last bits between thread counts (torch reductions).
"""

from __future__ import annotations

import os
import sys

from slsim.simulators.system import SystemSpec

from .errors import UserError


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or a cgroup)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def choose_threads(requested: int | None, small_model: bool = False) -> int:
    """``requested``, else ``$OMP_NUM_THREADS``, else 1 for small models, else all CPUs."""
    if requested is not None:
        if requested < 1:
            raise UserError(f"--threads must be a positive integer, got {requested}")
        return requested
    from_env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if from_env.isdigit() and int(from_env) > 0:
        return int(from_env)
    return 1 if small_model else available_cpus()


def configure_threads(
    requested: int | None, *, small_model: bool = False, use_torch: bool = False
) -> int:
    """Size the thread pools of this process (Numba; torch, with its BLAS, when ``use_torch``
    or already imported) and return the count chosen. NumPy's BLAS keeps the size that
    ``$OMP_NUM_THREADS``/``$OPENBLAS_NUM_THREADS`` gave it at start-up (slsim uses it only for
    small products)."""
    threads = choose_threads(requested, small_model)
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    if use_torch or "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    return threads


def configure_model_threads(requested: int | None, spec: SystemSpec) -> int:
    """:func:`configure_threads` for training or sampling a surrogate of ``spec``'s system: one
    thread by default for the small networks of vector states, whose steps are too short to
    share."""
    return configure_threads(requested, small_model=spec.state_kind == "vector", use_torch=True)

"""``python -m slsim.pipelines`` (e.g. under ``torchrun -m slsim.pipelines train wave``)."""

from .cli import main

main()

"""``python -m museforge`` runs the CLI (and lets ``torchrun -m museforge ...`` start training)."""

from museforge.cli import main

main()

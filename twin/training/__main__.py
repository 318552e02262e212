"""``python -m twin.training NAME|all [--out DIR]``: rebuild zoo models."""

from twin.training.cli import main

main()

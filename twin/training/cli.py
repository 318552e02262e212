"""Command line of the zoo builders: ``python -m twin.training NAME ... | all [--out DIR]``.

Each builder module has ``build(out_dir, small=False) -> metadata``: it generates its world's
data (seeded), trains, exports to ONNX, quantises to int8 and evaluates both files with
onnxruntime on a held-out world, then writes ``NAME_{fp32,int8}.onnx`` and ``NAME.json``.
Rebuilding with the same library versions on the same machine gives the same bytes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path

from twin.training.common import DEFAULT_OUT

# Every shipped workload: zoo name -> builder module. Torch-based builders need the ``train``
# extra plus ``pip install torch==2.13.0`` (CPU build); the first two need only the extra.
WORKLOADS = {
    "soil_irrigation": "twin.training.soil",
    "room_occupancy": "twin.training.occupancy",
    "heart_rhythm": "twin.training.heart",
    "keyword_spotting": "twin.training.keyword",
    "person_detection": "twin.training.person",
    "machine_anomaly": "twin.training.vibration",
}


def main(argv: list[str] | None = None) -> None:
    """Build the named zoo models and print their held-out metrics.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (defaults to ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m twin.training", description="Rebuild models of the shipped zoo."
    )
    parser.add_argument(
        "names", nargs="+", metavar="NAME",
        help=f"zoo models to build, or 'all' (choices: {', '.join(WORKLOADS)})",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--small", action="store_true", help="tiny data and few epochs (tests of the recipe)"
    )
    args = parser.parse_args(argv)
    names = list(WORKLOADS) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(WORKLOADS)} or 'all'")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in names:
        meta = importlib.import_module(WORKLOADS[name]).build(args.out, small=args.small)
        print(name)
        for key, variant in meta["variants"].items():
            m = variant["heldout"]
            print(
                f"  {key}: {variant['file']} {variant['bytes']} B  acc {m['accuracy']:.4f}  "
                f"prec {m['precision']:.4f}  rec {m['recall']:.4f}  f1 {m['f1']:.4f}  "
                f"rows {m['rows']}"
            )

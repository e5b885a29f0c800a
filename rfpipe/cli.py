"""The command line: ``rfpipe validate CONFIG`` and ``rfpipe cells CONFIG``.

The pipeline itself runs through Snakemake (``snakemake --cores 2``); this is for checking a config
and listing its cells without Snakemake.
"""

from __future__ import annotations

import argparse
import sys

from rfpipe.config import ConfigError, load_config
from rfpipe.sweep import Sweep

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="rfpipe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("validate", "check a config file; print its cell count"),
                       ("cells", "list every cell path of a config")):
        p = sub.add_parser(name, help=text)
        p.add_argument("config", help="YAML config file")
    args = parser.parse_args(argv)
    try:
        sweep = Sweep(load_config(args.config))
    except ConfigError as err:
        print(f"rfpipe config error: {err}", file=sys.stderr)
        return 2
    if args.command == "validate":
        for name, exp in sweep.experiments.items():
            print(f"{name} ({exp.kind}): {len(exp.cells)} cells over {', '.join(exp.axes)}")
        print(f"{args.config}: valid")
    else:
        for cell in sweep:
            print(f"{sweep.results_dir}/{cell.experiment}/cells/{cell.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

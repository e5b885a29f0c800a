"""The command line: ``rfpipe validate CONFIG``, ``rfpipe cells CONFIG`` and ``rfpipe diagnose``.

The pipeline itself runs through Snakemake (``snakemake --cores 2``); ``validate`` and ``cells`` check a
config and list its cells without Snakemake. ``diagnose`` checks a flow model trained elsewhere:

    rfpipe diagnose --model PKG.MODULE:FACTORY --weights W.pt --pairs PAIRS.pt [--sigma 0.05] [--out DIR]

prints a one-line verdict (see :mod:`rfpipe.diagnose` for the rule) and a few numbers, and writes
``DIR/summary.json`` and ``DIR/diagnose.png``. Bad input gives one error line on stderr and exit status 2,
before any integration.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from rfpipe.config import ConfigError, load_config
from rfpipe.layout import Layout
from rfpipe.sweep import Sweep

__all__ = ["main"]


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are a single stderr line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind: Callable[[str], float], low: float, high: float | None = None, low_open: bool = False
            ) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a valid {kind.__name__}: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < low or (low_open and value == low) or (high is not None and value > high):
            bound = f"in ({low:g}, {high:g}]" if high is not None else f"{'>' if low_open else '>='} {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


_DIAGNOSE_HELP = "does a flow model reproduce its training pairs? (pair recovery, L2, gradient variance)"


def _diagnose_parser() -> _OneLineParser:
    from rfpipe.solvers import SOLVERS

    p = _OneLineParser(
        prog="rfpipe diagnose",
        description="Integrate a flow model from its training sources and from fresh ones; report pair recovery, "
                    "the L2 to the training partner against the nearest other training target, and the gradient-"
                    "variance trace per t-bin at sigma = 0 and at --sigma. Verdicts: the model reproduces its "
                    "training pairs iff pair recovery >= --threshold; its fresh sources collapse onto training "
                    "targets iff their median distance to the nearest one is below --collapse-threshold times "
                    "the targets' median nearest-neighbour spacing.")
    p.add_argument("--model", required=True, metavar="PKG.MODULE:FACTORY",
                   help="a callable taking no arguments that returns the torch.nn.Module v(x, t), "
                        "x of shape (B, *D) and t of shape (B,)")
    p.add_argument("--weights", required=True, metavar="W.pt",
                   help="state_dict file, or rfpipe's model.pt {'state_dict', 'settings'} (loaded weights_only)")
    p.add_argument("--pairs", required=True, metavar="PAIRS.pt",
                   help="training pairs: keys x0 and x1 (or x_0 and x_1, or rfpipe's data.pt train.x_0, train.x_1)")
    p.add_argument("--sigma", type=_number(float, 0.0), default=0.05, help="noise scale of the second probe (0.05)")
    p.add_argument("--noise", choices=("constant", "brownian"), default="constant", help="noise shape (constant)")
    p.add_argument("--out", default="diagnose", metavar="DIR", help="output folder (./diagnose)")
    p.add_argument("--solver", choices=SOLVERS, default="euler", help="ODE solver (euler)")
    p.add_argument("--steps", type=_number(int, 1), default=101,
                   help="solver steps (101; odd keeps euler and heun off t = 1/2)")
    p.add_argument("--n-fresh", type=_number(int, 1), default=None, metavar="M",
                   help="fresh sources, Gaussian with the training sources' per-coordinate mean and std (N)")
    p.add_argument("--probe-size", type=_number(int, 2), default=512, help="gradient-variance probe pairs (512)")
    p.add_argument("--probe-memory-mb", type=_number(float, 0.0, low_open=True), default=256.0,
                   help="memory for per-sample gradients when the vmap fallback is used; caps the probe (256)")
    p.add_argument("--t-bins", type=_number(int, 1), default=10, help="t-bins of the gradient variance (10)")
    p.add_argument("--threshold", type=_number(float, 0.0, 1.0, low_open=True), default=0.5,
                   help="pair recovery at or above which the model reproduces its pairs (0.5)")
    p.add_argument("--collapse-threshold", type=_number(float, 0.0, low_open=True), default=0.5,
                   help="target_collapse below which the fresh sources collapse onto training targets (0.5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh sources and the probe (0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _diagnose(args: argparse.Namespace) -> int:
    from rfpipe.diagnose import DiagnoseError, check_model, diagnose, load_model, load_pairs, write_outputs

    def fail(message: str) -> int:
        print(f"rfpipe diagnose: error: {message}", file=sys.stderr)
        return 2

    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as with python -m: --model may name a module in the working folder
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return fail(f"--out {out}: exists and is not a folder")
    try:
        if not Path(args.pairs).is_file():
            raise DiagnoseError(f"--pairs {args.pairs}: no such file")
        if not Path(args.weights).is_file():
            raise DiagnoseError(f"--weights {args.weights}: no such file")
        try:
            x_0, x_1 = load_pairs(args.pairs)
        except DiagnoseError as err:
            raise DiagnoseError(f"--pairs {err}") from None
        model = load_model(args.model, args.weights)
        try:
            check_model(model, x_0)
        except DiagnoseError as err:
            raise DiagnoseError(f"--model {args.model}: {err}") from None
    except DiagnoseError as err:
        return fail(str(err))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail(f"--out {out}: cannot create the folder ({exc.strerror or exc})")
    if not os.access(out, os.W_OK):
        return fail(f"--out {out}: the folder is not writable")
    try:
        result = diagnose(model, x_0, x_1, args.sigma, solver=args.solver, steps=args.steps, n_fresh=args.n_fresh,
                          probe_size=args.probe_size, t_bins=args.t_bins, noise=args.noise, threshold=args.threshold,
                          collapse_threshold=args.collapse_threshold, seed=args.seed,
                          probe_memory_mb=args.probe_memory_mb, progress=not args.no_progress)
    except DiagnoseError as err:
        return fail(str(err))
    inputs = {"inputs": {"model": args.model, "weights": str(args.weights), "pairs": str(args.pairs)}}
    json_path, png_path = write_outputs(result, out, inputs)
    print(result.verdict)
    print(result.collapse_verdict)
    median = lambda x: float(x.double().median())  # noqa: E731
    print(f"  L2 to training partner: median {median(result.l2_partner):.4g}; to nearest other training target: "
          f"median {median(result.l2_nearest_other):.4g}; fresh endpoints to nearest training target: "
          f"median {median(result.fresh_l2_nearest):.4g}")
    traces = [f"{p.overall.grad_var_trace:.4g} at sigma = {p.sigma:g}" for p in result.gradvar if p.overall is not None]
    if traces:
        print(f"  gradient-variance trace: {', '.join(traces)}")
    for note in result.notes:
        print(f"  note: {note}")
    print(f"  wrote {json_path} and {png_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["diagnose"]:  # its own parser, whose usage errors are one line
        return _diagnose(_diagnose_parser().parse_args(argv[1:]))
    parser = argparse.ArgumentParser(prog="rfpipe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("validate", "check a config file; print its cell count"),
                       ("cells", "list every cell path of a config")):
        p = sub.add_parser(name, help=text)
        p.add_argument("config", help="YAML config file")
    sub.add_parser("diagnose", help=_DIAGNOSE_HELP + "; see rfpipe diagnose --help", add_help=False)
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
        layout = Layout(sweep.results_dir)
        for cell in sweep:
            print(layout.experiment(cell.experiment).cells / cell.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

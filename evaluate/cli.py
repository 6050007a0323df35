"""``dualeval``: run, validate, demo, models.

Exit codes: 0 success, 2 bad input or config (the message says what and
where), 1 internal error (a bug: the traceback is printed).
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"

log = logging.getLogger("dualeval")


def _bad_input_errors() -> tuple[type[Exception], ...]:
    from evaluate.config import ConfigError
    from evaluate.grid import GridError
    from evaluate.io import OutputError
    from evaluate.layers import InputError
    from evaluate.runner import RunError
    from evaluate.units import UnitsError

    return ConfigError, GridError, OutputError, InputError, RunError, UnitsError


def _setup_logging(verbosity: int) -> None:
    """Our own log lines at INFO (DEBUG with -v); other libraries' only from WARNING (all with -vv)."""
    logging.basicConfig(level=logging.DEBUG if verbosity > 1 else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stderr, force=True)
    log.setLevel(logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG)


class _Progress:
    """A rich progress bar on a terminal, a log line every 10 % otherwise."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.bars: dict[str, object] = {}
        self.last: dict[str, int] = {}
        self.rich = None

    def __enter__(self):
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.rich = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
            self.rich.__enter__()
        return self

    def __exit__(self, *exc):
        if self.rich is not None:
            self.rich.__exit__(*exc)

    def __call__(self, step: str, done: int, total: int) -> None:
        if self.rich is not None:
            if step not in self.bars:
                self.bars[step] = self.rich.add_task(step, total=total)
            self.rich.update(self.bars[step], completed=done)
            return
        decile = (10 * done) // max(total, 1)
        if decile > self.last.get(step, -1):
            self.last[step] = decile
            log.info("%s: %d/%d blocks (%d%%)", step, done, total, 100 * done // max(total, 1))


def apply_overrides(config, args: argparse.Namespace):
    """The config with the command line's --scheduler/--chunk-size/--workers/--output applied and re-validated."""
    from pydantic import ValidationError

    from evaluate.config import ConfigError

    options = {"scheduler": args.scheduler, "chunk_size": args.chunk_size, "workers": args.workers}
    options = {k: v for k, v in options.items() if v is not None}
    updates = {}
    if options:
        try:
            updates["compute"] = type(config.compute).model_validate({**config.compute.model_dump(), **options})
        except ValidationError as exc:
            raise ConfigError(
                [f"--{'-'.join(str(e['loc'][0]).split('_'))}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
            ) from None
    if args.output is not None:
        updates["outputs"] = config.outputs.model_copy(update={"folder": Path(args.output).resolve()})
    return config.model_copy(update=updates)


def cmd_run(args: argparse.Namespace) -> int:
    from evaluate.config import load_config
    from evaluate.runner import run

    config = apply_overrides(load_config(args.config), args)
    args.log_folder = config.outputs.folder  # where an internal error's traceback goes
    start = time.perf_counter()
    with _Progress() as progress:
        result = run(config, progress=progress, force=args.force)
    peak = max(s["peak_rss_mib"] for s in result.steps)
    print(f"wrote {len(result.outputs)} rasters and {result.manifest.name} to {result.folder} in {time.perf_counter() - start:.1f} s (peak RSS {peak:.0f} MiB)")
    for name, path in result.outputs.items():
        print(f"  {name}: {path}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from evaluate.config import ConfigError, load_config
    from evaluate.runner import check_inputs, resolve_grid

    config = grid = None
    try:
        config = load_config(args.config)
        grid = resolve_grid(config)
        problems = check_inputs(config, grid)
    except _bad_input_errors() as exc:
        problems = exc.lines if isinstance(exc, ConfigError) else str(exc).splitlines()
    if args.json:
        print(json.dumps({"valid": not problems, "problems": problems, "grid": grid.to_dict() if grid else None}, ensure_ascii=False, indent=2))
    elif problems:
        for line in problems:
            print(line, file=sys.stderr)
    else:
        print(f"{args.config}: valid — grid {grid.shape[0]}×{grid.shape[1]} cells in {grid.crs.to_string()}, {len(config.inputs)} inputs, models: {', '.join(config.models)}")
    return EXIT_BAD_INPUT if problems else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from evaluate.demo import demo_grid, write_demo_inputs

    folder = Path(args.folder)
    grid = demo_grid(size=args.size, resolution=args.resolution, crs=args.crs)
    start = time.perf_counter()
    written = write_demo_inputs(folder, grid, seed=args.seed)
    print(f"wrote {len(written)} demo inputs ({grid.shape[0]}×{grid.shape[1]} cells, {args.resolution:g} m, {args.crs}) to {folder} in {time.perf_counter() - start:.1f} s")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from models import MODELS

    described = {name: {**m.SPEC.describe(), "derived": m.derived} for name, m in MODELS.items()}
    if args.json:
        print(json.dumps(described, ensure_ascii=False, indent=2, default=str))
        return EXIT_OK
    # evaluation models first, then the shared derived layers they pull in
    for name, d in sorted(described.items(), key=lambda item: item[1]["derived"]):
        kind = " (shared derived layer: written only when outputs.write names it)" if d["derived"] else ""
        print(f"{name} — {d['title']['zh']} / {d['title']['en']}{kind}\n  source: {d['source']}")
        print("  inputs:")
        for k, v in d["inputs"].items():
            required = {True: "", False: ", optional"}.get(v["required"], f", required in {v['required']}")
            origin = f" ← {v['producer']} unless given as an input" if v["producer"] else ""
            print(f"    {k} [{v['kind']}, {v['units']}{required}]{origin}: {v['description']}")
        print("  parameters:")
        for k, v in d["parameters"].items():
            print(f"    {k} = {v['default']!r}: {v['description']} ({v['source']})")
        print("  outputs:")
        for k, v in d["outputs"].items():
            classes = ", ".join(f"{c['code']} {c['zh']}/{c['en']}" for c in v["classes"])
            print(f"    {k} [{v['dtype']}{', ' + v['units'] if v['units'] else ''}]: {v['description']}{'; classes ' + classes if classes else ''}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualeval",
        description="双评价 engine: resource-environment carrying capacity and territorial-space suitability evaluations on large raster grids.",
        epilog="Exit codes: 0 success, 2 bad input or config, 1 internal error.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the models of a config and write the outputs", description="Run a config: align inputs, run the models, write rasters and manifest.json atomically.")
    p.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG), help=f"run config (YAML); default: the embedded demo {DEFAULT_CONFIG.name}")
    p.add_argument("--scheduler", help="override compute.scheduler: threads, processes, synchronous or tcp://host:port")
    p.add_argument("--chunk-size", type=int, help="override compute.chunk_size (cells per chunk side)")
    p.add_argument("--workers", type=int, help="override compute.workers")
    p.add_argument("-o", "--output", help="override outputs.folder")
    p.add_argument("--force", action="store_true", help="recompute every output, even those whose file in the folder is up to date")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a config and its inputs without computing", description="Check the config, that every input exists and opens, has a known CRS, overlaps the grid and has plausible values for its declared units; computes no model.")
    p.add_argument("config", help="run config (YAML)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("demo", help="write the synthetic demo inputs", description="Write the deterministic synthetic demo region (rasters and vectors) to a folder.")
    p.add_argument("folder", nargs="?", default="demo-data", help="destination folder (default: ./demo-data)")
    p.add_argument("--size", type=int, default=1500, help="cells per side (default 1500)")
    p.add_argument("--resolution", type=float, default=30.0, help="cell size in metres (default 30)")
    p.add_argument("--crs", default="EPSG:4547", help="projected CRS (default EPSG:4547, CGCS2000 3° GK CM 114°E)")
    p.add_argument("--seed", type=int, default=2026, help="generator seed (default 2026)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("models", help="list models: inputs, parameters, outputs", description="List every model with its inputs, parameters (defaults and sources) and outputs (class codes).")
    p.add_argument("--json", action="store_true", help="machine-readable spec")
    p.set_defaults(func=cmd_models)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, unwound like Ctrl-C: writers closed, finished blocks kept for a resumed run, the folder's lock released."""


def _raise_terminated(signum, frame) -> None:
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(-1 if args.quiet else args.verbose)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
        if hasattr(signal, "SIGXFSZ"):  # over a file-size limit, let the write fail (and be cleaned up) instead of killing us
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        return args.func(args)
    except _bad_input_errors() as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        print("interrupted; nothing was committed (finished blocks are kept hidden: running the same config again resumes them)", file=sys.stderr)
        return 128 + signal.SIGTERM if isinstance(exc, _Terminated) else 130
    except Exception as exc:  # a bug of ours, not a user mistake: one line here, the traceback in a file
        log_path = _write_traceback(getattr(args, "log_folder", None))
        message = " ".join(str(exc).split())
        message = message if len(message) <= 300 else message[:300] + "…"
        print(f"internal error: {type(exc).__name__}: {message} (traceback in {log_path}; please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _write_traceback(folder: Path | None) -> Path:
    """The current exception's traceback in ``folder/dualeval-error-<time>.log`` (or the temp folder), returned."""
    import tempfile
    import traceback

    name = f"dualeval-error-{time.strftime('%Y%m%dT%H%M%S')}.log"
    for where in (folder, Path(tempfile.gettempdir())):
        if where is None:
            continue
        try:
            Path(where).mkdir(parents=True, exist_ok=True)
            path = Path(where) / name
            path.write_text(f"dualeval {' '.join(sys.argv[1:])}\n{traceback.format_exc()}", encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(not written)")


if __name__ == "__main__":
    sys.exit(main())

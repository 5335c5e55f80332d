"""The ``plasticore`` command line.

Subcommands:

``plasticore train``
    Train on a dataset (or an events file, ``--events``) with one of the learning rules and report
    the accuracies; ``--json`` writes a results file, ``--plots DIR`` writes PNG figures.
    Targets: ``golden`` (the in-process golden model: the fast vectorised trainer, several seeds
    side by side), ``sim`` (the Verilated RTL on a pseudo-terminal), ``emulator`` (the Python
    board of ``host/emulator.py`` on a pseudo-terminal) and ``serial:PORT[@BAUD]`` (a board).
    Board targets train one sample at a time, learning on the chip (``host/training.py``), and
    give the same JSON and plots; so does ``golden`` with ``--checkpoint``, ``--resume`` or
    ``--events``. ``--checkpoint PATH`` writes a checkpoint every ``--checkpoint-every`` samples
    and every epoch; ``--resume PATH`` continues a run from one.
``plasticore config``
    Print the resolved configuration as JSON together with its ``hash`` and ``core_hash``.

Configuration resolution (both subcommands; ``golden/resolve.py``, the one resolution that the
board builds, the benchmarks and the experiments use too), each layer overriding the previous one:

1. :class:`~plasticore.golden.config.Config` defaults, with ``layers`` and the dataset's overrides
   from its preset (``golden/presets.py``: ``(inputs, --hidden, classes)``, hidden 128 by default,
   the output learning rate halved for that width, and for MNIST-like data ``init_hidden`` 1.5
   and the hidden learning rate 2^-17);
2. ``--config FILE``: a JSON object of Config fields, possibly partial (format fields may be
   partial too: ``{"weight": {"bits": 18}}``). A results file written by ``train --json`` (or the
   output of ``plasticore config``) is accepted as well: its ``"config"`` member is used;
3. ``--set key=value`` (repeatable): the value is parsed as JSON, falling back to a plain string;
   ``key`` may name a format member, e.g. ``--set weight.bits=18``;
4. ``--rule``.

Integers given for real-valued fields (``tau``, ``threshold``, ...) are stored as floats, so that
``--set tau=20`` and ``--set tau=20.0`` name the same configuration (same hash).

Exit codes: 0 success, 2 usage or configuration error, unavailable dataset or target, a board
built for another configuration, an unusable checkpoint; 3 the link to the board failed
(disconnected, no reply, error reply); 130 interrupted (Ctrl-C; the run writes a checkpoint first
when it has a ``--checkpoint`` path).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from plasticore.golden.config import RULES, Config, ConfigError
from plasticore.golden.presets import (DATASET_SHAPES, DEFAULT_HIDDEN, dataset_epochs, dataset_fields,
                                      rule_fields, yield_schedule)
from plasticore.golden.resolve import parse_setting, read_config_file, resolve_config

__all__ = ["main", "build_parser", "resolve_config", "NotAvailable"]

PROG = "plasticore"

#: inputs and classes of each dataset, known without loading it (checked after loading)

TARGETS = ("golden", "sim", "emulator", "serial:PORT[@BAUD]")
#: the boards of ``plasticore build`` (boards/build.py BOARDS; checked against it when used)
BOARD_NAMES = ("icebreaker", "ulx3s-85f")


class NotAvailable(RuntimeError):
    """Something the command asks for cannot run here; the message says why (exit code 2)."""


# --- argument types -------------------------------------------------------------------------------
def _int_at_least(minimum: int, expectation: str):
    """An argparse type: an integer >= minimum, else the error '<expectation>, not <text>'."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"{expectation}, not {text!r}")
        return value
    return parse


positive_int = _int_at_least(1, "expected a positive integer")
_seed = _int_at_least(0, "a seed must be a non-negative integer")


def _seed_list(text: str) -> list[int]:
    seeds = [_seed(part.strip()) for part in text.split(",") if part.strip()]
    if not seeds:
        raise argparse.ArgumentTypeError(f"expected comma-separated seeds, not {text!r}")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct, not {text!r}")
    return seeds


def _target(text: str) -> str:
    if text in ("golden", "sim", "emulator"):
        return text
    if text.startswith("serial:") and len(text) > len("serial:"):
        from plasticore.host.board import parse_serial_target
        try:
            parse_serial_target(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text
    raise argparse.ArgumentTypeError(f"unknown target {text!r}: expected golden, sim, emulator or "
                                     f"serial:PORT[@BAUD]")


# --- parser ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Plasticore: on-chip SFDFA learning for spiking neural networks on FPGAs.")
    from plasticore import __version__
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config_options = argparse.ArgumentParser(add_help=False)
    group = config_options.add_argument_group("configuration")
    group.add_argument("--config", type=Path, metavar="FILE",
                       help="JSON object of Config fields (may be partial), or a results file")
    group.add_argument("--set", dest="settings", type=parse_setting, action="append", default=[],
                       metavar="KEY=VALUE",
                       help="override one field; VALUE is JSON, else a string (repeatable)")
    group.add_argument("--hidden", type=positive_int, metavar="N",
                       help="hidden neurons (default: the dataset's preset, "
                            + ", ".join(f"{name} {width}" for name, width in DEFAULT_HIDDEN.items()) + ")")
    group.add_argument("--rule", choices=RULES, help="learning rule (default: the configuration's, sfdfa)")

    train = commands.add_parser(
        "train", parents=[config_options], help="train on a dataset and report accuracies",
        description="Train one network per seed on a dataset, online (one sample at a time), and "
                    "report train and test accuracies.")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=sorted(DATASET_SHAPES),
                        help="the dataset (required unless --events, or --board picks one)")
    source.add_argument("--events", type=Path, metavar="FILE.npz",
                        help="train on spike events instead of a dataset (layout below)")
    train.add_argument("--target", type=_target, default="golden", metavar="TARGET",
                       help="golden (in-process golden model), sim (Verilated RTL), emulator "
                            "(Python board on a pty) or serial:PORT[@BAUD] (default golden)")
    train.add_argument("--board", choices=BOARD_NAMES, metavar="BOARD",
                       help="train the network the default bitstream of this board carries "
                            f"({', '.join(BOARD_NAMES)}: layers, formats and every baked-in "
                            "field, as `plasticore build BOARD [--config FILE]` builds it); "
                            "--dataset defaults to the one that fits it")
    train.add_argument("--epochs", type=positive_int, metavar="N",
                       help="passes over the training set (default: the dataset preset's own, "
                            "golden/presets.py; 1 for an events file)")
    train.add_argument("--limit", type=positive_int, metavar="N", help="use the first N training samples")
    train.add_argument("--test-limit", type=positive_int, metavar="N", help="use the first N test samples")
    seeds = train.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=_seed, metavar="S", help="one seed (default 0)")
    seeds.add_argument("--seeds", type=_seed_list, metavar="S1,S2,...",
                       help="several seeds, trained side by side; accuracies are averaged")
    train.add_argument("--float", action="store_true",
                       help="run the clocked float64 model instead of the fixed-point golden model")
    train.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    train.add_argument("--plots", type=Path, metavar="DIR", help="write PNG figures into DIR")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    board = train.add_argument_group("board runs (sim, emulator, serial; golden with these options)")
    board.add_argument("--checkpoint", type=Path, metavar="PATH",
                       help="write a checkpoint (.npz) every --checkpoint-every samples and every epoch")
    board.add_argument("--checkpoint-every", type=positive_int, default=500, metavar="N",
                       help="samples between checkpoints within an epoch (default 500)")
    board.add_argument("--resume", type=Path, metavar="PATH",
                       help="continue the run saved in this checkpoint (same configuration, seed and "
                            "limits; --epochs counts from the run's start); it keeps being updated "
                            "unless --checkpoint names another file")
    board.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                       help="longest wait for a board's reply (default 10)")
    train.set_defaults(handler=_cmd_train)
    from plasticore.host.samples import EVENTS_LAYOUT
    train.epilog = EVENTS_LAYOUT.replace("An events file", "--events FILE.npz: an events file")
    train.formatter_class = argparse.RawDescriptionHelpFormatter

    config = commands.add_parser(
        "config", parents=[config_options], help="print the resolved configuration and its hashes",
        description="Print the resolved configuration as JSON with its hash and core_hash. The "
                    "output can be passed back with --config.")
    config.add_argument("--dataset", choices=sorted(DATASET_SHAPES),
                        help="take the layer sizes from this dataset (default: Config defaults)")
    config.set_defaults(handler=_cmd_config)

    try:
        from plasticore.boards import build as board_build
    except ImportError as error:  # a lean install: the [build] extra is missing
        build = commands.add_parser("build", help="build a bitstream (needs the [build] extra)")
        build.add_argument("rest", nargs=argparse.REMAINDER)
        missing = f"plasticore build needs the [build] extra: pip install 'plasticore[build]' ({error})"

        def unavailable(args, argv):
            raise NotAvailable(missing)
        build.set_defaults(handler=unavailable)
        return parser
    build = commands.add_parser(
        "build", help="build a bitstream for a board and report utilisation, Fmax and throughput",
        description=board_build.__doc__.split("\n\n")[0])
    board_build.add_arguments(build)
    build.set_defaults(handler=lambda args, argv: board_build.run(args))
    return parser


# --- commands -------------------------------------------------------------------------------------------
def _config_of(args, shape=None) -> Config:
    if getattr(args, "board", None) is not None:
        return board_run_config(args.board, args.dataset, config_file=args.config,
                                settings=args.settings, rule=args.rule, hidden=args.hidden)
    return resolve_config(args.dataset, hidden=args.hidden, config_file=args.config,
                          settings=args.settings, rule=args.rule, shape=shape)


def _board(name: str):
    try:
        from plasticore.boards.build import BOARDS
    except ImportError as error:
        raise NotAvailable(f"--board needs the board descriptions of plasticore.boards, which "
                           f"import Amaranth today: pip install 'plasticore[build]' ({error})") from None
    if name not in BOARDS:
        raise NotAvailable(f"unknown board {name!r}; known: {', '.join(sorted(BOARDS))}")
    return BOARDS[name]


def board_dataset(name: str) -> str:
    """The dataset whose inputs and classes the board's default network takes."""
    layers = _board(name).layers
    for dataset in ("digits", "mnist14", *sorted(DATASET_SHAPES)):
        if DATASET_SHAPES[dataset] == (layers[0], layers[-1]):
            return dataset
    raise NotAvailable(f"no dataset has the {layers[0]} inputs and {layers[-1]} classes of "
                       f"board {name!r}")


def board_run_config(name: str, dataset: str | None = None, *, config_file=None, settings=(),
                     rule: str | None = None, hidden: int | None = None) -> Config:
    """The configuration of ``plasticore train --board NAME``: every field the board's bitstream
    bakes in exactly as ``plasticore build NAME [--config FILE]`` resolves it, so the board
    accepts it (board_hash); learning rates and initial weights (``Config.RUNTIME_FIELDS``) from
    the dataset's preset when the board's hidden width is the preset's (else Config's) unless the
    file names them, then ``--set``. ``--set``, ``--rule`` or ``--hidden`` that would change a baked-in field are
    refused: they need a bitstream built with that configuration (``--config FILE`` on both)."""
    from plasticore.boards.common import resolve

    base = resolve(_board(name), config_file)
    baked = {k: v for k, v in base.to_dict().items() if k not in Config.RUNTIME_FIELDS}
    data = base.to_dict()
    if dataset is not None:
        inputs, classes = DATASET_SHAPES[dataset]
        if (inputs, classes) != (base.n_inputs, base.n_outputs):
            raise ConfigError(f"board {name!r} carries layers {list(base.layers)}; dataset "
                              f"{dataset!r} has {inputs} inputs and {classes} classes (the board "
                              f"takes --dataset {board_dataset(name)})")
        if base.hidden_sizes == (DEFAULT_HIDDEN[dataset],):
            preset = dataset_fields(dataset)
            preset.update(rule_fields(dataset, base.rule))
            from_file = set(read_config_file(config_file)) if config_file is not None else set()
            data.update({k: v for k, v in preset.items()
                         if k in Config.RUNTIME_FIELDS and k not in from_file})
    if rule is not None and rule != base.rule:
        raise ConfigError(f"board {name!r} is built for rule {base.rule!r}; --rule {rule} needs a "
                          f"bitstream built for it (plasticore build {name} --config FILE)")
    if hidden is not None and (hidden,) != base.hidden_sizes:
        raise ConfigError(f"board {name!r} carries layers {list(base.layers)}; --hidden {hidden} "
                          f"needs a bitstream built for it (plasticore build {name} --config FILE)")
    changed = resolve_config(shape=(base.n_inputs, base.n_outputs), settings=settings).to_dict()
    defaults = resolve_config(shape=(base.n_inputs, base.n_outputs)).to_dict()
    for key, value in changed.items():
        if value != defaults[key]:
            if key in baked:
                raise ConfigError(f"--set {key}: board {name!r} bakes {key} into its bitstream; "
                                  f"build one with it (plasticore build {name} --config FILE) "
                                  f"and train with the same --config")
            data[key] = value
    yield_schedule(data, {key.partition(".")[0] for key, _ in settings})
    return Config.from_dict(data)


def _cmd_config(args, argv) -> int:
    config = _config_of(args)
    print(json.dumps({"config": config.to_dict(), "hash": config.hash, "core_hash": config.core_hash},
                     indent=2, sort_keys=True))
    return 0


def _on_board(args) -> bool:
    """Whether the run goes sample by sample over a Board (host/training.py)."""
    return (args.target != "golden" or args.checkpoint is not None or args.resume is not None
            or args.events is not None)


def _cmd_train(args, argv) -> int:
    from plasticore.golden import datasets
    from plasticore.golden.train import train

    if args.dataset is None and args.events is None:
        if args.board is None:
            raise NotAvailable("train needs --dataset or --events (or --board, which picks the "
                               "dataset that fits that board)")
        args.dataset = board_dataset(args.board)
    if args.board is not None and args.events is not None:
        raise NotAvailable("--board trains a dataset (its network's inputs), not --events")
    if args.epochs is None:
        args.epochs = dataset_epochs(args.dataset) if args.dataset is not None else 1
    if _on_board(args):
        return _cmd_train_board(args, argv)
    config = _config_of(args)
    fixed = not args.float
    if fixed and config.perturbation == "gaussian":
        raise ConfigError("perturbation 'gaussian' exists only in the float model: add --float")
    seeds = args.seeds if args.seeds is not None else [args.seed if args.seed is not None else 0]

    data = datasets.load(args.dataset)
    if config.n_inputs != data.n_inputs or config.n_outputs < data.n_classes:
        raise ConfigError(f"layers {config.layers} do not fit dataset {data.name!r}: "
                          f"{data.n_inputs} inputs, {data.n_classes} classes")
    n_train = len(data.y_train[:args.limit])
    n_test = len(data.y_test[:args.test_limit])
    arithmetic = "fixed-point" if fixed else "float64"
    if not args.quiet:
        print(f"training {args.dataset} with {config.rule} on {args.target} ({arithmetic}): "
              f"layers {list(config.layers)}, {n_train} train / {n_test} test samples, "
              f"{args.epochs} epoch(s), seeds {seeds}, config {config.hash}", flush=True)

    started = time.perf_counter()
    result = train(config, data, epochs=args.epochs, seeds=seeds, fixed=fixed, limit=args.limit,
                   test_limit=args.test_limit, progress=not args.quiet)
    elapsed = time.perf_counter() - started
    record = _run_record(args, argv, config, result, seeds=seeds, fixed=fixed, n_train=n_train,
                         n_test=n_test, elapsed=elapsed)
    if args.json is not None:
        _write_json(args.json, record)
    written = []
    if args.plots is not None:
        from plasticore.host import plots
        written = plots.write_all(result, data, args.plots,
                                  title=f"{args.dataset}, {config.rule}, {args.target} ({arithmetic})")
    print(_summary_text(record, written, args.json))
    return 0



def _run_record(args, argv, config, result, *, seeds, fixed, n_train, n_test, elapsed) -> dict:
    """The JSON record of a training run, the same for every target (board runs add to it)."""
    from plasticore.golden.train import seed_config

    summary = result.summary()
    return {
        "dataset": args.dataset,
        "rule": config.rule,
        "target": args.target,
        "fixed_point": fixed,
        "epochs": args.epochs,
        "seeds": list(seeds),
        "limit": args.limit,
        "test_limit": args.test_limit,
        "n_train": n_train,
        "n_test": n_test,
        **{key: summary[key] for key in (
            "train_accuracy", "test_accuracy", "test_accuracy_std", "best_test_accuracy",
            "best_test_accuracy_std", "test_accuracy_per_seed", "best_epoch_per_seed")},
        "samples_per_second": result.samples_per_second,
        "elapsed_seconds": elapsed,
        "config_hash": config.hash,
        "core_hash": config.core_hash,
        "board_hash": config.board_hash,
        # seed s ran seed_config(config, s): same fields, LFSR seeds derived from the seed
        "seed_config_hashes": [seed_config(config, s).hash for s in seeds],
        "config": config.to_dict(),
        "history": result.history,
        "command": [PROG, *argv],
        "versions": _versions(),
    }

class _EventsData:
    """What the plots need of a dataset, for an events file."""

    def __init__(self, events):
        self.name, self.n_classes = events.name, events.n_classes


def _cmd_train_board(args, argv) -> int:
    """Sample-by-sample training over a Board: sim, emulator, serial, or golden with checkpoints,
    resume or events."""
    from plasticore.golden import datasets
    from plasticore.host import checkpoint as ckpt
    from plasticore.host.board import open_board
    from plasticore.host.events import read_events
    from plasticore.host.samples import PixelSamples
    from plasticore.host.training import train_on_board

    if args.float:
        raise NotAvailable(f"--float runs only on the golden target's vectorised trainer (without "
                           f"--checkpoint, --resume and --events); target {args.target!r} is fixed-point")
    if args.seeds is not None and len(args.seeds) > 1:
        raise NotAvailable(f"target {args.target!r} trains one seed at a time (sample by sample); "
                           f"got --seeds {','.join(map(str, args.seeds))}")
    seed = args.seeds[0] if args.seeds else (args.seed if args.seed is not None else 0)
    if args.events is not None:
        try:
            events = read_events(args.events)
        except ValueError as error:
            raise NotAvailable(str(error)) from None
        config = _config_of(args, shape=(events.n_inputs, events.n_classes))
        if config.n_inputs < events.n_inputs or config.n_outputs < events.n_classes:
            raise ConfigError(f"layers {config.layers} do not fit events file {args.events}: "
                              f"{events.n_inputs} inputs, {events.n_classes} classes")
        try:
            events.check(config)          # every event's step against n_steps, before training
        except ValueError as error:
            raise NotAvailable(str(error)) from None
        train_set = events.samples(config, "train", args.limit)
        test_set = events.samples(config, "test", args.test_limit)
        source, data = str(args.events), _EventsData(events)
    else:
        config = _config_of(args)
        data = datasets.load(args.dataset)
        if config.n_inputs != data.n_inputs or config.n_outputs < data.n_classes:
            raise ConfigError(f"layers {config.layers} do not fit dataset {data.name!r}: "
                              f"{data.n_inputs} inputs, {data.n_classes} classes")
        train_set = PixelSamples(config, data.x_train[:args.limit], data.y_train[:args.limit])
        test_set = PixelSamples(config, data.x_test[:args.test_limit], data.y_test[:args.test_limit])
        source = args.dataset
    if config.perturbation == "gaussian":
        raise ConfigError("perturbation 'gaussian' exists only in the float model")
    resume = ckpt.load(args.resume, config) if args.resume is not None else None
    checkpoint_path = args.checkpoint if args.checkpoint is not None else args.resume
    n_train, n_test = len(train_set), len(test_set)
    if not args.quiet:
        start = f", resuming {args.resume} at epoch {resume.epoch} sample {resume.index}" if resume else ""
        print(f"training {source} with {config.rule} on {args.target} (fixed-point, on the board, "
              f"sample by sample): layers {list(config.layers)}, {n_train} train / {n_test} test "
              f"samples, {args.epochs} epoch(s), seed {seed}, config {config.hash}{start}", flush=True)

    started = time.perf_counter()
    board = open_board(args.target, config, timeout=args.timeout)
    try:
        meta = {"source": source, "limit": args.limit, "test_limit": args.test_limit}
        result = train_on_board(board, config, train_set, test_set, epochs=args.epochs, seed=seed,
                                checkpoint_path=checkpoint_path,
                                checkpoint_every=args.checkpoint_every, resume=resume,
                                progress=not args.quiet, meta=meta)
        link = {"bytes_sent": getattr(board, "bytes_sent", 0),
                "bytes_received": getattr(board, "bytes_received", 0)}
        identity = board.identity
    finally:
        board.close()
    elapsed = time.perf_counter() - started
    record = _run_record(args, argv, config, result, seeds=[seed], fixed=True, n_train=n_train,
                         n_test=n_test, elapsed=elapsed)
    record.update({
        "dataset": args.dataset if args.dataset is not None else data.name,
        "events_file": str(args.events) if args.events is not None else None,
        "checkpoint": str(checkpoint_path) if checkpoint_path is not None else None,
        "resumed_from": str(args.resume) if args.resume is not None else None,
        "board": {"clk_hz": identity.clk_hz, "baud_divisor": identity.baud_divisor,
                  "rx_window": identity.rx_window, **link},
    })
    if args.json is not None:
        _write_json(args.json, record)
    written = []
    if args.plots is not None:
        title = f"{record['dataset']}, {config.rule}, {args.target} (fixed-point, on the board)"
        written = _board_plots(result, data, test_set, args.plots, title)
    print(_summary_text(record, written, args.json))
    return 0


def _board_plots(result, data, test_set, outdir, title):
    """The four figures of a board run; the raster is test sample 0 through the final network."""
    from plasticore.golden.network import Network
    from plasticore.host import plots

    if hasattr(data, "x_test"):
        return plots.write_all(result, data, outdir, title=title)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    config, history, seeds = result.config, result.history, list(result.seeds)
    rate_target = config.rate_target if config.rate_reg_shift is not None else None
    written = [plots.accuracy_plot(history, outdir / "accuracy.png", title=title, seeds=seeds,
                                   n_classes=data.n_classes)]
    if len(test_set):
        raster = test_set.raster(0)
        probe = Network(config, [w[0] for w in result.network.weights()],
                        [b[0] for b in result.network.feedback], seed=None)
        record = probe.run(raster)
        written.append(plots.raster_plot([raster] + [s[0] for s in record.spikes],
                                         outdir / "raster.png", label=int(test_set.labels[0]),
                                         title=f"{title}: test sample 0, seed {seeds[0]}",
                                         input_window=config.input_window))
    written.append(plots.alignment_plot(history, outdir / "alignment.png", title=title,
                                        rule=config.rule, seeds=seeds))
    written.append(plots.hidden_rate_plot(history, outdir / "hidden_rate.png", title=title,
                                          rate_target=rate_target, seeds=seeds))
    return written


def _summary_text(record: dict, plots_written, json_path) -> str:
    history = record["history"]
    tests = [sum(h["test_accuracy"]) / len(h["test_accuracy"]) for h in history]
    best_epoch = max(range(len(tests)), key=tests.__getitem__) + 1
    n_seeds = len(record["seeds"])
    last = history[-1]
    lines = [
        f"{record['dataset']} / {record['rule']} / {record['target']} "
        f"({'fixed-point' if record['fixed_point'] else 'float64'}), {record['epochs']} epoch(s), "
        f"{record['n_train']} train / {record['n_test']} test samples, "
        f"{n_seeds} seed{'s' if n_seeds > 1 else ''} {record['seeds']}",
        f"  test accuracy   {record['test_accuracy']:.4f} +- {record['test_accuracy_std']:.4f} "
        f"(final epoch, mean +- std over seeds)",
        f"  best epoch      {best_epoch} (mean test {tests[best_epoch - 1]:.4f}); best per seed "
        f"{record['best_test_accuracy']:.4f} +- {record['best_test_accuracy_std']:.4f} "
        f"at epochs {record['best_epoch_per_seed']}",
        f"  train accuracy  {record['train_accuracy']:.4f} (running, last epoch)",
    ]
    rates = last.get("hidden_spikes_per_neuron") or []
    aligns = last.get("feedback_alignment") or []
    extra = []
    if rates:
        extra.append(f"hidden spikes/neuron {sum(rates) / len(rates):.2f}")
    if aligns and record["rule"] != "readout":
        extra.append(f"feedback alignment {sum(aligns) / len(aligns):+.3f}")
    if extra:
        lines.append("  " + ", ".join(extra))
    lines.append(f"  speed           {record['samples_per_second']:.1f} samples/s (training, all seeds); "
                 f"{record['elapsed_seconds']:.1f} s in all")
    lines.append(f"  config          {record['config_hash']} (core {record['core_hash']})")
    rates = [(h["lr_hidden_shift"], h["lr_output_shift"]) for h in history if "lr_hidden_shift" in h]
    if len(set(rates)) > 1:
        changes = [f"epoch {k + 1}: 2^-{h} / 2^-{o}" for k, (h, o) in enumerate(rates)
                   if k == 0 or rates[k - 1] != (h, o)]
        lines.append(f"  learning rates  hidden / output, {'; '.join(changes)}")
    overflow = last.get("overflow") or {}
    if overflow:
        lines.append(f"  WARNING: saturation flags raised: {', '.join(sorted(overflow))}")
    if json_path is not None:
        lines.append(f"  results         {json_path}")
    if plots_written:
        lines.append(f"  plots           {', '.join(str(p) for p in plots_written)}")
    return "\n".join(lines)


def _versions() -> dict:
    from importlib import metadata

    import numpy

    try:
        own = metadata.version("plasticore")
    except metadata.PackageNotFoundError:
        own = None
    return {"plasticore": own, "numpy": numpy.__version__, "python": sys.version.split()[0]}


def _write_json(path: Path, record: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, allow_nan=True, default=_json_default)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text + "\n")
    partial.replace(path)


def _json_default(value):
    """numpy scalars and arrays that slip into the record."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script passes it to sys.exit)."""
    from plasticore.golden.datasets import ChecksumMismatch, DatasetUnavailable

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse: --help (0) or a usage error (2)
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    from plasticore.host.board import BoardMismatch, LinkError, TargetUnavailable
    from plasticore.host.checkpoint import CheckpointError
    from plasticore.host.training import TrainingInterrupted

    try:
        return args.handler(args, argv)
    except ConfigError as error:
        return _error(f"invalid configuration: {error}")
    except (NotAvailable, DatasetUnavailable, ChecksumMismatch, TargetUnavailable, BoardMismatch,
            CheckpointError) as error:
        return _error(str(error))
    except TrainingInterrupted as stop:
        resume = f"; continue with --resume {stop.checkpoint}" if stop.checkpoint else ""
        print(f"{PROG}: interrupted: {stop}{resume}", file=sys.stderr)
        return 130
    except LinkError as error:
        print(f"{PROG}: error: {error}{_last_checkpoint(args)}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _last_checkpoint(args) -> str:
    """Where a failed board run can continue from, for its error message."""
    from plasticore.host import checkpoint as ckpt

    path = getattr(args, "checkpoint", None) or getattr(args, "resume", None)
    if path is None:
        return ""
    try:
        point = ckpt.load(path)
    except ckpt.CheckpointError:
        return f"; no checkpoint was written to {path} yet"
    return (f"; the last checkpoint {path} (epoch {point.epoch}, sample {point.index}) is intact: "
            f"continue with --resume {path}")


if __name__ == "__main__":
    sys.exit(main())

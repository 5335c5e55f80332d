#!/usr/bin/env python
"""Train on a board through the Board API: the simulated board (the Verilated RTL behind the
serial protocol on a pseudo-terminal) by default, the learning done by the chip itself.

    python examples/board_training.py                       # --target sim (the [sim] extra)
    python examples/board_training.py --target emulator     # the protocol's Python reference
    python examples/board_training.py --target serial:/dev/ttyUSB1 --board icebreaker

The first sim run builds the board with Verilator (a minute or more; cached). Every target gives
the golden model's result bit for bit.
"""

import argparse
import json

import plasticore as pc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="sim")
    parser.add_argument("--board", default=None,
                        help="use the network of this board's default bitstream (icebreaker, ulx3s-85f)")
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--set", dest="fields", action="append", default=[], metavar="KEY=JSON")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--test-limit", type=int, default=50)
    args = parser.parse_args(argv)

    fields = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.fields)}
    if args.board is not None:
        config = pc.board_config(args.board)
    else:
        config = pc.configure(shape=(64, 10), hidden=args.hidden, **fields)
    with pc.open_board(args.target, config) as board:
        identity = board.identify()
        print(f"{args.target}: protocol v{identity.version}, layers {list(identity.layers)}")
        result = pc.train_on_board(board, config, "digits", epochs=args.epochs, limit=args.limit,
                                   test_limit=args.test_limit)
        floats = pc.weights(board, as_floats=True)         # read back from the board
    for h in result.history:
        print(f"epoch {h['epoch']}: train {h['train_accuracy'][0]:.3f}, "
              f"test {h['test_accuracy'][0]:.3f}")
    print(f"hidden weights read back: {floats[0].shape}, {floats[0].min():.3f}..{floats[0].max():.3f}")
    return result


if __name__ == "__main__":
    main()

"""``python -m bench.fieldtruth``: see the package docstring."""

from __future__ import annotations

import argparse
import asyncio
import pickle
import random
import time

from bench.fieldtruth import __doc__ as DOC
from bench.fieldtruth.run import drive, prepare
from bench.fieldtruth.scenario import messages_of
from bench.fieldtruth.score import explain, report, score
from bench.scratch import scratch_database
from sealwatch.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transits", type=int, default=240, help="transits to drive (about 40 %% with a violation)")
    parser.add_argument("--seed", type=int, default=1, help="scenario seed (same seed, same scenario)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database to look at afterwards")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="for each miss and unexplained alert: the seal's plan around it and every alert its transit got",
    )
    parser.add_argument("--dump", metavar="PATH", help="pickle the outcome (plans, alerts) to PATH for later study")
    args = parser.parse_args()
    configure_logging("ERROR")  # the escalations of critical alerts nobody acknowledges are expected here
    # Simulated time runs in the past, so nothing looks like a fix from the future.
    start = float(int(time.time() - 18 * 3600))
    print(f"bench.fieldtruth: {args.transits} transits, seed {args.seed}")
    with scratch_database(prefix="sw_fieldtruth", keep=args.keep) as url:
        if args.keep:
            print(f"scratch database (kept): {url}")
        plans, zones = prepare(url, args.transits, args.seed, start)
        rng = random.Random(args.seed)
        messages = sorted((m for p in plans for m in messages_of(p, rng)), key=lambda m: m.at)
        outcome = asyncio.run(drive(url, plans, messages, start, quiet=False))
        outcome.zones = zones
    result = score(outcome)
    print(report(outcome, result))
    if args.explain:
        print(explain(outcome, result))
    if args.dump:
        with open(args.dump, "wb") as f:
            pickle.dump(outcome, f)


if __name__ == "__main__":
    main()

"""Load the organisation tree into the registry.

    python -m shared.orgtree.load                 # Himachal Pradesh (the demo)
    python -m shared.orgtree.load --state UP
    python -m shared.orgtree.load --national --seed 7

Idempotent: a tree already loaded with the same seed returns at once.
"""

import argparse
import itertools

from pymongo import MongoClient

from shared.orgtree.generator import (
    DEFAULT_SEED,
    STATE_PLANS,
    generate_national,
    generate_state,
    national_unit,
)
from shared.orgtree.repository import OrgRegistry
from shared.settings import PlatformSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shared.orgtree.load", description=__doc__.splitlines()[0]
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--state", default="HP", choices=sorted(STATE_PLANS), help="one state's tree (default HP)"
    )
    scope.add_argument(
        "--national", action="store_true", help="all 36 states and UTs, 10,48,202 booths"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args(argv)

    settings = PlatformSettings()
    with MongoClient(settings.mongo_url) as client:
        registry = OrgRegistry(client[settings.mongo_db])
        if args.national:
            report = registry.load(
                generate_national(args.seed), args.batch_size, tree="national", seed=args.seed
            )
        elif (units := registry.loaded("national", args.seed)) is not None:
            print(f"state {args.state} is part of the national tree already loaded ({units} units)")
            return
        else:
            units = itertools.chain([national_unit()], generate_state(args.state, args.seed))
            report = registry.load(
                units, args.batch_size, tree=f"state:{args.state}", seed=args.seed
            )
    verb = "already loaded" if report.skipped else f"loaded ({report.inserted} new)"
    print(f"{report.units} units {verb} into {settings.mongo_db} in {report.seconds:.1f} s")


if __name__ == "__main__":
    main()

"""Benchmark of reading the organisation tree, as HQ drills down (make bench, platform running).

    .venv/bin/python bench/orgtree_bench.py [--repeat 30]

Meant for the national tree (`make load-national` first; it says which tree it found). For the
deepest path of the largest state (Uttar Pradesh, or the demo state when only it is loaded) it
times, per level from the nation to a booth, p50 and p99 over `--repeat` calls of:

1. the registry itself (shared.orgtree): `children`, and one page of the unit's booths;
2. appointments' `GET /units/{id}` (unit, ancestors, children) and `GET /units/{id}/booths`;
3. analytics' `GET /coverage/{id}` (the unit and its children's coverage);
4. the HQ dashboard's `GET /api/coverage/{id}`: one drill-down step as the browser makes it;
5. baseline in the same run: raw pymongo `find_one({"_id": ...})` of the same documents the
   registry reads (its children document and booth page), the least a lookup can cost.

Targets (issue 10): children and a booth page <= 50 ms, /units/IN-HP <= 50 ms, coverage of any
unit <= 50 ms, each dashboard step <= 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from shared.auth.issuer import organiser_token  # noqa: E402
from shared.orgtree.index import page_id  # noqa: E402
from shared.orgtree.repository import OrgRegistry  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402

APPOINTMENTS, ANALYTICS, DASHBOARD = (
    "http://127.0.0.1:8001",
    "http://127.0.0.1:8004",
    "http://127.0.0.1:8006",
)


def timed(call, repeat: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds (the first call warms caches and connections, and is dropped)."""
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[
        min(len(samples) - 1, round(0.99 * (len(samples) - 1)))
    ]


def deepest_path(registry: OrgRegistry) -> list[str]:
    """The nation, its largest state, and each level's last child down to a booth."""
    states = registry.children("IN")
    path = ["IN", max(states, key=lambda s: s["booths"])["id"]]
    while children := registry.children(path[-1]):
        path.append(children[-1]["id"])
    return path


def ok(response: httpx.Response) -> httpx.Response:
    response.raise_for_status()
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    settings = PlatformSettings()
    db = MongoClient(settings.mongo_url)[settings.mongo_db]
    registry = OrgRegistry(db)
    national = registry.loaded("national", 2024) is not None
    path = deepest_path(registry)
    tree = "national" if national else "demo only (run make load-national for the national figures)"
    print(f"tree: {tree}; {len(registry.children('IN'))} states; path {' > '.join(path)}")

    hq = {"Authorization": f"Bearer {organiser_token(sub='bench-hq', unit='IN')}"}
    client = httpx.Client(timeout=60, headers=hq)
    rows = []
    for unit_id in path:
        level = unit_id.count("-")
        page = min(
            3, (registry.get(unit_id)["booths"] - 1) // 1000
        )  # a page past the first where there is one
        rows.append(
            (
                unit_id,
                [
                    timed(lambda: registry.children(unit_id), args.repeat),
                    timed(lambda: registry.booth_page(unit_id, page), args.repeat),
                    timed(lambda: db.org_children.find_one({"_id": unit_id}), args.repeat)
                    if level < 6
                    else None,
                    timed(
                        lambda: db.org_booth_pages.find_one({"_id": page_id(unit_id, page)}),
                        args.repeat,
                    )
                    if 0 < level < 6
                    else None,
                    timed(lambda: ok(client.get(f"{APPOINTMENTS}/units/{unit_id}")), args.repeat),
                    timed(
                        lambda: ok(
                            client.get(
                                f"{APPOINTMENTS}/units/{unit_id}/booths", params={"page": page}
                            )
                        ),
                        args.repeat,
                    ),
                    timed(lambda: ok(client.get(f"{ANALYTICS}/coverage/{unit_id}")), args.repeat),
                    timed(
                        lambda: ok(client.get(f"{DASHBOARD}/api/coverage/{unit_id}")), args.repeat
                    ),
                ],
            )
        )
    hp = timed(lambda: ok(client.get(f"{APPOINTMENTS}/units/IN-HP")), args.repeat)

    heads = [
        "children",
        "booth page",
        "raw children",
        "raw page",
        "GET /units",
        "GET booths",
        "coverage",
        "dashboard",
    ]
    print(
        f"\np50 / p99 in ms, {args.repeat} calls each "
        "(raw = pymongo find_one by _id of the same document)"
    )
    print(f"{'unit':<28}" + "".join(f"{h:>15}" for h in heads))
    for unit_id, cells in rows:
        print(
            f"{unit_id:<28}"
            + "".join(f"{'-' if c is None else f'{c[0]:.1f}/{c[1]:.1f}':>15}" for c in cells)
        )
    print(f"\nGET /units/IN-HP: p50 {hp[0]:.1f} ms, p99 {hp[1]:.1f} ms")
    worst = {
        h: max(c[1] for _, cells in rows if (c := cells[i]) is not None)
        for i, h in enumerate(heads)
    }
    print("worst p99 per column (ms): " + ", ".join(f"{h} {v:.1f}" for h, v in worst.items()))


if __name__ == "__main__":
    main()

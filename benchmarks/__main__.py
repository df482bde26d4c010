"""`python -m benchmarks [teams] [slack] [checkin] [fanout] [release] [throughput] [scrub] [--json PATH]`
(`make bench` runs all).

Results go to stdout, and to a JSON file only when `--json PATH` asks for one. The exit status
is 1 when a target is missed (fan-out, Slack requests, check-in, release, Teams activities,
and, when all run, the whole under 10 minutes), 2 on bad arguments.
The request benchmarks need `wrk` (installed with apt-get when missing and permitted; skipped
with a message otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import fanout, release, scrub, throughput
from benchmarks.load import Unavailable, ensure_wrk

CHOICES = ("teams", "slack", "checkin", "fanout", "release", "throughput", "scrub")
TARGET_TOTAL_S = 600.0  # `make bench` (every benchmark) stays under 10 minutes (issue 12)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Rut Radar performance targets."
    )
    parser.add_argument(
        "which", nargs="*", metavar="BENCHMARK", help=f"any of {', '.join(CHOICES)} (default: all)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--members", type=int, default=fanout.MEMBERS, help="fan-out recipients")
    parser.add_argument("--rate", type=float, default=fanout.RATE, help="posts/s the fake allows")
    parser.add_argument(
        "--deliveries", type=int, default=throughput.DELIVERIES, help="throughput deliveries"
    )
    parser.add_argument(
        "--open-deliveries",
        type=int,
        default=scrub.OPEN_DELIVERIES,
        help="open deliveries beside the round the scrub benchmark closes",
    )
    args = parser.parse_args(argv)
    unknown = set(args.which) - set(CHOICES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    args.which = args.which or list(CHOICES)
    return args


async def run(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    ok = True
    wrk_ok = True
    seconds_of: dict[str, float] = {}
    results["section_seconds"] = seconds_of
    mark = time.perf_counter()

    def done(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        seconds_of[name] = round(now - mark, 1)
        mark = now

    if {"teams", "slack", "checkin"} & set(args.which):
        try:
            ensure_wrk()
        except Unavailable as exc:
            wrk_ok = False
            print(f"request benchmarks skipped: {exc}", flush=True)
    if wrk_ok and "teams" in args.which:
        from benchmarks import teams

        tr = await teams.run()
        print(teams.report(tr) + "\n", flush=True)
        results["teams"] = teams.as_dict(tr)
        ok = ok and tr.met
        done("teams")
    if wrk_ok and "slack" in args.which:
        from benchmarks import slack

        sl = await slack.run()
        print(slack.report(sl) + "\n", flush=True)
        results["slack"] = slack.as_dict(sl)
        ok = ok and sl.met
        done("slack")
    if wrk_ok and "checkin" in args.which:
        from benchmarks import checkin

        ch = await checkin.run()
        print(checkin.report(ch) + "\n", flush=True)
        results["checkin"] = checkin.as_dict(ch)
        ok = ok and ch.met
        done("checkin")
    if "fanout" in args.which:
        fan = await fanout.run(members=args.members, rate=args.rate)
        print(fanout.report(fan), flush=True)
        results["fanout"] = fanout.as_dict(fan)
        ok = ok and fan.met
        done("fanout")
    if "release" in args.which:
        if "fanout" in args.which:
            print(flush=True)
        released = await release.run()
        print(release.report(released), flush=True)
        results["release"] = release.as_dict(released)
        ok = ok and (released is None or released.met)
        done("release")
    if "throughput" in args.which:
        if {"fanout", "release"} & set(args.which):
            print(flush=True)
        through = await throughput.run(deliveries=args.deliveries)
        print(throughput.report(through), flush=True)
        results["throughput"] = throughput.as_dicts(through)
        done("throughput")
    if "scrub" in args.which:
        if len(args.which) > 1:
            print(flush=True)
        scrubbed = await scrub.run(open_deliveries=args.open_deliveries)
        print(scrub.report(scrubbed), flush=True)
        results["scrub"] = scrub.as_dicts(scrubbed)
        done("scrub")
    return results, ok


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    results, ok = asyncio.run(run(args))
    took = time.perf_counter() - started
    results["seconds"] = round(took, 1)
    if set(args.which) == set(CHOICES):
        met = took < TARGET_TOTAL_S
        verdict = "MET" if met else "MISSED"
        parts = ", ".join(f"{name} {s:.0f}" for name, s in results["section_seconds"].items())
        print(
            f"\nall benchmarks: {took:.0f} s ({parts}; target: < {TARGET_TOTAL_S:.0f} s)"
            f" → {verdict}"
        )
        ok = ok and met
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

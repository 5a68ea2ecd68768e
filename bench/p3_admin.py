"""P3: the admin enrollment list at 1,000 vs 1,000,000 enrollments, via bench/admin_list.py."""

from __future__ import annotations

import json
import subprocess
import sys

from environment import ROOT, Figure


def p3(server_url: str, args, say) -> list[Figure]:
    large = 100_000 if args.quick else 1_000_000
    say(f"  P3 admin enrollment list: 1,000 and {large:,} enrollments, timed alternately (bench/admin_list.py)")
    out = subprocess.run(  # noqa: S603
        [
            sys.executable,
            str(ROOT / "bench" / "admin_list.py"),
            "--small",
            "1000",
            "--large",
            str(large),
            "--database-url",
            server_url,
            "--repeats",
            "9",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench/admin_list.py failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    for line in out.stdout.splitlines():
        if not line.startswith("{"):
            say("  " + line)
    timings = json.loads(out.stdout.strip().splitlines()[-1])
    ratios = {name: t["large"] / t["small"] for name, t in timings.items()}
    first = ratios["first page"]
    worst_name = max(ratios, key=ratios.get)
    return [
        Figure(
            "P3",
            f"admin enrollment list, {large:,} / 1,000 enrollments",
            first,
            "≤ 1.50",
            first <= 1.5,
            f"first page {timings['first page']['small'] * 1000:.1f} -> {timings['first page']['large'] * 1000:.1f} ms",
        ),
        Figure(
            "P3",
            "  its slowest filter/search variant (not budgeted)",
            ratios[worst_name],
            "info",
            ratios[worst_name] <= 1.5,
            f"{worst_name}: {timings[worst_name]['small'] * 1000:.1f} -> {timings[worst_name]['large'] * 1000:.1f} ms",
            informational=True,
        ),
    ]

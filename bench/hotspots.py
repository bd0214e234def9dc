"""Sum py-spy's collapsed stacks (``--format raw``) into the functions that take the time.

    python -m bench.hotspots var/profile/scenario1.txt [--top 25] [--match incident_api]

Inclusive share: samples whose stack contains the function at least once; self share: samples
whose innermost frame is the function. Idle workers (blocked in accept/select) are left out,
so the shares are of time spent serving.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

IDLE = ("select (selectors.py", "accept (socket.py", "wait_for_ready", "sleep (gunicorn")
FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    short = file.split("site-packages/")[-1] if "site-packages/" in file else file
    return f"{match['func']} ({short})"


def summarise(lines: list[str]) -> tuple[int, Counter[str], Counter[str]]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in IDLE):
            continue
        count = int(count_text)
        total += count
        for name in {_name(f) for f in frames}:
            inclusive[name] += count
        own[_name(frames[-1])] += count
    return total, inclusive, own


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only functions whose name contains this")
    args = parser.parse_args()
    total, inclusive, own = summarise(args.profile.read_text().splitlines())
    if not total:
        print(f"{args.profile}: no busy samples", file=sys.stderr)
        return 1
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title} (of {total:,} busy samples)")
        shown = [(n, c) for n, c in counter.most_common() if args.match in n][: args.top]
        for name, count in shown:
            print(f"{count / total:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

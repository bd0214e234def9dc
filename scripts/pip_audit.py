"""``make security``'s dependency audit (``make pip-audit``): pip-audit over the virtualenv.

Fails on any known vulnerability. When the advisory service cannot be reached (no JSON back, or
every package unauditable, as on a machine that reaches the package index but not PyPI's JSON
API), or any one package could not be audited, it fails on GitHub's CI (``GITHUB_ACTIONS`` and
``CI`` true), where the service must be reachable; anywhere else it says loudly on stderr that
the audit was skipped. (Strict whenever ``CI=true`` would fail ``.ci/run`` on the project's own
machine, which cannot reach the advisory service.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def strict(environ: Mapping[str, str]) -> bool:
    """An unreachable advisory service fails the audit only on GitHub's CI."""
    return environ.get("GITHUB_ACTIONS") == "true" and environ.get("CI") == "true"


def verdict(stdout: str, stderr: str, *, must_reach: bool) -> tuple[int, str]:
    """The exit status and what to say, from pip-audit's JSON output."""
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        return _unreachable(
            f"the advisory service did not answer ({stderr.strip()[:200]})", must_reach
        )
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    if vulnerable:
        lines = [
            f"pip-audit: {d['name']} {d['version']}: {', '.join(v['id'] for v in d['vulns'])}"
            for d in vulnerable
        ]
        return 1, "\n".join(lines)
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        return _unreachable(
            f"the advisory service was unreachable for all {len(deps)} packages", must_reach
        )
    unaudited = [
        f"{d['name']} {d.get('version', '')}".strip()
        for d in deps
        if "skip_reason" in d and "editable" not in str(d["skip_reason"])  # ours, on purpose
    ]
    if unaudited:  # a package nobody looked at is not a package without advisories
        return _unreachable(
            f"{len(unaudited)} package(s) could not be audited: {', '.join(unaudited[:20])}",
            must_reach,
        )
    return 0, f"pip-audit: no known vulnerabilities in {len(audited)} packages"


def _unreachable(why: str, must_reach: bool) -> tuple[int, str]:
    if must_reach:
        return 1, f"pip-audit: FAILED: {why}; on GitHub's CI the audit must run"
    return 0, f"pip-audit: WARNING: the dependency audit was SKIPPED: {why}"


def main() -> int:
    audit = Path(sys.executable).with_name("pip-audit")
    done = subprocess.run(
        [str(audit), "--skip-editable", "--format", "json", "--progress-spinner", "off"],
        capture_output=True,
        text=True,
        check=False,
    )
    code, message = verdict(done.stdout, done.stderr, must_reach=strict(os.environ))
    print(message, file=sys.stderr if "WARNING" in message or code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())

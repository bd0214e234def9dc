"""``make security``'s dependency audit: pip-audit over the virtualenv.

Fails on any known vulnerability. When the advisory service cannot be reached (every package
comes back unauditable, as on a machine that reaches the package index but not PyPI's JSON
API), it says so and skips instead of failing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    audit = Path(sys.executable).with_name("pip-audit")
    done = subprocess.run(
        [str(audit), "--skip-editable", "--format", "json", "--progress-spinner", "off"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(
            f"pip-audit: skipped, the advisory service did not answer ({done.stderr.strip()[:200]})"
        )
        return 0
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    audited = [d for d in deps if "skip_reason" not in d]
    for dep in vulnerable:
        ids = ", ".join(v["id"] for v in dep["vulns"])
        print(f"pip-audit: {dep['name']} {dep['version']}: {ids}")
    if vulnerable:
        return 1
    if not audited:
        print(
            f"pip-audit: skipped, the advisory service was unreachable for all {len(deps)} packages"
        )
        return 0
    print(f"pip-audit: no known vulnerabilities in {len(audited)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())

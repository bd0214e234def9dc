"""``make security``'s audit: vulnerabilities fail it; an unreachable advisory service fails it
on GitHub's CI only, and elsewhere is a loud skip."""

from __future__ import annotations

import json

from scripts.pip_audit import strict, verdict

CLEAN = json.dumps({"dependencies": [{"name": "flask", "version": "3.1", "vulns": []}]})
VULNERABLE = json.dumps(
    {"dependencies": [{"name": "jinja2", "version": "3.0", "vulns": [{"id": "GHSA-x"}]}]}
)
UNAUDITABLE = json.dumps(
    {"dependencies": [{"name": "flask", "version": "3.1", "skip_reason": "Connection refused"}]}
)


def test_only_githubs_ci_must_reach_the_service():
    assert strict({"GITHUB_ACTIONS": "true", "CI": "true"})
    assert not strict({"CI": "true"})  # .ci/run on this machine
    assert not strict({})


def test_verdicts():
    assert verdict(CLEAN, "", must_reach=True) == (
        0,
        "pip-audit: no known vulnerabilities in 1 packages",
    )
    assert verdict(VULNERABLE, "", must_reach=False) == (1, "pip-audit: jinja2 3.0: GHSA-x")
    for stdout in (UNAUDITABLE, "not json"):
        code, message = verdict(stdout, "connection refused", must_reach=True)
        assert code == 1 and message.startswith("pip-audit: FAILED:")
        code, message = verdict(stdout, "connection refused", must_reach=False)
        assert code == 0 and "SKIPPED" in message


def test_on_githubs_ci_one_package_that_could_not_be_audited_fails_the_audit():
    partial = json.dumps(
        {
            "dependencies": [
                {"name": "flask", "version": "3.1", "vulns": []},
                {"name": "private-lib", "version": "1.0", "skip_reason": "not on PyPI"},
                {"name": "driftwatch", "skip_reason": "distribution marked as editable"},
            ]
        }
    )
    code, message = verdict(partial, "", must_reach=True)
    assert code == 1 and "1 package(s) could not be audited: private-lib 1.0" in message
    code, message = verdict(partial, "", must_reach=False)
    assert code == 0 and "SKIPPED" in message and "private-lib" in message

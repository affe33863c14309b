"""The pull-request workflow (.github/workflows/ci.yaml) runs what every change must pass.

Parsed, not run: it must trigger on pull requests, run the README's test command (scripts/test, which .ci/run
runs), `cargo fmt --check` and clippy with warnings denied, and ask for read access only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yaml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    assert WORKFLOW.is_file(), f"{WORKFLOW.relative_to(REPO_ROOT)} is missing"
    return yaml.safe_load(WORKFLOW.read_text())


def run_lines(workflow: dict[str, Any]) -> list[str]:
    return [str(s.get("run", "")) for job in workflow["jobs"].values() for s in job["steps"]]


def test_runs_on_pull_requests(workflow: dict[str, Any]) -> None:
    # PyYAML reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers, triggers


def test_runs_the_readme_test_command_and_the_gates(workflow: dict[str, Any]) -> None:
    ci_run = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test$", ci_run, re.M), ".ci/run no longer runs scripts/test"
    readme = (REPO_ROOT / "README.md").read_text()
    assert re.search(r"^scripts/test$", readme, re.M), "the README's test command is not scripts/test"
    lines = run_lines(workflow)
    for pattern in [r"^scripts/test$", r"cargo fmt .*--check", r"cargo clippy .*--all-targets.*-D warnings"]:
        assert any(re.search(pattern, line) for line in lines), f"no step runs {pattern!r}: {lines}"


def test_asks_for_read_access_only(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        assert "permissions" not in job, "a job widens the workflow's permissions"

"""CI hardening (issue 12, class 9): every action is pinned by a full commit SHA, the deploy workflow builds only
main, and no cache a pull request writes can be restored by the deploy build.

Before: every `uses:` named a movable tag (`actions/checkout@v4`), and pr.yml saved its recipe cache under the
same key prefix pages.yml restored from.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("name", ["pages.yml", "pr.yml"])
def test_every_action_is_pinned_by_commit_sha_with_its_tag(name: str) -> None:
    lines = [line.strip() for line in (WORKFLOWS / name).read_text().splitlines() if line.strip().startswith("uses:")]
    assert lines
    for line in lines:
        assert re.fullmatch(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+", line), line


def test_deploy_builds_only_main() -> None:
    pages = load("pages.yml")
    assert pages["on"]["push"] == {"branches": ["main"]}
    assert "pull_request" not in pages["on"] and "pull_request_target" not in pages["on"]
    assert pages["jobs"]["build"]["if"] == "github.ref == 'refs/heads/main'"


def test_pull_requests_run_without_secrets_or_write_token() -> None:
    pr = load("pr.yml")
    assert set(pr["on"]) == {"pull_request"}
    assert pr["permissions"] == {"contents": "read"}
    assert "secrets." not in yaml.safe_dump(pr)  # the parsed workflow, comments aside


def test_deploy_never_restores_a_cache_a_pull_request_writes() -> None:
    def cache_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
        return [s for s in steps(workflow) if s.get("uses", "").startswith("actions/cache")]

    pages, pr = load("pages.yml"), load("pr.yml")
    written_by_pr = [s["with"]["key"] for s in cache_steps(pr) if not s["uses"].startswith("actions/cache/restore")]
    restored_by_pages = [k for s in cache_steps(pages) for k in [s["with"]["key"], *s["with"].get("restore-keys", "").split()]]
    assert written_by_pr and restored_by_pages
    for key in restored_by_pages:
        prefix = key.split("${{")[0]
        assert all(not pr_key.startswith(prefix) for pr_key in written_by_pr), (key, written_by_pr)
    # setup-python / setup-node caches are shared by name with pull requests: the deploy build uses none.
    assert all("cache" not in s.get("with", {}) for s in steps(pages) if "setup-" in s.get("uses", ""))


def test_signing_key_only_in_the_signing_step() -> None:
    text = (WORKFLOWS / "pages.yml").read_text()
    assert text.count("secrets.MODELSHELF_SIGNING_KEY") == 1
    sign = next(s for s in steps(load("pages.yml")) if "secrets.MODELSHELF_SIGNING_KEY" in str(s.get("env", {})))
    assert "ssh-keygen -Y sign" in sign["run"] and "modelshelf verify site" in sign["run"]
    build = next(s for s in steps(load("pages.yml")) if "modelshelf build" in str(s.get("run", "")))
    assert "SIGNING" not in str(build.get("env", {}))

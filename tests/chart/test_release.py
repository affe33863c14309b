"""The release workflow (.github/workflows/release.yaml) publishes what the chart's defaults name.

A user who installs a released chart without `--set image.*` gets `image.repository:appVersion`; these tests
check, by parsing the workflow, that the release pushes exactly that image (from the Dockerfile, for amd64 and
arm64), pushes the chart next to it, signs both, tests first, and asks for no more permissions than it needs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from conftest import CHART_DIR, REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "release.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
RELEASE_VERSION = REPO_ROOT / "scripts" / "release-version"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    assert WORKFLOW.is_file(), f"{WORKFLOW.relative_to(REPO_ROOT)} is missing"
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    jobs = workflow["jobs"]
    assert len(jobs) == 1, f"one release job expected (ordering below is within it): {sorted(jobs)}"
    return next(iter(jobs.values()))["steps"]


def env(workflow: dict[str, Any], name: str) -> str:
    value = workflow.get("env", {}).get(name)
    assert isinstance(value, str) and value, f"workflow env {name} missing"
    return value


def step_index(steps: list[dict[str, Any]], pred, what: str) -> int:
    found = [i for i, s in enumerate(steps) if pred(s)]
    assert found, f"no step {what}"
    return found[0]


def uses(action: str):
    return lambda s: str(s.get("uses", "")).split("@")[0] == action


def runs(pattern: str):
    return lambda s: re.search(pattern, str(s.get("run", ""))) is not None


def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART_DIR / "values.yaml").read_text())


def chart_meta() -> dict[str, Any]:
    return yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())


# --------------------------------------------------------------------------------------------
# when and with which rights


def test_release_runs_only_on_version_tags(workflow: dict[str, Any]) -> None:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    assert on == {"push": {"tags": ["v*"]}}, on


def test_release_permissions_are_least(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read", "packages": "write", "id-token": "write"}
    for name, job in workflow["jobs"].items():
        assert "permissions" not in job, f"job {name} sets its own permissions: {job['permissions']}"


# --------------------------------------------------------------------------------------------
# the image: what the chart's defaults name


def test_default_image_is_what_the_release_pushes(workflow: dict[str, Any], steps: list[dict[str, Any]], render) -> None:
    image = env(workflow, "IMAGE")
    assert chart_values()["image"]["repository"] == image, "values.yaml image.repository != the workflow's IMAGE"

    build = steps[step_index(steps, uses("docker/build-push-action"), "docker/build-push-action")]
    version_step = steps[step_index(steps, lambda s: s.get("id") == "version", "with id: version")]
    assert re.search(r'scripts/release-version "\$GITHUB_REF_NAME"', version_step["run"]), version_step["run"]
    assert build["with"]["tags"].strip() == "${{ env.IMAGE }}:${{ steps.version.outputs.version }}"
    assert build["with"]["push"] is True

    # For the tag of this chart version, release-version prints appVersion: the tag the image is pushed with
    # is the tag the chart's default image names.
    app_version = chart_meta()["appVersion"]
    pushed_tag = subprocess.run(
        [str(RELEASE_VERSION), f"v{chart_meta()['version']}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert render().container["image"] == f"{image}:{pushed_tag}" == f"{image}:{app_version}"


def test_release_builds_both_architectures_from_the_dockerfile(steps: list[dict[str, Any]]) -> None:
    build_at = step_index(steps, uses("docker/build-push-action"), "docker/build-push-action")
    assert step_index(steps, uses("docker/setup-qemu-action"), "setting up QEMU") < build_at
    assert step_index(steps, uses("docker/setup-buildx-action"), "setting up buildx") < build_at
    assert step_index(steps, uses("docker/login-action"), "logging in to the registry") < build_at
    build = steps[build_at]["with"]
    assert build.get("file", "Dockerfile") == "Dockerfile" and build.get("context", ".") == "."
    assert {p.strip() for p in build["platforms"].split(",")} == {"linux/amd64", "linux/arm64"}


def test_release_tests_before_it_publishes(steps: list[dict[str, Any]]) -> None:
    test_at = step_index(steps, runs(r"(^|\s)scripts/test(\s|$)"), "running scripts/test")
    version_at = step_index(steps, lambda s: s.get("id") == "version", "with id: version")
    publishing = [
        i
        for i, s in enumerate(steps)
        if uses("docker/build-push-action")(s) or runs(r"helm push|cosign sign")(s)
    ]
    assert publishing and version_at < test_at < min(publishing)


# --------------------------------------------------------------------------------------------
# the chart, next to the image


def test_chart_is_pushed_next_to_the_image(workflow: dict[str, Any], steps: list[dict[str, Any]]) -> None:
    image = env(workflow, "IMAGE")
    registry, owner, _ = image.split("/", 2)
    assert env(workflow, "CHART_REGISTRY") == f"oci://{registry}/{owner}/charts"
    assert (REPO_ROOT / env(workflow, "CHART_DIR")).resolve() == CHART_DIR.resolve()
    push = steps[step_index(steps, runs(r"helm push"), "running helm push")]
    assert 'helm package "$CHART_DIR"' in push["run"]
    assert f'helm push "dist/{chart_meta()["name"]}-${{VERSION}}.tgz" "$CHART_REGISTRY"' in push["run"]
    assert push["env"]["VERSION"] == "${{ steps.version.outputs.version }}"
    # The chart is pushed with the Helm the chart tests run.
    assert env(workflow, "HELM_VERSION") == helm_python.helm_sdk_version()


def test_image_and_chart_are_signed_keyless(steps: list[dict[str, Any]]) -> None:
    install_at = step_index(steps, uses("sigstore/cosign-installer"), "installing cosign")
    signs = [(i, s) for i, s in enumerate(steps) if runs(r"cosign sign ")(s)]
    digests = {s["env"]["DIGEST"] for _, s in signs}
    assert digests == {"${{ steps.image.outputs.digest }}", "${{ steps.chart.outputs.digest }}"}, digests
    for i, s in signs:
        assert i > install_at
        assert "--yes" in s["run"] and "--key" not in s["run"], "keyless: no key, Sigstore's OIDC certificate"
        assert "@${DIGEST}" in s["run"], "sign the digest that was pushed, not a tag"
    verify = steps[step_index(steps, runs(r"cosign verify"), "verifying the signatures")]
    assert "--certificate-oidc-issuer https://token.actions.githubusercontent.com" in verify["run"]


# --------------------------------------------------------------------------------------------
# a tag is a self-consistent release


def test_chart_version_and_app_version_are_the_crate_version() -> None:
    meta = chart_meta()
    cargo = tomllib.loads((REPO_ROOT / "Cargo.toml").read_text())["package"]["version"]
    assert meta["version"] == meta["appVersion"] == cargo


def release_repo(tmp_path: Path, chart_version: str, app_version: str, cargo_version: str) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / "charts" / "canton-operator").mkdir(parents=True)
    shutil.copy2(RELEASE_VERSION, root / "scripts" / "release-version")
    (root / "charts" / "canton-operator" / "Chart.yaml").write_text(
        f'apiVersion: v2\nname: canton-operator\nversion: {chart_version}\nappVersion: "{app_version}"\n'
    )
    (root / "Cargo.toml").write_text(
        f'[package]\nname = "canton-operator"\nversion = "{cargo_version}"\n\n[dependencies]\nx = {{ version = "9.9.9" }}\n'
    )
    return root / "scripts" / "release-version"


@pytest.mark.parametrize(
    ("tag", "versions", "ok"),
    [
        ("v1.2.3", ("1.2.3", "1.2.3", "1.2.3"), True),
        ("v1.2.3-rc.1", ("1.2.3-rc.1", "1.2.3-rc.1", "1.2.3-rc.1"), True),
        ("v1.2.4", ("1.2.3", "1.2.3", "1.2.3"), False),
        ("v1.2.3", ("1.2.3", "1.2.2", "1.2.3"), False),
        ("v1.2.3", ("1.2.3", "1.2.3", "1.2.2"), False),
        ("1.2.3", ("1.2.3", "1.2.3", "1.2.3"), False),
        ("v1.2", ("1.2", "1.2", "1.2"), False),
    ],
)
def test_release_version_refuses_inconsistent_tags(tmp_path: Path, tag: str, versions: tuple[str, str, str], ok: bool) -> None:
    script = release_repo(tmp_path, *versions)
    result = subprocess.run([str(script), tag], capture_output=True, text=True)
    assert (result.returncode == 0) is ok, result
    if ok:
        assert result.stdout.strip() == tag[1:]


# --------------------------------------------------------------------------------------------
# the Dockerfile builds the binary the chart runs


def test_dockerfile_builds_what_the_chart_runs(render) -> None:
    """Read, not built (no Docker engine here): the final stage runs the binary the build stage compiled, as
    the user the chart's pod security context names, and the chart's first argument is its `run` command."""
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    froms = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    assert len(froms) == 2, "a build stage and a runtime stage"
    build, final = lines[froms[0] : froms[1]], lines[froms[1] :]
    stage = build[0].split()[-1]
    cargo = next(line for line in build if "cargo build" in line)
    profile = re.search(r"--profile[ =](\S+)", cargo)
    assert profile and "--locked" in cargo and "--bin canton-operator" in cargo, cargo
    profiles = tomllib.loads((REPO_ROOT / "Cargo.toml").read_text()).get("profile", {})
    assert profile.group(1) in profiles, f"Cargo.toml has no [profile.{profile.group(1)}]"
    workdir = next(line.split()[1] for line in build if line.upper().startswith("WORKDIR"))
    copy = next(line for line in final if line.upper().startswith("COPY"))
    src, dst = copy.split()[-2:]
    assert f"--from={stage}" in copy and src == f"{workdir}/target/{profile.group(1)}/canton-operator", copy
    assert yaml.safe_load(next(line for line in final if line.startswith("ENTRYPOINT")).split(None, 1)[1]) == [dst]
    user = next(line for line in final if line.startswith("USER")).split()[1]
    pod = render().deployment["spec"]["template"]["spec"]["securityContext"]
    assert user == f"{pod['runAsUser']}:{pod['runAsGroup']}"
    assert render().args[0] == "run"
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert "target" in ignored, "the build context must not carry a host target/ directory"

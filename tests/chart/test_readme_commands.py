"""The `helm install` / `helm upgrade --install` commands the READMEs show, run as written.

The command lines are read from README.md and charts/canton-operator/README.md themselves (every fenced `sh`
block, `\\` continuations joined), so they cannot drift from what the chart accepts. Each one's flags are
turned into values by Helm's own parsers (`--set`, `--set-string`, `--set-literal`, `--set-json`: strvals in
the Helm v4 SDK, the code `helm install` runs), merged in Helm's order, and rendered as an install: the values
pass the chart's values.schema.json, the templates render, and the rendered manifests are valid Kubernetes
objects of the chart's oldest declared release.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from conftest import CHART_DIR, KMS_VALUE, REPO_ROOT, deep_merge, render_chart

READMES = (REPO_ROOT / "README.md", CHART_DIR / "README.md")
# The published chart is this chart (the release workflow packages charts/canton-operator).
PUBLISHED_CHART = "oci://ghcr.io/canton-operator/charts/canton-operator"
LOCAL_CHARTS = {"charts/canton-operator", "./charts/canton-operator", PUBLISHED_CHART}

# How Helm turns each flag's argument into values; merged in this order after the values files
# (helm's values.Options.MergeValues: --set-json, --set, --set-string, --set-file, --set-literal).
PARSERS = {
    "--set-json": helm_python.parse_set_json,
    "--set": helm_python.parse_set_string,
    "--set-string": helm_python.parse_set_string_values,
    "--set-literal": helm_python.parse_set_literal,
}
FLAGS_WITH_ARGUMENT = {"-n", "--namespace", "--version", "-f", "--values", *PARSERS}
FLAGS_ALONE = {"--create-namespace", "--install", "--wait", "--atomic"}


@dataclass
class HelmInstall:
    readme: str
    line: int
    text: str
    release: str
    chart: str
    namespace: str = "default"
    value_files: list[str] = field(default_factory=list)
    sets: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.readme}:{self.line}: {self.text}"

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for path in self.value_files:
            values = deep_merge(values, yaml.safe_load((REPO_ROOT / path).read_text()) or {})
        for flag in PARSERS:
            for given, argument in self.sets:
                if given == flag:
                    values = deep_merge(values, PARSERS[flag](argument))
        return values


def shell_commands(readme: Path) -> list[tuple[int, str]]:
    """(line, command) of every command in the file's fenced `sh` blocks, continuations joined."""
    out: list[tuple[int, str]] = []
    in_block = False
    pending: list[str] = []
    start = 0
    for number, line in enumerate(readme.read_text().splitlines(), start=1):
        if line.startswith("```"):
            in_block = line.strip() in ("```sh", "```bash", "```shell") if not in_block else False
            continue
        if not in_block:
            continue
        if not pending:
            start = number
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        command = " ".join(part.strip() for part in pending).strip()
        pending = []
        if command and not command.startswith("#"):
            out.append((start, command))
    return out


def parse_helm_install(readme: Path, line: int, command: str) -> HelmInstall | None:
    """The command as `helm install`/`helm upgrade --install` reads it; None for other commands."""
    words = shlex.split(command, comments=True)
    if words[:2] == ["helm", "install"]:
        rest = words[2:]
    elif words[:2] == ["helm", "upgrade"] and "--install" in words:
        rest = [w for w in words[2:] if w != "--install"]
    else:
        return None
    positional: list[str] = []
    found = HelmInstall(readme=readme.relative_to(REPO_ROOT).as_posix(), line=line, text=command, release="", chart="")
    i = 0
    while i < len(rest):
        word = rest[i]
        flag, _, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if flag in FLAGS_WITH_ARGUMENT:
            if inline:
                argument = inline
            else:
                assert i + 1 < len(rest), f"{found}: {flag} has no argument"
                argument = rest[i + 1]
                i += 1
            if flag in ("-n", "--namespace"):
                found.namespace = argument
            elif flag in ("-f", "--values"):
                found.value_files.append(argument)
            elif flag in PARSERS:
                found.sets.append((flag, argument))
        elif word in FLAGS_ALONE:
            pass
        elif word.startswith("-"):
            pytest.fail(f"{found}: the test does not know the flag {word}; teach it how Helm reads it")
        else:
            positional.append(word)
        i += 1
    assert len(positional) == 2, f"{found}: expected a release name and a chart, got {positional}"
    found.release, found.chart = positional
    return found


def readme_installs() -> list[HelmInstall]:
    installs = []
    for readme in READMES:
        for line, command in shell_commands(readme):
            parsed = parse_helm_install(readme, line, command)
            if parsed is not None:
                installs.append(parsed)
    return installs


INSTALLS = readme_installs()


def _chart_kube_floor() -> str:
    declared = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=(\d+\.\d+\.\d+)-0", declared)
    assert match, declared
    return match.group(1)


def test_the_readmes_show_helm_installs() -> None:
    """Both READMEs' install lines are found: a reader that finds none would pass anything."""
    by_readme = {i.readme for i in INSTALLS}
    assert by_readme == {"README.md", "charts/canton-operator/README.md"}, [str(i) for i in INSTALLS]
    assert any(i.chart == PUBLISHED_CHART for i in INSTALLS)
    assert any(flag == "--set-literal" for i in INSTALLS for flag, _ in i.sets)


@pytest.mark.parametrize("install", INSTALLS, ids=str)
def test_readme_helm_install_works_as_written(chart: helm_python.Chart, install: HelmInstall) -> None:
    assert install.chart in LOCAL_CHARTS, f"{install}: unknown chart {install.chart}"
    values = install.values()
    try:
        rendered = render_chart(chart, values, namespace=install.namespace, name=install.release)
    except helm_python.HelmError as err:
        pytest.fail(f"{install}\nHelm refuses it: {err}")
    floor = _chart_kube_floor()
    for m in rendered:
        try:
            kubernetes_validate.validate(m.obj, floor, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{install}: {m.kind}/{m.name}: {err.message} at {list(err.absolute_path)}")
    # What the line says is what the operator gets: every --set* value reaches the Deployment.
    env = {e["name"]: e.get("value") for e in rendered.container.get("env", [])}
    kms = values.get("kms", {})
    if kms.get("enabled"):
        assert env["CANTON_TOPOLOGY_KMS_ENABLED"] == "true", install
        assert env["CANTON_TOPOLOGY_KMS_VALUE"] == kms["value"], install
        assert env["CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT"] == kms["serviceAccount"], install
    if "image" in values:
        image = rendered.container["image"]
        assert image.startswith(values["image"]["repository"] + ":"), (install, image)


def test_a_kms_value_survives_the_readme_flag_verbatim(chart: helm_python.Chart) -> None:
    """The READMEs' KMS lines pass the product page's value through unchanged. `--set-string` (what README.md
    once showed) reads its braces and commas as a list, which the chart's schema refuses."""
    kms_lines = [i for i in INSTALLS if any("kms.value" in argument for _, argument in i.sets)]
    assert {i.readme for i in kms_lines} == {"README.md", "charts/canton-operator/README.md"}
    for install in kms_lines:
        assert install.values()["kms"]["value"] == KMS_VALUE, install
    as_list = helm_python.parse_set_string_values(f"kms.value={KMS_VALUE}")
    assert not isinstance(as_list["kms"]["value"], str), as_list
    values = deep_merge(as_list, {"kms": {"enabled": True, "serviceAccount": "catalyst-canton-kms"}})
    with pytest.raises(helm_python.HelmValuesError):
        render_chart(chart, values)


# --------------------------------------------------------------------------------------------
# README.md's "two commands": the first, run exactly as written


def the_two_commands() -> list[str]:
    """The commands of the first `sh` block under README.md's "## The two commands"."""
    readme = REPO_ROOT / "README.md"
    text = readme.read_text()
    section = text.index("## The two commands")
    first_line = text[:section].count("\n") + 1
    block = [(line, c) for line, c in shell_commands(readme) if line > first_line]
    # The block ends at the first blank-line-separated `scripts/test`.
    commands = []
    for _, command in block:
        commands.append(command)
        if command == "scripts/test":
            break
    return commands


def test_the_two_commands_are_render_then_scripts_test() -> None:
    commands = the_two_commands()
    assert len(commands) == 2, commands
    assert commands[1] == "scripts/test"
    words = shlex.split(commands[0])
    cargo = words.index("cargo")
    # scripts/test builds with `cargo build --locked` (debug): the first command must build the same thing.
    assert words[cargo : cargo + 3] == ["cargo", "run", "--locked"], words
    assert not {"--release", "--profile", "--features", "--all-features"} & set(words), words
    script = (REPO_ROOT / "scripts" / "test").read_text()
    assert "\ncargo build --locked --quiet\n" in script


def test_the_first_command_runs_as_written_and_reuses_the_test_build() -> None:
    """Runs README.md's first command through the shell from the repository root, as a user would, and checks
    it prints the product page's configuration. Under scripts/test (which sets CANTON_OPERATOR_BIN after its
    `cargo build --locked`) it must also compile nothing: the two commands share one build."""
    command = the_two_commands()[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANTON_TOPOLOGY_KMS_")}
    done = subprocess.run(
        ["bash", "-c", command], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3600
    )
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    participant = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("participant"))
    pod = participant["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "catalyst-canton-kms"
    env_vars = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env_vars["ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS"] == (
        "canton.participants.participant.crypto.provider = kms\n"
        f"canton.participants.participant.crypto.kms = {KMS_VALUE}"
    )
    if os.environ.get("CANTON_OPERATOR_BIN"):
        assert "Compiling" not in done.stderr, f"the first command rebuilt what scripts/test built:\n{done.stderr}"

"""docker/Dockerfile, linted without a Docker engine, and the Warp kernel cache it warms."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

DOCKER = REPO_ROOT / "docker"


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def lint(dockerfile: Path, context: Path) -> list[str]:
    """What is wrong with `dockerfile` built from `context`: missing COPY sources, untagged FROM, root user, no ENTRYPOINT."""
    problems = []
    instructions = _instructions(dockerfile)
    known = {"FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "VOLUME", "ENTRYPOINT", "CMD", "EXPOSE", "LABEL", "HEALTHCHECK", "SHELL", "STOPSIGNAL"}
    problems += [f"unknown instruction {keyword}" for keyword, _ in instructions if keyword not in known]
    images = [arguments.split()[0] for keyword, arguments in instructions if keyword == "FROM"]
    if not images:
        problems.append("no FROM")
    problems += [f"FROM {image} has no fixed tag" for image in images if ":" not in image or image.endswith(":latest")]
    for keyword, arguments in instructions:
        if keyword in ("COPY", "ADD"):
            words = [w for w in shlex.split(arguments) if not w.startswith("--")]
            if "--from" in arguments:
                continue
            for source in words[:-1]:
                if not (context / source).exists():
                    problems.append(f"{keyword} source {source} does not exist in the build context")
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("the image runs as root: add USER <non-root user>")
    entrypoints = [arguments for keyword, arguments in instructions if keyword == "ENTRYPOINT"]
    if not entrypoints:
        problems.append("no ENTRYPOINT")
    return problems


def test_the_dockerfile_passes_the_lint():
    assert lint(DOCKER / "Dockerfile", REPO_ROOT) == []


def test_the_lint_finds_what_is_wrong(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nCOPY nothing_here \\\n  /opt/\nRUN echo hi\n")
    assert lint(bad, tmp_path) == [
        "FROM ubuntu has no fixed tag",
        "COPY source nothing_here does not exist in the build context",
        "the image runs as root: add USER <non-root user>",
        "no ENTRYPOINT",
    ]


def test_the_entrypoint_is_an_executable_script_that_parses():
    entrypoint = DOCKER / "entrypoint.sh"
    assert os.access(entrypoint, os.X_OK)
    assert subprocess.run(["bash", "-n", str(entrypoint)]).returncode == 0
    exec_form = [a for k, a in _instructions(DOCKER / "Dockerfile") if k == "ENTRYPOINT"][-1]
    assert exec_form == '["/opt/isaac_rl/docker/entrypoint.sh"]'


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is optional")
def test_hadolint_has_no_errors():
    result = subprocess.run(["hadolint", "--failure-threshold", "error", str(DOCKER / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def _modules(cache: Path) -> set[str]:
    return {p.name for p in cache.rglob("wp_*") if p.is_dir()}


def test_warm_cache_compiles_into_the_given_cache_dir_and_reuses_it(tmp_path):
    """What the image build runs: Warp's CPU kernels for Cartpole, in <--cache-dir>/warp."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO_ROOT / "scripts" / "warm_cache.py"), "--device", "cpu", "--num-envs", "2", "--tasks", "Cartpole"]
    # Warm the machine's default cache once (slow only on a fresh machine), then start from a copy of it.
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    default_cache = Path(re.search(r"cached afterwards in (\S+);", first.stderr).group(1))
    root = tmp_path / "cache"
    cache = root / "warp"
    shutil.copytree(default_cache, cache / default_cache.name)
    before = _modules(cache)
    result = subprocess.run([*command, "--cache-dir", str(root)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"cached afterwards in {cache / default_cache.name};" in result.stderr
    assert "warm_cache: Cartpole on cpu: built and stepped" in result.stdout
    assert _modules(cache) == before  # every kernel came from the given cache: nothing was compiled


@pytest.mark.gpu
def test_measure_compile_reports_cold_and_warm_starts_on_cuda(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "measure_compile.py"), "--device", "cuda:0", "--tasks", "Cartpole",
         "--num-envs", "256", "--cache-dir", str(tmp_path / "cold")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"Cartpole on cuda:0, 256 envs: cold [\d.]+s \(kernels [\d.]+s\), warm [\d.]+s", result.stdout)

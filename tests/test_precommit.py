"""The `vllm-compile-check` hook through the real `pre-commit`, as a user's GitOps repository runs it.

A snapshot of this working tree becomes a git repository that a user repository's
`.pre-commit-config.yaml` points at (`repo: <path>`, `rev: <sha>`); pre-commit builds the hook's
Python environment from it (`pip install .`, which needs the package index) and runs it on
`git commit`. PRE_COMMIT_HOME is a temporary folder, so nothing outside the test's folders changes.
The first commit pays for the install (about 20 s here); later ones take about a second.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PRE_COMMIT = BIN / "pre-commit"
HOOK_ID = "vllm-compile-check"
IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", "*.egg-info", ".pytest_cache",
                                 "build", "dist")


def git(*args: str, cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, f"git {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result


def snapshot_working_tree(target: Path, env: dict) -> str:
    """Copy what git would track from this working tree (committed or not) into a new repository
    and commit it; returns the commit's sha."""
    if (REPO / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
        target.mkdir()
        for name in filter(None, listed):
            source = REPO / name
            if source.is_file():          # skips files deleted in the working tree
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
    else:
        shutil.copytree(REPO, target, ignore=IGNORED)
    git("init", "-q", cwd=target, env=env)
    git("add", "-A", cwd=target, env=env)
    git("commit", "-q", "-m", "snapshot of the working tree", cwd=target, env=env)
    return git("rev-parse", "HEAD", cwd=target, env=env).stdout.strip()


@pytest.fixture(scope="module")
def hook(tmp_path_factory):
    assert PRE_COMMIT.is_file(), "pre-commit is not installed in the test environment (install the test extras)"
    root = tmp_path_factory.mktemp("precommit")
    (root / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    env = {**os.environ,
           "PRE_COMMIT_HOME": str(root / "pre-commit-home"),
           "VIRTUALENV_OVERRIDE_APP_DATA": str(root / "virtualenv-data"),
           "GIT_CONFIG_GLOBAL": str(root / "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
           "HF_HOME": str(root / "hf-home"), "HF_HUB_OFFLINE": "1",
           # The committing user's PATH need not hold vllm-compile: the hook brings its own.
           "PATH": os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != BIN)}
    sha = snapshot_working_tree(root / "hook-repo", env)
    return {"root": root, "env": env, "repo": root / "hook-repo", "sha": sha}


@pytest.fixture
def user_repo(hook, tmp_path):
    """A GitOps repository with specs/llama.yaml and its compiled artifacts, the hook installed."""
    env = hook["env"]
    repo = tmp_path / "gitops"
    (repo / "specs").mkdir(parents=True)
    shutil.copy(REPO / "specs" / "llama.yaml", repo / "specs" / "llama.yaml")
    compile_specs(repo, env)
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {hook['repo']}\n"
        f"    rev: {hook['sha']}\n"
        "    hooks:\n"
        f"      - id: {HOOK_ID}\n")
    git("init", "-q", cwd=repo, env=env)
    installed = subprocess.run([str(PRE_COMMIT), "install"], cwd=repo, env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    return repo


def compile_specs(repo: Path, env: dict) -> None:
    result = subprocess.run([str(BIN / "vllm-compile"), "compile", "specs/llama.yaml"], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def commit(repo: Path, env: dict, message: str) -> subprocess.CompletedProcess:
    git("add", "-A", cwd=repo, env=env)
    return git("commit", "-m", message, cwd=repo, env=env, check=False)


def commits(repo: Path, env: dict) -> int:
    return int(git("rev-list", "--count", "HEAD", cwd=repo, env=env).stdout)


def test_hook_is_declared():
    hooks = YAML(typ="safe", pure=True).load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == HOOK_ID)
    assert hook["entry"].split() == ["vllm-compile", "check"]
    assert hook["language"] == "python"
    # It checks the whole repository on every commit: an artifact-only or lock-only change counts too.
    assert hook["pass_filenames"] is False and hook["always_run"] is True


def test_committed_spec_with_fresh_artifacts_passes(hook, user_repo):
    result = commit(user_repo, hook["env"], "llama deployment")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"vllm-compile check\.+Passed", result.stdout + result.stderr)


def test_spec_edited_without_recompiling_is_refused(hook, user_repo):
    env = hook["env"]
    assert commit(user_repo, env, "llama deployment").returncode == 0
    spec = user_repo / "specs" / "llama.yaml"
    spec.write_text(spec.read_text().replace("max_model_len: 32768", "max_model_len: 16384"))
    refused = commit(user_repo, env, "shorter context")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert re.search(r"vllm-compile check\.+Failed", output)
    assert "specs/deploy/llama-chat/compose.yaml: 1 structural change(s)" in output
    assert "specs/deploy/llama-chat/docker-run.sh: differs" in output
    assert commits(user_repo, env) == 1
    # Recompiling and committing spec and artifacts together is accepted.
    compile_specs(user_repo, env)
    accepted = commit(user_repo, env, "shorter context, recompiled")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert commits(user_repo, env) == 2


def test_hand_edited_artifact_alone_is_refused(hook, user_repo):
    env = hook["env"]
    assert commit(user_repo, env, "llama deployment").returncode == 0
    compose = user_repo / "specs" / "deploy" / "llama-chat" / "compose.yaml"
    compose.write_text(compose.read_text().replace("restart: unless-stopped", "restart: always"))
    refused = commit(user_repo, env, "hot fix on the server")
    assert refused.returncode != 0, refused.stdout + refused.stderr

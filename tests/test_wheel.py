"""A non-editable install works outside the checkout: prompts and data travel in the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from conftest import REPO, SEEDS


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_wheel_installed_outside_the_checkout_answers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    wheels = tmp_path / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                  str(REPO)], tmp_path, env)
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("paper_assistant-*.whl"))
    # A fresh venv: the wheel, and this environment's dependencies (not its editable checkout) on a path.
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    py = target / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run([str(py), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], tmp_path, env)
    assert installed.returncode == 0, installed.stderr
    where = _run([str(py), "-c", "import assistant.prompts as p; print(p.__file__)"], tmp_path, env)
    assert str(site) in where.stdout and str(REPO) not in where.stdout, where.stdout + where.stderr
    data = tmp_path / "data"
    assistant = str(target / "bin" / "assistant")
    ingest = _run([assistant, "ingest", str(SEEDS), "--quiet", "--data-dir", str(data)], tmp_path, env)
    assert ingest.returncode == 0, ingest.stderr
    asked = _run([assistant, "ask", "How does LeanAgent do lifelong learning for formal theorem proving?",
                  "--provider", "extractive", "--data-dir", str(data)], tmp_path, env)
    assert asked.returncode == 0, asked.stderr
    assert "LeanAgent" in asked.stdout and "[1]" in asked.stdout

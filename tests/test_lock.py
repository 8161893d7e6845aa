"""The committed locks agree: pylock.toml (PEP 751) and requirements.lock (pip's
hash-checked requirements) are exactly what uv.lock exports, and uv.lock still satisfies
pyproject.toml, so a fresh machine installs what was tested."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
UV = Path(sys.executable).parent / "uv"


def _uv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(UV), *args, "--offline"], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_uv_lock_matches_pyproject():
    done = _uv("lock", "--check")
    assert done.returncode == 0, done.stderr


def test_pylock_is_what_uv_lock_exports():
    done = _uv(
        "export",
        "--quiet",
        "--format",
        "pylock.toml",
        "--locked",
        "--extra",
        "dev",
        "--no-header",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (ROOT / "pylock.toml").read_text(encoding="utf-8")


def test_requirements_lock_is_what_uv_lock_exports():
    done = _uv(
        "export",
        "--quiet",
        "--format",
        "requirements-txt",
        "--locked",
        "--extra",
        "dev",
        "--no-header",
        "--no-emit-project",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (ROOT / "requirements.lock").read_text(encoding="utf-8")

"""The committed locks agree: pylock.toml (PEP 751) and requirements.lock (pip's
hash-checked requirements, what make install installs) are exactly what uv.lock exports,
and uv.lock still satisfies pyproject.toml, so a fresh machine installs what was tested."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
UV = Path(sys.executable).parent / "uv"


def _uv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(UV), *args, "--offline"], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_uv_lock_matches_pyproject():
    done = _uv("lock", "--check", "--python", "3.11")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("lock", "options"),
    [
        ("pylock.toml", ("--format", "pylock.toml")),
        ("requirements.lock", ("--format", "requirements-txt", "--no-emit-project")),
    ],
)
def test_each_exported_lock_is_what_uv_lock_exports(lock, options):
    done = _uv("export", "--quiet", *options, "--locked", "--extra", "dev", "--no-header")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (ROOT / lock).read_text(encoding="utf-8")


def test_the_makefile_bootstraps_the_locked_uv():
    # `make lock` on a machine without the venv installs UV_VERSION before anything is
    # locked; it must be the uv the lock installs everywhere else
    (pinned,) = re.findall(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    (locked,) = re.findall(r"^uv==(\S+) ", (ROOT / "requirements.lock").read_text(), re.M)
    assert pinned == locked

#!/usr/bin/env python3
"""Set up and run Boxoffice with nothing but Python 3.11+.

    python3 dev.py demo     # make .venv, install, start the demo (embedded PostgreSQL)
    python3 dev.py test     # make .venv, install, run ruff and the whole test suite
    python3 dev.py ARGS...  # any other `boxoffice` command, e.g. `serve --port 9000`,
                            # `user add alice --role clerk`, `venue import plan.json`

The virtual environment is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py runs before the venv exists)
        sys.exit("Boxoffice needs Python 3.11 or newer")
    if not (BIN / "python").exists() and not (BIN / "python.exe").exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / ".boxoffice-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print("installing Boxoffice and its dependencies into .venv ...", flush=True)
        pip = [
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
        stamp.write_text(digest)


def run(argv: list[str]) -> int:
    python = str(BIN / "python")
    if argv[:1] == ["test"]:
        lint = subprocess.run([python, "-m", "ruff", "check", str(ROOT)], cwd=ROOT)
        tests = subprocess.run([python, "-m", "pytest", *argv[1:]], cwd=ROOT)
        return lint.returncode or tests.returncode
    return subprocess.run([str(BIN / "boxoffice"), *(argv or ["demo"])], cwd=ROOT).returncode


if __name__ == "__main__":
    ensure_environment()
    try:
        sys.exit(run(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)

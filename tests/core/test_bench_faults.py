"""The fault campaign runs end to end in a short form: killed twice, resumed, bit-identical."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_faults.py"


def test_a_short_fault_campaign_ends_bit_identical_with_no_temp_file():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--kills", "2", "--steps", "30"],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["kills"] == 2 and figures["bit_identical"] is True
    assert figures["temp_files_left"] == 0

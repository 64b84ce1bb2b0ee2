"""The one JSON summary every benchmark writes into: ``bench/results/latest.json``.

Each benchmark owns one section (``issuance``, ``acme``, ``notices``, ``vendor``, ``verify``,
``ct``, …) and replaces only that section, so that ``make bench`` running several scripts
ends with one file holding all of them. A section is plain JSON: figures, ratios, targets
and whether each was met, with the load average and the machine it was measured on.

    from results import record          # bench/ is on sys.path when a bench script runs
    record("issuance", {"http": {...}, "targets": {...}})

The file is rewritten atomically (temporary file + rename), and a lock file serializes
benchmarks that finish at the same moment. ``CERTDESK_BENCH_RESULTS`` names another file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent / "results" / "latest.json"


def results_path() -> Path:
    return Path(os.environ.get("CERTDESK_BENCH_RESULTS", DEFAULT))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """What the figures were measured on (the CPU model, cores, Python)."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cpus": os.cpu_count(), "python": platform.python_version()}


def record(section: str, data: dict[str, Any], *, load_at_start: list[float] | None = None) -> Path:
    """Replace ``section`` of the summary with ``data`` (plus when, load average, machine)."""
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": {"start": load_at_start, "end": load_average()},
        "machine": machine(),
        **data,
    }
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        summary: dict[str, Any] = {}
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            summary = json.loads(path.read_text())
        summary[section] = entry
        summary["updated_at"] = entry["measured_at"]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, path)
    return path

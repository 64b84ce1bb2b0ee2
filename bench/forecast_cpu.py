"""The dashboard's forecast in process, CPU time per call (issue 16): ``inventory.forecast()``
and its weekly counts both ways (every notAfter counted in Python, one aggregate query), on the
SQLite certdesk of bench/console.py (``--certs`` issued through the services).

Run back to back on two trees for a before/after of the whole call (the aggregate is measured
only where it exists): ``PYTHONPATH=/tmp/base/src .venv/bin/python bench/forecast_cpu.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import console
from certdesk.core import forecast
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.store import certificates as cert_store


def cpu_ms(fn: Callable[[], object], calls: int) -> float:
    """Median CPU milliseconds per call (process time: steadier than wall on a busy host)."""
    times = []
    for _ in range(calls):
        began = time.process_time()
        fn()
        times.append((time.process_time() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--certs", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    svc = Services(Runtime.open(console.settings_for(Path(tempfile.mkdtemp()) / "data")))
    data = console.populate(svc, args.certs, 20)
    who = data.operator
    now = svc.rt.clock()
    until = now + timedelta(days=forecast.DEFAULT_HORIZON_DAYS)

    def in_python() -> object:
        with svc.rt.reads() as s:
            return forecast.weekly(cert_store.expiries(s, None, now, until), now)

    fns: dict[str, Callable[[], object]] = {
        "inventory.forecast()": lambda: svc.inventory.forecast(who),
        "weeks: every notAfter counted in Python": in_python,
    }
    if importlib.util.find_spec("certdesk.store.forecast") is not None:
        from certdesk.store import forecast as forecast_store

        def in_sql() -> object:
            with svc.rt.reads() as s:
                counts = forecast_store.weekly_counts(
                    s, None, now, until, forecast.week_bounds(now)
                )
            return forecast.weeks_of(counts, now)

        assert in_sql() == in_python()
        fns["weeks: one aggregate query"] = in_sql
    for fn in fns.values():
        fn()
    print(f"{args.certs} certificates; load average {os.getloadavg()[0]:.2f}")
    for name, fn in fns.items():
        print(f"| {name} | {cpu_ms(fn, args.calls):.2f} ms CPU |")
    svc.rt.close()


if __name__ == "__main__":
    main()

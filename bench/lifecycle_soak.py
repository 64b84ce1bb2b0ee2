"""Worker passes under issuance load (issue 16, lever 6): pass seconds and RSS over time.

Per backend, in a fresh database: the synthetic inventory of bench/lifecycle.py (``--size``
certificates, a steady state a year into operation), then for ``--seconds``, side by side:

* an **issuer** process issuing 90-day certificates through ``IssuanceService.issue`` (the
  real pipeline, in process, cert services as the actor) at up to ``--rate`` per second;
* a **worker** process running ``Worker.run_pass()`` every ``--interval`` seconds and
  recording, per pass, its seconds, the notices job's seconds and its RSS (``VmRSS``).

Both run with the bench's fixed clock (``NOW``, 10:00 Pacific), as in the issue's load: every
certificate issued is 90 days long, so its 90-day notice is due at 17:00 Pacific that day —
until then each pass must find it not due. ``--baseline-src`` runs the same soak against
another tree at the same time, in its own database (so both share the machine's load).

Run: ``.venv/bin/python bench/lifecycle_soak.py --backends postgresql,sqlite --size 100000
--seconds 300 --baseline-src /tmp/base/src``. THE INVENTORY IS TEST DATA (bench/lifecycle.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_child(url: str, data_dir: str, port: int, seconds: float, interval: float) -> None:
    """Passes until ``seconds`` are over; one JSON line per pass."""
    from certdesk.jobs.worker import Worker
    from certdesk.services.registry import Services
    from certdesk.services.runtime import Runtime
    from lifecycle import NOW, settings_for

    svc = Services(Runtime.open(settings_for(url, Path(data_dir).parent, port), lambda: NOW))
    worker = Worker(svc, worker_id="soak")
    started = time.perf_counter()
    print("SOAK " + json.dumps({"t": 0.0, "rss_mb": _rss_mb()}), flush=True)
    while time.perf_counter() - started < seconds:
        report = worker.run_pass()
        print(
            "SOAK "
            + json.dumps(
                {
                    "t": time.perf_counter() - started,
                    "pass_s": report.seconds,
                    "notices_s": report.job_seconds.get("notices", 0.0),
                    "rss_mb": _rss_mb(),
                    "errors": report.errors[:3],
                }
            ),
            flush=True,
        )
        time.sleep(interval)
    svc.rt.close()


def issuer_child(url: str, data_dir: str, port: int, seconds: float, rate: float) -> None:
    """90-day certificates through the real pipeline, at most ``rate`` per second."""
    from certdesk.services.pki.issuance import IssueCommand, Platform
    from certdesk.services.registry import Services
    from certdesk.services.runtime import Runtime
    from issuance import OPERATOR, make_csr
    from lifecycle import NOW, settings_for

    svc = Services(Runtime.open(settings_for(url, Path(data_dir).parent, port), lambda: NOW))
    cmd = IssueCommand(org_code="org0", csr=make_csr(), platform=Platform.VIRTUAL, days=90)
    started = time.perf_counter()
    issued = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        if issued >= rate * elapsed:
            time.sleep(0.01)
            continue
        svc.issuance.issue(OPERATOR, cmd)
        issued += 1
    svc.rt.close()
    done = {"issued": issued, "seconds": time.perf_counter() - started}
    print("SOAK " + json.dumps(done), flush=True)


def run(backend: str, size: int, seconds: float, rate: float, interval: float) -> dict[str, Any]:
    """One soak in this process's tree (PYTHONPATH): load, then issuer and worker side by side."""
    from lifecycle import Population, database, fixtures, load, settings_for, smtp_server

    with (
        tempfile.TemporaryDirectory(prefix="certdesk-bench-soak-") as tmp_name,
        smtp_server() as (port, _sink),
    ):
        tmp = Path(tmp_name)
        with database(backend, tmp) as url:
            settings = settings_for(url, tmp, port)
            certs, _notices = load(url, Population(size, fixtures(settings)))
            common = [url, str(settings.data_dir), str(port), str(seconds)]
            me = [sys.executable, __file__]
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            issuer = subprocess.Popen(
                [*me, "--issuer-child", *common, str(rate)], stdout=subprocess.PIPE, env=env
            )
            worker = subprocess.run(
                [*me, "--worker-child", *common, str(interval)],
                capture_output=True,
                text=True,
                check=False,
                env=env,
            )
            out, _ = issuer.communicate(timeout=seconds + 120)
            if worker.returncode or issuer.returncode:
                raise SystemExit(f"soak child failed ({backend}):\n{worker.stderr[-3000:]}")
            passes = [
                _soak(line) for line in worker.stdout.splitlines() if line.startswith("SOAK ")
            ]
            issued = [_soak(line) for line in out.decode().splitlines() if line.startswith("SOAK ")]
            return {
                "backend": backend,
                "certificates": certs,
                "issued": issued[-1]["issued"],
                "passes": passes,
            }


def _soak(line: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(line.removeprefix("SOAK "))
    return found


def _minute_rows(label: str, r: dict[str, Any], seconds: float) -> list[list[str]]:
    passes = [p for p in r["passes"] if "pass_s" in p]
    rows = []
    for start in range(0, int(seconds), 60):
        inside = [p for p in passes if start <= p["t"] - p["pass_s"] < start + 60]
        if not inside:
            continue
        rows.append(
            [
                r["backend"],
                label,
                f"{start // 60}-{start // 60 + 1}",
                str(len(inside)),
                f"{statistics.median(p['pass_s'] for p in inside):.2f}",
                f"{max(p['pass_s'] for p in inside):.2f}",
                f"{statistics.median(p['notices_s'] for p in inside):.3f}",
                f"{inside[-1]['rss_mb']:.0f}",
            ]
        )
    return rows


def report(results: list[tuple[str, dict[str, Any]]], seconds: float) -> None:
    print("\n| backend | tree | minute | passes | pass s (median) | pass s (max) "
          "| notices job s (median) | RSS MB at the minute's end |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, r in results:
        for row in _minute_rows(label, r, seconds):
            print("| " + " | ".join(row) + " |")
    print()
    for label, r in results:
        rss = [p["rss_mb"] for p in r["passes"]]
        errors = {e for p in r["passes"] for e in p.get("errors", [])}
        print(
            f"{r['backend']} {label}: {r['certificates']:,} loaded, {r['issued']:,} issued "
            f"during the soak; RSS {rss[0]:.0f} MB before the first pass, {rss[1]:.0f} after "
            f"it, {rss[-1]:.0f} at the end (max {max(rss):.0f}); errors: {sorted(errors) or 0}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--rate", type=float, default=150, help="issuances per second, at most")
    parser.add_argument("--interval", type=float, default=2, help="seconds between passes")
    parser.add_argument("--baseline-src", help="another tree's src, soaked at the same time")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--run", nargs=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker-child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--issuer-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_child:
        url, data_dir, port, seconds, interval = args.worker_child
        worker_child(url, data_dir, int(port), float(seconds), float(interval))
        return
    if args.issuer_child:
        url, data_dir, port, seconds, rate = args.issuer_child
        issuer_child(url, data_dir, int(port), float(seconds), float(rate))
        return
    if args.run:
        r = run(args.run[0], args.size, args.seconds, args.rate, args.interval)
        print("SOAK " + json.dumps(r))
        return
    trees = [("this tree", os.environ.get("PYTHONPATH", ""))]
    if args.baseline_src:
        trees.append(("baseline", f"{args.baseline_src}:{HERE}"))
    results: list[tuple[str, dict[str, Any]]] = []
    for backend in args.backends.split(","):
        print(f"{backend}: load average {os.getloadavg()[0]:.2f}", flush=True)
        procs = [
            (
                label,
                subprocess.Popen(
                    [sys.executable, __file__, "--run", backend, *_passed(args)],
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONPATH": path} if path else dict(os.environ),
                ),
            )
            for label, path in trees
        ]
        for label, proc in procs:
            out, _ = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"soak failed: {backend} {label}")
            lines = [x for x in out.splitlines() if x.startswith("SOAK ")]
            results.append((label, _soak(lines[-1])))
        print(f"{backend}: done, load average {os.getloadavg()[0]:.2f}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    report(results, args.seconds)


def _passed(args: argparse.Namespace) -> list[str]:
    return [
        *("--size", str(args.size), "--seconds", str(args.seconds)),
        *("--rate", str(args.rate), "--interval", str(args.interval)),
    ]


if __name__ == "__main__":
    main()

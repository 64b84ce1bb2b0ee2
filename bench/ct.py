"""CT monitoring throughput: log entries certdesk reads, proves and judges per second.

A log of ``--entries`` entries (default 100,000) is built the way the tests build theirs
(tests/world/ctlog.py: certificates and precertificates signed by a throw-away CA, the RFC
6962 Merkle tree, ECDSA-signed heads) and served on 127.0.0.1 by a child process (so that
the server does not share the reader's interpreter), as an RFC 6962 log (``get-entries``
pages of ``--page`` entries, like public logs) and as a static-CT log (256-entry data tiles).
About 1 % of the entries name a state name (half of those precertificates), a few of them
certdesk's own, the rest other names of the world.

Side by side, in one run, for each kind of log:

(a) fetch: the HTTP requests and JSON/tile decoding alone (the transport's ceiling);
(b) parse: (a) plus certdesk's TLS-struct parsing, leaf hashes and the compact range;
(c) certdesk: ``CtWatch.run`` from position 0 to the head (signature and consistency checks,
    judging, findings and their mail, position saved every ``--batch`` entries) on SQLite
    and on PostgreSQL.

Prints a table and writes the figures under ``"ct"`` in bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

import results

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def _world() -> Any:
    sys.path[:0] = [str(TESTS)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from world import ctlog
    return ctlog


def build_log(ctlog: Any, entries: int, page: int) -> tuple[Any, list[Any]]:
    """The log, and certdesk-side facts: (log, [certdesk-issued certificates to import])."""
    ca = ctlog.Authority(name="Bench Elsewhere CA")
    world_certs = [ca.certificate(f"host{i}.example{i % 97}.net") for i in range(400)]
    state = [ca.certificate(f"www{i}.dmv.ca.gov") for i in range(20)]
    pres = [ca.precertificate(f"app{i}.chp.ca.gov") for i in range(20)]
    log = ctlog.TestLog()
    log.page = page
    for i in range(entries):
        if i % 200 == 0:
            log.add_certificate(state[(i // 200) % len(state)], ca.cert)
        elif i % 200 == 100:
            pre, final = pres[(i // 200) % len(pres)]
            log.add_precertificate(pre, final, ca)
        else:
            log.add_certificate(world_certs[i % len(world_certs)], ca.cert)
    log.publish()
    log.mth(0, entries)  # the server answers from the memo
    return log, [ca]


def _serve(log: Any, ctlog: Any, port_to: Any) -> None:
    with ctlog.serving(log) as served:
        port_to.send(served.url)
        while True:
            time.sleep(3600)


@contextmanager
def served(log: Any, ctlog: Any) -> Iterator[str]:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(log, ctlog, child), daemon=True)
    proc.start()
    try:
        yield parent.recv()
    finally:
        proc.terminate()
        proc.join(5)


def _timed(work: Callable[[], int]) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    n = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "entries": n,
        "seconds": round(wall, 3),
        "per_second": round(n / wall),
        "cpu_us_per_entry": round(cpu / n * 1e6, 1),
    }


def fetch_only(url: str, size: int, page: int, *, tiled: bool, parse: bool) -> int:
    from certdesk.core.ct_entries import parse_get_entry, parse_tile, tile_path
    from certdesk.core.ct_merkle import CompactRange

    compact = CompactRange()
    n = 0
    with httpx.Client() as client:
        if tiled:
            for t in range((size + 255) // 256):
                width = min(256, size - t * 256)
                path = f"{url}/tile/data/{tile_path(t)}" + ("" if width == 256 else f".p/{width}")
                data = client.get(path).content
                if parse:
                    tile = list(parse_tile(t * 256, data))
                    compact.extend(e.leaf_hash for e in tile)
                n += width
        else:
            start = 0
            while start < size:
                items = client.get(
                    f"{url}/ct/v1/get-entries", params={"start": start, "end": size - 1}
                ).json()["entries"]
                if parse:
                    entries = [parse_get_entry(start + i, x) for i, x in enumerate(items)]
                    compact.extend(e.leaf_hash for e in entries)
                start += len(items)
                n += len(items)
    return n


def certdesk_pass(
    url: str, backend: str, tmp: Path, *, tiled: bool, batch: int
) -> tuple[int, dict[str, Any]]:
    from certdesk import logs
    from certdesk.config import Settings
    from certdesk.services.registry import Services
    from certdesk.services.runtime import Runtime
    from certdesk.services.setup import LOCAL_OPERATOR, initialize

    sys.path[:0] = [str(TESTS)]
    from conftest import scratch_database  # the tests' scratch databases (SQLite file, PG)

    with scratch_database(backend, tmp, "ctbench") as db:
        settings = Settings(data_dir=tmp / "data", database_url=db, ca_passphrase="bench")
        logs.configure(settings, one_shot=True)  # warnings only: the table is the output
        svc = Services(Runtime.open(settings))
        try:
            initialize(svc, with_token=False)
            svc.orgs.create(
                LOCAL_OPERATOR, "dmv", "DMV", self_managed=False, grants=["zone:dmv.ca.gov"]
            )
            svc.orgs.create(
                LOCAL_OPERATOR, "chp", "CHP", self_managed=False, grants=["zone:chp.ca.gov"]
            )
            pem = (tmp / "key.pem").read_bytes()
            svc.ct_logs.add(LOCAL_OPERATOR, "bench", url, pem, tiled=tiled, start=0)
            report: dict[str, Any] = {}

            def work() -> int:
                r = svc.ct_watch.run(LOCAL_OPERATOR, batch=batch)
                report.update(r.as_dict())
                if r.errors:
                    raise SystemExit(f"ct bench: {r.errors}")
                return r.read

            return 0, {**_timed(work), "findings": report["findings"]}
        finally:
            svc.rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=256, help="get-entries page size")
    parser.add_argument("--batch", type=int, default=1000, help="entries per transaction")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    ctlog = _world()
    started = time.perf_counter()
    log, _ = build_log(ctlog, args.entries, args.page)
    print(
        f"log of {args.entries} entries built in {time.perf_counter() - started:.1f}s", flush=True
    )
    out: dict[str, Any] = {
        "entries": args.entries,
        "page": args.page,
        "batch": args.batch,
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="certdesk-ct-bench-") as tmp, served(log, ctlog) as url:
        (Path(tmp) / "key.pem").write_bytes(log.public_pem)
        for tiled in (False, True):
            kind = "static-ct" if tiled else "rfc6962"
            runs: dict[str, Any] = {}
            for name, parse in (("(a) fetch", False), ("(b) fetch+parse", True)):
                runs[name] = _timed(
                    partial(fetch_only, url, args.entries, args.page, tiled=tiled, parse=parse)
                )
            for backend in args.backends.split(","):
                where = Path(tmp) / f"{kind}-{backend}"
                where.mkdir()
                (where / "key.pem").write_bytes(log.public_pem)
                _, runs[f"(c) certdesk {backend}"] = certdesk_pass(
                    url, backend, where, tiled=tiled, batch=args.batch
                )
            out["runs"][kind] = runs
    print()
    print(f"CT entries per second, {args.entries} entries, page {args.page}, batch {args.batch}")
    print(f"{'log':10} {'run':26} {'entries/s':>10} {'s':>7} {'CPU µs/entry':>13} {'vs (a)':>7}")
    for kind, runs in out["runs"].items():
        base = runs["(a) fetch"]["per_second"]
        for name, r in runs.items():
            ratio = r["per_second"] / base
            print(
                f"{kind:10} {name:26} {r['per_second']:>10} {r['seconds']:>7}"
                f" {r['cpu_us_per_entry']:>13} {ratio:>7.2f}"
            )
    path = results.record("ct", out)
    print(f'\nwritten to {path} (key "ct")')


if __name__ == "__main__":
    main()

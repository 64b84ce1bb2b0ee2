"""Endpoints verified per second (R14): certdesk's verification side by side with ``sslscan``
and an ``openssl s_client`` loop, on the same few hundred TLS servers on loopback.

The servers: one child process (asyncio, one listening socket per endpoint) serving a
certificate from a throw-away CA (trustme), TLS 1.2 and 1.3, answering an HTTP request with
an HSTS header. Every tool gets the same endpoints and the same parallelism (``--jobs``):

- certdesk: ``Verification.check`` (the service ``certdesk verify`` calls, the inventory looked
  up, the check recorded in SQLite): the main handshake with the chain and OCSP request, one
  handshake per protocol version, TLS 1.2 with forward-secret suites only, and an HTTP GET;
- ``sslscan`` (Debian), default scan (every cipher suite and group enumerated) and a light one
  (``--no-ciphersuites --no-groups …``: versions and certificate, certdesk's question);
- ``openssl s_client -showcerts`` once per endpoint: one handshake, the chain only — the floor
  of a process-per-endpoint checker.

Writes ``bench/results/latest.json`` (key ``verify``) and prints a table.

    python bench/verify.py [--endpoints 300] [--jobs 8] [--sslscan-sample 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import trustme

from certdesk.config import Settings
from certdesk.core.endpoints import Target
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
NAME = "www.bench.ca.gov"


def serve(chain: str, key: str, ports: list[int]) -> None:
    """The child: TLS servers on ``ports`` until killed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(chain, key)
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
        b"Strict-Transport-Security: max-age=63072000\r\n\r\nok"
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            if line.startswith(b"GET") or line.startswith(b"HEAD"):
                writer.write(answer)
                await writer.drain()
        except (OSError, TimeoutError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [
            await asyncio.start_server(handle, "127.0.0.1", p, ssl=ctx, backlog=64) for p in ports
        ]
        print("ready", flush=True)
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def free_ports(n: int) -> list[int]:
    import socket

    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def timed(jobs: int, items: Sequence[int], one: Callable[[int], bool]) -> dict[str, float]:
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        ok = sum(pool.map(one, items))
    seconds = time.perf_counter() - began
    return {
        "endpoints": len(items),
        "ok": ok,
        "seconds": round(seconds, 3),
        "per_second": round(len(items) / seconds, 1),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="certdesk-bench-verify-"))
    ca = trustme.CA()
    cert = ca.issue_cert(NAME)
    chain, key = tmp / "chain.pem", tmp / "key.pem"
    chain.write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    roots = tmp / "roots.pem"
    roots.write_bytes(ca.cert_pem.bytes())
    ports = free_ports(args.endpoints)
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(chain), str(key), ",".join(map(str, ports))],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        settings = Settings(
            data_dir=tmp / "var",
            ca_passphrase="bench-passphrase",
            verify_allow_networks=("127.0.0.0/8",),
            verify_ca_file=roots,
            verify_concurrency=args.jobs,
        )
        svc = Services(Runtime.open(settings))
        initialize(svc, with_token=False)
        svc.verification.reach.roots()  # the trust store is read once per process

        def certdesk(port: int) -> bool:
            report = svc.verification.check(Target("127.0.0.1", port), NAME, None)
            return report.verdict.severity.label in ("ok", "note", "warning")

        def s_client(port: int) -> bool:
            done = subprocess.run(
                ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", NAME,
                 "-showcerts", "-CAfile", str(roots), "-verify_return_error"],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
            )  # fmt: skip
            return done.returncode == 0

        def sslscan(light: bool) -> Callable[[int], bool]:
            extra = (
                ["--no-ciphersuites", "--no-groups", "--no-fallback", "--no-heartbleed",
                 "--no-compression", "--no-renegotiation", "--no-cipher-details"]
                if light else []
            )  # fmt: skip

            def one(port: int) -> bool:
                done = subprocess.run(
                    ["sslscan", "--no-colour", f"--sni-name={NAME}", *extra, f"127.0.0.1:{port}"],
                    stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                )  # fmt: skip
                return done.returncode == 0 and b"TLSv1.3" in done.stdout

            return one

        results: dict[str, dict[str, float]] = {}
        results["certdesk verify"] = timed(args.jobs, ports, certdesk)
        results["openssl s_client loop"] = timed(args.jobs, ports, s_client)
        if shutil.which("sslscan"):
            results["sslscan (versions + certificate)"] = timed(args.jobs, ports, sslscan(True))
            sample = ports[: args.sslscan_sample]
            results["sslscan (default: every suite)"] = timed(args.jobs, sample, sslscan(False))
        svc.rt.close()
    finally:
        child.kill()
        child.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    base = results["certdesk verify"]["per_second"]
    return {
        "endpoints": args.endpoints,
        "jobs": args.jobs,
        "cpus": os.cpu_count(),
        "openssl": ssl.OPENSSL_VERSION,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
        "ratio_to_certdesk": {k: round(v["per_second"] / base, 2) for k, v in results.items()},
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], [int(p) for p in sys.argv[4].split(",")])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--sslscan-sample", type=int, default=60)
    args = parser.parse_args()
    out = run(args)
    print(f"{args.endpoints} TLS endpoints on loopback, {args.jobs} at a time")
    print(f"{'tool':<36}{'endpoints':>10}{'ok':>6}{'seconds':>10}{'per s':>9}{'ratio':>8}")
    for name, r in out["results"].items():  # type: ignore[attr-defined]
        ratio = out["ratio_to_certdesk"][name]  # type: ignore[index]
        print(
            f"{name:<36}{r['endpoints']:>10}{r['ok']:>6}{r['seconds']:>10}"
            f"{r['per_second']:>9}{ratio:>8}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    merged["verify"] = out
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()

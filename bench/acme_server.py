"""ACME server throughput: complete orders per second, certdesk's ACME server against pebble.

One run, one client library (certbot's ``acme``), the same client code for both servers:
each order is newOrder → two authorizations answered by http-01 → polling them valid →
finalize → polling the order valid → downloading the certificate, for two fresh names (no
authorization reuse on either side), an EC P-256 key per order. ``C`` client threads share
one account (each thread its own ``ClientNetwork``, so its own nonces) and order in a loop
for ``--seconds``; completed orders, their finalize latency (finalize request until the
order is ``valid``) and every error are counted.

* certdesk: ``certdesk init`` + a self-managed organization with a zone grant + an EAB key,
  then ``certdesk serve`` (``--workers`` default: one per core) on a loopback port, SQLite
  FULL, its validation authority pointed at an http-01 responder of this process
  (``CERTDESK_ACME_VA_ADDRESS``/``_HTTP_PORT``: a real validation of every challenge),
  authorization reuse off and the rate limits lifted; at concurrency 1, 2, 16, 64.
* pebble (Debian's): ``PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0``,
  EAB required, restarted for every run (its memory store slows down and can deadlock at 4+
  concurrent clients); at concurrency 1 and 2.

The runs alternate (pebble c, certdesk c, …) so that load swings hit both. Writes its section
of bench/results/latest.json. Usage: ``.venv/bin/python bench/acme_server.py [--seconds S]``
(not ``bench/acme.py``: that name would hide the ``acme`` package from every bench script).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from acme import client, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWK, JWKEC

import results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ca" / "acme"))
sys.path.insert(0, str(ROOT / "tests"))

from vendor_world import registered, running_pebble  # noqa: E402

from world.acme import Responder  # noqa: E402

BIN = Path(sys.executable).parent
ORG = "bench"
ZONE = "bench.ca.gov"
POLL = 0.01  # seconds between polls of an authorization or an order
CERTDESK_C = (1, 2, 16, 64)
PEBBLE_C = (1, 2)
TARGET_RATIO = 1.5  # certdesk / pebble at equal concurrency
FINALIZE_P95_MS = 300.0


class BenchError(RuntimeError):
    pass


@dataclass
class Run:
    orders: int = 0
    seconds: float = 0.0
    finalize_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.finalize_ms:
            return float("nan")
        ordered = sorted(self.finalize_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Server:
    """What the client needs: the directory, an account, how to answer http-01."""

    directory_url: str
    key: JWK
    account_url: str
    verify: str | bool
    publish: Callable[[str, str], None]  # token, key authorization


def csr_for(names: tuple[str, ...]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def one_order(acme: client.ClientV2, server: Server, zone: str) -> float:
    """One complete order; returns the finalize latency in ms."""
    tag = secrets.token_hex(5)
    names = (f"a-{tag}.{zone}", f"b-{tag}.{zone}")
    order = acme.new_order(csr_for(names))
    for authz in order.authorizations:
        challb = next(c for c in authz.body.challenges if c.chall.typ == "http-01")
        response, validation = challb.response_and_validation(server.key)
        server.publish(challb.chall.encode("token"), validation)
        acme.answer_challenge(challb, response)
    for authz in order.authorizations:
        while True:
            status = acme.poll(authz)[0].body.status
            if status == messages.STATUS_VALID:
                break
            if status != messages.STATUS_PENDING and status != messages.STATUS_PROCESSING:
                raise BenchError(f"authorization {status}")
            time.sleep(POLL)
    start = time.perf_counter()
    body = acme.begin_finalization(order).body
    while body.status != messages.STATUS_VALID:
        if body.status == messages.STATUS_INVALID:
            raise BenchError(f"order invalid: {body.error}")
        time.sleep(POLL)
        body = messages.Order.from_json(acme.net.post(order.uri, None).json())
    finalize_ms = (time.perf_counter() - start) * 1e3
    cert = acme.net.post(body.certificate, None)
    if "BEGIN CERTIFICATE" not in cert.text:
        raise BenchError("no certificate downloaded")
    return finalize_ms


def drive(server: Server, concurrency: int, seconds: float, zone: str) -> Run:
    """``concurrency`` threads ordering in a loop for ``seconds``."""
    run = Run()
    lock = threading.Lock()
    go = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def worker() -> None:
        net = client.ClientNetwork(
            server.key,
            alg=ES256,
            user_agent="certdesk-bench",
            verify_ssl=server.verify,  # type: ignore[arg-type]  # a CA file (requests' verify)
        )
        net.session.trust_env = False
        directory = messages.Directory.from_json(net.get(server.directory_url).json())
        acme = client.ClientV2(directory, net)
        net.account = messages.RegistrationResource(
            uri=server.account_url, body=messages.Registration()
        )
        go.wait()
        while time.perf_counter() < deadline[0]:
            try:
                ms = one_order(acme, server, zone)
            except Exception as exc:  # counted and reported: the run goes on
                with lock:
                    run.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                run.orders += 1
                run.finalize_ms.append(ms)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    start = time.perf_counter()
    go.wait()
    for t in threads:
        t.join(timeout=seconds + 120)
    run.seconds = time.perf_counter() - start
    return run


# --------------------------------------------------------------------------- the servers


def _cli(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [str(BIN / "certdesk"), *args, "--json"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError(f"certdesk {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def certdesk_server(
    work: Path, workers: int | None, profile: str | None = None
) -> Iterator[tuple[Server, int]]:
    responder = Responder()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env |= {
        "CERTDESK_DATA_DIR": str(work / "certdesk"),
        "CERTDESK_BASE_URL": base,
        "CERTDESK_LOG_LEVEL": "warning",
        "CERTDESK_ACME_VA_ADDRESS": "127.0.0.1",
        "CERTDESK_ACME_VA_HTTP_PORT": str(responder.port),
        "CERTDESK_ACME_AUTHZ_REUSE_DAYS": "0",
        "CERTDESK_ACME_ORDERS_PER_HOUR_ACCOUNT": "100000000",
        "CERTDESK_ACME_ORDERS_PER_HOUR_ORG": "100000000",
        "CERTDESK_ACME_PENDING_AUTHZ_ACCOUNT": "100000000",
        "CERTDESK_ACME_PENDING_AUTHZ_ORG": "100000000",
    }
    _cli(env, "init")
    _cli(env, "org", "create", ORG, "--name", "Benchmark agency", "--self-managed",
         "--grant", f"zone:{ZONE}")  # fmt: skip
    eab = _cli(env, "acme", "eab", "create", "--org", ORG)
    log = work / "certdesk-serve.log"
    args = [str(BIN / "certdesk"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if profile is not None:  # one process under cProfile (written when it stops)
        args = [sys.executable, "-m", "cProfile", "-o", profile, *args, "--workers", "1"]
    elif workers is not None:
        args += ["--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise BenchError(f"certdesk serve exited:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"certdesk serve not ready:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        net = client.ClientNetwork(key, alg=ES256, user_agent="certdesk-bench")
        net.session.trust_env = False
        directory_url = f"{base}/acme/directory"
        directory = messages.Directory.from_json(net.get(directory_url).json())
        acme = client.ClientV2(directory, net)
        binding = messages.ExternalAccountBinding.from_data(
            account_public_key=key.public_key(), kid=eab["kid"], hmac_key=eab["hmac_key"],
            directory=directory,
        )  # fmt: skip
        reg = acme.new_account(
            messages.NewRegistration.from_data(
                email=f"ops@{ZONE}", terms_of_service_agreed=True, external_account_binding=binding
            )
        )

        def publish(token: str, validation: str) -> None:
            responder.answers[token] = validation

        yield Server(directory_url, key, reg.uri, False, publish), proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT if profile else signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        responder.close()


@contextlib.contextmanager
def pebble_server(work: Path) -> Iterator[tuple[Server, int]]:
    with running_pebble(Path(tempfile.mkdtemp(dir=work, prefix="pebble")), always_valid=True) as p:
        account = registered(p)
        key = account.key
        server = Server(p.endpoint.directory_url, key, account.url, p.endpoint.ca_bundle,
                        lambda _t, _v: None)  # fmt: skip
        assert p.process is not None
        yield server, p.process.pid


def group_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and every process in its process group/session."""
    tick = os.sysconf("SC_CLK_TCK")
    used = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            if int(stat.parent.name) == pid or int(fields[2]) == pid:
                used += int(fields[11]) + int(fields[12])
    return used / tick


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=None, help="certdesk serve --workers")
    parser.add_argument(
        "--profile", help="only certdesk at c=1, one server process under cProfile, to FILE"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("pebble") is None:
        raise BenchError("pebble not found: run 'make system-deps'")
    load_at_start = results.load_average()
    print(f"ACME orders/s (2 names, http-01, finalize, download), {args.seconds:.0f} s a run")
    print(f"load average at start {load_at_start}")
    work = Path(tempfile.mkdtemp(prefix="certdesk-bench-acme-"))
    runs: dict[str, dict[int, Run]] = {"certdesk": {}, "pebble": {}}
    cpu: dict[str, dict[int, float]] = {"certdesk": {}, "pebble": {}}
    ok = False
    if args.profile:
        with certdesk_server(work, None, args.profile) as (desk, _pid):
            run = drive(desk, 1, args.seconds, ZONE)
        print(f"{run.orders} orders, errors: {run.errors[:3]}; profile in {args.profile}")
        return
    try:
        with certdesk_server(work, args.workers) as (desk, desk_pid):
            drive(desk, 2, 2.0, ZONE)  # warm-up: every worker process signs once
            for c in CERTDESK_C:
                if c in PEBBLE_C:
                    with pebble_server(work) as (peb, peb_pid):
                        cpu0 = group_cpu(peb_pid)
                        run = drive(peb, c, args.seconds, "example.com")
                        runs["pebble"][c] = run
                        cpu["pebble"][c] = (group_cpu(peb_pid) - cpu0) * 1e3 / max(run.orders, 1)
                cpu0 = group_cpu(desk_pid)
                run = drive(desk, c, args.seconds, ZONE)
                runs["certdesk"][c] = run
                cpu["certdesk"][c] = (group_cpu(desk_pid) - cpu0) * 1e3 / max(run.orders, 1)
                print(f"  certdesk c={c}: {run.rate:.1f} orders/s, {len(run.errors)} errors")
                sys.stdout.flush()
        ok = True
    finally:
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"benchmark failed; logs kept in {work}", file=sys.stderr)
    report(runs, cpu, load_at_start, args)


def report(
    runs: dict[str, dict[int, Run]],
    cpu: dict[str, dict[int, float]],
    load_at_start: list[float],
    args: argparse.Namespace,
) -> None:
    print(f"\n  {'server':<10}{'c':>4}{'orders/s':>10}{'finalize p50/p95 ms':>22}"
          f"{'errors':>8}{'server CPU ms/order':>21}{'certdesk/pebble':>17}")  # fmt: skip
    figures: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    for name, by_c in runs.items():
        for c, run in by_c.items():
            ratio = ""
            if name == "certdesk" and c in runs["pebble"]:
                r = run.rate / runs["pebble"][c].rate if runs["pebble"][c].rate else float("nan")
                ratio = f"{r:.2f}"
                targets[f"acme_certdesk_vs_pebble_c{c}_ge_{TARGET_RATIO}"] = {
                    "value": round(r, 3),
                    "met": r >= TARGET_RATIO,
                }
            print(
                f"  {name:<10}{c:>4}{run.rate:>10.1f}"
                f"{f'{run.pct(0.5):.0f}/{run.pct(0.95):.0f}':>22}{len(run.errors):>8}"
                f"{cpu[name][c]:>21.1f}{ratio:>17}"
            )
            figures[f"{name} c={c}"] = {
                "orders_per_second": round(run.rate, 2),
                "orders": run.orders,
                "finalize_p50_ms": round(run.pct(0.5), 1),
                "finalize_p95_ms": round(run.pct(0.95), 1),
                "errors": len(run.errors),
                "first_errors": run.errors[:3],
                "server_cpu_ms_per_order": round(cpu[name][c], 2),
            }
    top = runs["certdesk"][max(CERTDESK_C)]
    targets[f"acme_certdesk_errors_c{max(CERTDESK_C)}_eq_0"] = {
        "value": len(top.errors),
        "met": not top.errors,
    }
    p95 = max(r.pct(0.95) for r in runs["certdesk"].values())
    targets[f"acme_certdesk_finalize_p95_lt_{FINALIZE_P95_MS:.0f}ms"] = {
        "value": round(p95, 1),
        "met": p95 < FINALIZE_P95_MS,
    }
    for name, target in targets.items():
        print(f"  {name}: {target['value']} — {'met' if target['met'] else 'NOT met'}")
    for name, by_c in runs.items():
        for c, run in by_c.items():
            for err in sorted(set(run.errors))[:3]:
                print(f"  error ({name} c={c}): {err}")
    path = results.record(
        "acme",
        {
            "command": " ".join(["bench/acme_server.py", *sys.argv[1:]]),
            "seconds_per_run": args.seconds,
            "figures": figures,
            "targets": targets,
            "finalize_median_all_ms": round(
                statistics.median(x for r in runs["certdesk"].values() for x in r.finalize_ms), 1
            )
            if any(r.finalize_ms for r in runs["certdesk"].values())
            else None,
        },
        load_at_start=load_at_start,
    )
    print(f"summary written to {path}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)

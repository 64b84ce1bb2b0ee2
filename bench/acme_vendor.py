"""Vendor orders per second: certdesk's ACME backend against ``acme`` driving pebble directly.

One run, one pebble (Debian's, EAB required, ``PEBBLE_VA_ALWAYS_VALID=1``,
``PEBBLE_VA_NOSLEEP=1``, no authorization reuse), one client thread, EC P-256 keys. Each
order is for two names and goes all the way: newOrder, two authorizations answered by
http-01, finalize, download with the alternate chain. CSRs are made before the clock starts.

(a) ``acme`` alone: ``ClientV2.new_order``, ``answer_challenge``, polling the authorizations
    and the order every 10 ms, ``begin_finalization``, download (no checks);
(b) certdesk: ``AcmeIssuer.issue`` — the same protocol steps plus the journal, the solver
    calls and the checks on arrival (chain to the anchor, names, key, validity);
(c) certdesk's full vendor path: ``IssuanceService.request`` (policy, the write-ahead order
    row in SQLite) → ``VendorIssuance`` drive (lease, journal commits) → the arrival checks →
    the certificate row, the order ``issued`` and the audit event stored — the overhead a
    certificate ordered through certdesk carries over the library alone.

Pebble is restarted between the runs (FIELD-NOTES: its memory store slows down and can
deadlock under load), and the runs alternate (a, b, c, a, b, c) so drift hits all. Prints
orders/s for each, b/a and c/a, and writes them under ``"vendor"`` in
``bench/results/latest.json`` (other benches' keys are kept). Usage:
``.venv/bin/python bench/acme_vendor.py [--orders N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from acme import client, messages
from cryptography.hazmat.primitives import serialization
from josepy.jwa import ES256

from results import record as record_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ca" / "acme"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from vendor_world import (
    EAB_HMAC,
    EAB_KID,
    PEBBLE_LINT_TOLERATED,
    RecordingJournal,
    issuer_for,
    registered,
    request_for,
    running_pebble,
    unique_names,
)

from certdesk.ca.acme.solvers import ChallengeResponses, Http01Solver
from certdesk.ca.issuer import IssuedChain, IssueRequest
from certdesk.core.issuers import Solver
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.issued import Issued
from certdesk.services.pki.vendor_backends import Tuning
from certdesk.services.pki.vendor_settings import SolverSettings
from conftest import OPERATOR
from world.desk import DMV, open_desk

POLL = 0.01


def plain_acme(pebble, planned: list[IssueRequest]) -> float:  # type: ignore[no-untyped-def]
    """(a): the library's own calls, as a tight client would make them."""
    account = registered(pebble)
    net = client.ClientNetwork(account.key, alg=ES256, user_agent="bench")
    net.verify_ssl = pebble.endpoint.ca_bundle
    directory = client.ClientV2.get_directory(pebble.endpoint.directory_url, net)
    acme_client = client.ClientV2(directory, net)
    net.account = messages.RegistrationResource(uri=account.url, body=messages.Registration())

    def post_as_get(url: str) -> requests.Response:
        return net.post(url, None, new_nonce_url=directory["newNonce"])

    pems = [r.csr.public_bytes(serialization.Encoding.PEM) for r in planned]
    start = time.perf_counter()
    for pem in pems:
        order = acme_client.new_order(pem)
        for authz in order.authorizations:
            challb = next(c for c in authz.body.challenges if c.chall.typ == "http-01")
            acme_client.answer_challenge(challb, challb.response(account.key))
        for authz in order.authorizations:
            while acme_client.poll(authz)[0].body.status == messages.STATUS_PENDING:
                time.sleep(POLL)
        # ``poll_finalization`` sleeps a whole second before its first look; a tight client
        # polls the order itself, as (b) does.
        body = acme_client.begin_finalization(order).body
        while body.status != messages.STATUS_VALID:
            time.sleep(POLL)
            body = messages.Order.from_json(post_as_get(order.uri).json())
        assert body.certificate is not None  # a valid order names its certificate
        cert = post_as_get(body.certificate)
        alternates = [
            post_as_get(link["url"]).text
            for link in requests.utils.parse_header_links(cert.headers.get("Link", ""))
            if link.get("rel") == "alternate"
        ]
        assert cert.text and alternates
    return len(pems) / (time.perf_counter() - start)


def through_certdesk(pebble, planned: list[IssueRequest]) -> float:  # type: ignore[no-untyped-def]
    """(b): ``AcmeIssuer.issue`` end to end, with the arrival checks."""
    store = ChallengeResponses()
    issuer = issuer_for(pebble, registered(pebble), Http01Solver(store.publish, store.withdraw))
    issuer.settings = type(issuer.settings)(
        anchors=issuer.settings.anchors,
        wait=issuer.settings.wait,
        poll_interval=dt.timedelta(seconds=POLL),
        lint_tolerate=issuer.settings.lint_tolerate,
    )
    journal = RecordingJournal()
    start = time.perf_counter()
    for request in planned:
        issued = issuer.issue(request, journal)
        assert isinstance(issued, IssuedChain)
    return len(planned) / (time.perf_counter() - start)


def full_path(pebble, planned: list[IssueRequest]) -> float:  # type: ignore[no-untyped-def]
    """(c): ``IssuanceService.request`` on a SQLite certdesk whose organization's issuer is
    pebble: the order row, the drive under a lease, the checks, the stored certificate."""
    csrs = [r.csr.public_bytes(serialization.Encoding.PEM) for r in planned]
    with tempfile.TemporaryDirectory() as tmp, open_desk("sqlite", Path(tmp)) as desk:
        desk.services.vendor_backends.tune(
            Tuning(wait=dt.timedelta(seconds=30), poll_interval=dt.timedelta(seconds=POLL))
        )
        desk.services.vendors.add(
            OPERATOR,
            "pebble",
            directory_url=pebble.endpoint.directory_url,
            eab_kid=EAB_KID,
            eab_hmac_key=EAB_HMAC,
            ca_bundle_pem=Path(str(pebble.ca_bundle)).read_text(),
            anchors_pem="".join(
                c.public_bytes(serialization.Encoding.PEM).decode() for c in pebble.roots()
            ),
            solver=SolverSettings(kind=Solver.HTTP01),
            lint_tolerate=PEBBLE_LINT_TOLERATED,
        )
        issuer_id = desk.services.vendors.issuer_id("pebble")
        desk.services.orgs.set_issuer(OPERATOR, DMV, issuer_id, "pebble")
        issuance = desk.services.issuance
        start = time.perf_counter()
        for csr in csrs:
            issued = issuance.request(
                OPERATOR, IssueCommand(DMV, csr), wait=dt.timedelta(seconds=30)
            )
            assert isinstance(issued, Issued) and issued.issuer == "pebble", issued
        return len(csrs) / (time.perf_counter() - start)


def one_run(work: Path, name: str, run: Callable[..., float], orders: int) -> tuple[float, float]:
    planned = [request_for(unique_names("a", "b")) for _ in range(orders)]
    with running_pebble(
        Path(tempfile.mkdtemp(dir=work, prefix=name)),
        always_valid=True,
        PEBBLE_ALTERNATE_ROOTS="1",
    ) as pebble:
        cpu0 = pebble_cpu(pebble)
        rate = run(pebble, planned)
        cpu = (pebble_cpu(pebble) - cpu0) / orders * 1000
    return rate, cpu


def pebble_cpu(pebble) -> float:  # type: ignore[no-untyped-def]
    """Seconds of CPU pebble has used (utime + stime from /proc)."""
    fields = Path(f"/proc/{pebble.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"acme": [], "certdesk": [], "full": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for _ in range(args.rounds):
            results["acme"].append(one_run(work, "acme", plain_acme, args.orders))
            results["certdesk"].append(one_run(work, "certdesk", through_certdesk, args.orders))
            results["full"].append(one_run(work, "full", full_path, args.orders))
    print(
        f"vendor orders through pebble 2.4 (2 names, http-01, alternate chain), "
        f"{args.orders} orders x {args.rounds} rounds, 1 client thread"
    )
    print(f"{'client':<28}{'orders/s (median)':>20}{'runs':>24}{'pebble CPU ms/order':>22}")
    med = {}
    cpus = {}
    for label, key in (
        ("(a) acme library directly", "acme"),
        ("(b) certdesk AcmeIssuer", "certdesk"),
        ("(c) certdesk full path", "full"),
    ):
        rates = [r for r, _ in results[key]]
        cpu = statistics.median(c for _, c in results[key])
        cpus[key] = cpu
        med[key] = statistics.median(rates)
        runs = ", ".join(f"{r:.1f}" for r in rates)
        print(f"{label:<28}{med[key]:>20.1f}{runs:>24}{cpu:>22.1f}")
    print(f"b/a = {med['certdesk'] / med['acme']:.2f}")
    print(f"c/a = {med['full'] / med['acme']:.2f}")
    path = record_results(
        "vendor",
        {
            "command": f"bench/acme_vendor.py --orders {args.orders} --rounds {args.rounds}",
            "orders": args.orders,
            "rounds": args.rounds,
            "orders_per_second": {k: round(v, 1) for k, v in med.items()},
            "runs": {k: [round(r, 1) for r, _ in v] for k, v in results.items()},
            "pebble_cpu_ms_per_order": {k: round(v, 1) for k, v in cpus.items()},
            "ratio_certdesk_backend_to_acme": round(med["certdesk"] / med["acme"], 2),
            "ratio_full_path_to_acme": round(med["full"] / med["acme"], 2),
        },
    )
    print(f"results in {path}")


if __name__ == "__main__":
    main()

"""A separate certdesk process for the crash-recovery and concurrency tests.

Run as ``python issuing_child.py issue|revoke …`` with the ``CERTDESK_*`` settings in the
environment; it builds :class:`Services` from them exactly as ``certdesk`` does, so it takes
the same code paths as a server or CLI process (own engine, own CA key, own pid).

``issue`` loops over the issuance pipeline on several threads and *delivers* every
certificate the way a client would keep it: the DER is written to ``--out`` only after
``issue()`` returned, through a temporary file, fsync and rename, so a file in ``--out`` is
exactly a certificate that was handed out. With ``--pause-file`` the CA's ``sign`` is wrapped
so that, once that file exists, every thread stops right before (``--pause-at before-sign``)
or right after (``after-sign``) the signature — i.e. with its intent recorded as ``signing``
and nothing stored — and says so by writing ``--held/<serial>`` (the signed DER, if any).

``revoke`` waits for ``--go`` to appear and then revokes the given serials one by one.

Both commands create ``--ready`` once the CA key is loaded, so the test can start all
children, wait until they are ready, and release them together.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certdesk.ca.issuer import Prepared
from certdesk.ca.local import LocalCA
from certdesk.config import Settings
from certdesk.core.keys import KeyType
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.revocation import parse_reason
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import LOCAL_OPERATOR

HOLD_SECONDS = 120.0  # far longer than any test waits; the test kills the process first


def write_durably(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` so that it is either complete or absent after a crash."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.001)


def install_pause(pause_file: Path, pause_at: str, held: Path) -> None:
    """Wrap ``LocalCA.sign`` in this process so it stops between intent and store."""
    original = LocalCA.sign

    def hold(serial: int, der: bytes) -> None:
        write_durably(held / format(serial, "x"), der)
        time.sleep(HOLD_SECONDS)

    def sign(self: LocalCA, prepared: Prepared) -> x509.Certificate:
        if pause_at == "before-sign" and pause_file.exists():
            hold(prepared.request.serial, b"")
        cert = original(self, prepared)
        if pause_at == "after-sign" and pause_file.exists():
            hold(prepared.request.serial, cert.public_bytes(serialization.Encoding.DER))
        return cert

    LocalCA.sign = sign  # type: ignore[method-assign]


def issue_loop(
    svc: Services, org: str, out: Path, tag: str, count: int | None, errors: list[str]
) -> None:
    i = 0
    try:
        while count is None or i < count:
            csr = svc.csrs.generate([f"{tag}-{i}.burst.dmv.ca.gov"], KeyType.EC256)
            issued = svc.issuance.issue(LOCAL_OPERATOR, IssueCommand(org, csr.csr_pem))
            der = issued.certificate.public_bytes(serialization.Encoding.DER)
            write_durably(out / f"{issued.serial}.der", der)  # delivered
            i += 1
    except BaseException:
        errors.append(traceback.format_exc())


def cmd_issue(svc: Services, args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.pause_file:
        held = Path(args.held)
        held.mkdir(parents=True, exist_ok=True)
        install_pause(Path(args.pause_file), args.pause_at, held)
    svc.authority.issuing()  # load the CA key before saying ready
    write_durably(Path(args.ready), b"")
    if args.go:
        wait_for(Path(args.go))
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=issue_loop,
            args=(svc, args.org, out, f"p{os.getpid()}-t{n}", args.count, errors),
            daemon=True,
        )
        for n in range(args.threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


def cmd_revoke(svc: Services, args: argparse.Namespace) -> int:
    reason = parse_reason(args.reason)
    svc.authority.issuing()
    write_durably(Path(args.ready), b"")
    wait_for(Path(args.go))
    for serial in args.serials:
        svc.revocation.revoke(LOCAL_OPERATOR, serial, reason)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p_issue = sub.add_parser("issue")
    p_issue.add_argument("--org", required=True)
    p_issue.add_argument("--out", required=True)
    p_issue.add_argument("--ready", required=True)
    p_issue.add_argument("--go")
    p_issue.add_argument("--threads", type=int, default=4)
    p_issue.add_argument("--count", type=int, help="per thread; default: until killed")
    p_issue.add_argument("--pause-file")
    p_issue.add_argument("--pause-at", choices=["before-sign", "after-sign"])
    p_issue.add_argument("--held")
    p_revoke = sub.add_parser("revoke")
    p_revoke.add_argument("--ready", required=True)
    p_revoke.add_argument("--go", required=True)
    p_revoke.add_argument("--reason", default="keyCompromise")
    p_revoke.add_argument("serials", nargs="+")
    args = parser.parse_args(argv)

    svc = Services(Runtime.open(Settings()))
    try:
        return int(cmd_issue(svc, args) if args.command == "issue" else cmd_revoke(svc, args))
    finally:
        svc.rt.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

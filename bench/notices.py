"""Notices per second through the real sender loop, against a bare ``smtplib`` loop.

One run: a loopback ``aiosmtpd`` server (in this process); for each variant a fresh SQLite
certdesk (FULL) populated by bench/lifecycle.py's loader (``--certs`` certificates, their
notices already sent), of which ``--notices`` records are removed so that they are due again;
then, in a child process, ``NoticeService.run`` (plan, record, claim, render, send, mark
sent: what the worker's notices job does) delivers them with digests off, one message each.
Variants, taking turns: this tree with ``CERTDESK_SMTP_CONNECTIONS`` 1 and ``--connections``,
and the ``--baseline-src`` tree (if given) with its defaults. Each child also times a bare
``smtplib`` loop building an ``EmailMessage`` per message to the same server: the ceiling
the target is stated against. Writes the ``notices`` section of bench/results/latest.json.
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

import lifecycle
import results

TARGET_PER_SECOND = 650.0
TARGET_VS_RAW = 0.8
TARGET_MANY = 1000.0


def child(url: str, data_dir: str, port: int, notices: int) -> None:
    from sqlalchemy import delete, select

    from certdesk.services.lifecycle.notices import NoticeService
    from certdesk.services.runtime import Runtime
    from certdesk.store.models import Notice

    settings = lifecycle.settings_for(url, Path(data_dir).parent, port, digest=False)
    rt = Runtime.open(settings, lambda: lifecycle.NOW)
    with rt.reads() as s:
        ids = s.scalars(
            select(Notice.id)
            .where(Notice.claimed_by.is_(None), Notice.reason.like("expiry.%"))
            .order_by(Notice.id.desc())
            .limit(notices)
        ).all()
    with rt.sessions.begin() as s:
        s.execute(delete(Notice).where(Notice.id.in_(ids)))
    service = NoticeService(rt)
    t = time.perf_counter()
    stats = service.run(lifecycle.NOW, "bench-notices")
    seconds = time.perf_counter() - t
    rt.close()
    raw = lifecycle.raw_smtp(port)
    print(
        json.dumps(
            {
                "records": len(ids),
                "sent": stats.sent,
                "messages": stats.messages,
                "failed": stats.failed,
                "retrying": stats.retrying,
                "seconds": seconds,
                "raw_per_second": raw["messages"] / raw["seconds"],
            }
        )
    )


def _variant(
    args: argparse.Namespace, port: int, src: str, extra: dict[str, str], name: str
) -> dict[str, Any]:
    """One variant on a fresh installation, in a child process; its figures."""
    with tempfile.TemporaryDirectory(prefix="certdesk-bench-notices-") as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'certdesk.db'}"
        settings = lifecycle.settings_for(url, tmp, port, digest=False)
        fx = lifecycle.fixtures(settings)
        lifecycle.load(url, lifecycle.Population(args.certs, fx))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")} | {
            "PYTHONPATH": src,
            **extra,
        }
        done = subprocess.run(
            [sys.executable, __file__, "--child", url, str(settings.data_dir),
             str(port), str(args.notices)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"child failed ({name}):\n{done.stderr[-4000:]}")
        got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        got["per_second"] = got["sent"] / got["seconds"]
        got["vs_raw"] = got["per_second"] / got["raw_per_second"]
        if got["sent"] < got["records"] or got["failed"] or got["retrying"]:
            raise SystemExit(f"{name}: not every notice was sent once: {got}")
        return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", type=int, default=5000)
    parser.add_argument("--notices", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--baseline-src")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=SRC",
        help="another tree to run with its defaults (e.g. one lever undone); repeatable",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the variants in turns this many times; each figure is the median",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, data_dir, port, notices = args.child
        child(url, data_dir, int(port), int(notices))
        return
    load_at_start = results.load_average()
    here = str(Path(__file__).resolve().parents[1] / "src")
    variants: dict[str, tuple[str, dict[str, str]]] = {
        "after, 1 connection": (here, {"CERTDESK_SMTP_CONNECTIONS": "1"}),
        f"after, {args.connections} connections": (
            here,
            {"CERTDESK_SMTP_CONNECTIONS": str(args.connections)},
        ),
    }
    for also in args.also:
        name, _, src = also.partition("=")
        variants[name] = (src, {})
    if args.baseline_src:
        variants = {"before": (args.baseline_src, {}), **variants}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    print(f"notices through NoticeService.run, digests off, SQLite FULL; load {load_at_start}")
    with lifecycle.smtp_server() as (port, sink):
        for turn in range(args.rounds):
            for name, (src, extra) in variants.items():
                got = _variant(args, port, src, extra, name)
                runs[name].append(got)
                print(
                    f"  {turn + 1}: {name:<26} {got['sent']:>5} notices in {got['seconds']:.2f} s: "
                    f"{got['per_second']:.0f}/s (bare smtplib {got['raw_per_second']:.0f}/s, "
                    f"ratio {got['vs_raw']:.2f}); failed {got['failed']}, "
                    f"retrying {got['retrying']}"
                )
    out: dict[str, Any] = {}
    for name, got_all in runs.items():
        out[name] = {key: statistics.median(g[key] for g in got_all) for key in got_all[0]}
        if args.rounds > 1:
            print(
                f"  median {name:<22} {out[name]['per_second']:.0f}/s, ratio "
                f"{out[name]['vs_raw']:.2f}"
            )
    one = out["after, 1 connection"]
    many = out[f"after, {args.connections} connections"]
    targets = {
        f"notices_per_second_ge_{TARGET_PER_SECOND:.0f}": {
            "value": round(one["per_second"], 1),
            "met": one["per_second"] >= TARGET_PER_SECOND,
        },
        f"notices_vs_bare_smtplib_ge_{TARGET_VS_RAW}": {
            "value": round(one["vs_raw"], 3),
            "met": one["vs_raw"] >= TARGET_VS_RAW,
        },
        f"notices_per_second_{args.connections}_connections_ge_{TARGET_MANY:.0f}": {
            "value": round(many["per_second"], 1),
            "met": many["per_second"] >= TARGET_MANY,
        },
    }
    for key, t in targets.items():
        print(f"  {key}: {t['value']} — {'met' if t['met'] else 'NOT met'}")
    path = results.record(
        "notices",
        {
            "command": " ".join(["bench/notices.py", *sys.argv[1:]]),
            "figures": {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in out.items()},
            "targets": targets,
            "smtp_messages_received": sink.messages,
        },
        load_at_start=load_at_start,
    )
    print(f"summary written to {path}")


if __name__ == "__main__":
    main()

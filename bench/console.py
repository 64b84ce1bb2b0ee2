"""Console pages vs the JSON API: what the console's HTML translation costs on the same data.

One run:

1. builds a certdesk on SQLite in a temporary directory, through the services in this
   process: the test desk's three managed organizations and people (tests/world/desk.py),
   :data:`CERTS` certificates issued by cert services with validities spread over 1-200 days
   (the dashboard's forecast has bars), :data:`CASES` cases in seven states (draft, pending,
   approved, in progress, fulfilled, rejected, cancelled), the operator ``opal`` with a
   password (tests/world/console.py) and an operator API token;
2. times, in this process and without HTTP, the console's page functions against the
   service calls and the API's route functions behind them (where the time goes);
3. starts ``certdesk serve`` (one process, as ``make run``) on a free loopback port, from the
   repository root so that the State Web Template's assets under node_modules are served,
   signs ``opal`` in through the real form (``GET /login`` for the CSRF cookie and token,
   ``POST /login`` for the ``certdesk_session`` cookie), then drives, with ``wrk`` (HTTP/1.1,
   kept-alive connections), the pairs below in interleaved rounds, so that both sides of a
   ratio share the machine's load of the moment:

   * certificate list: ``GET /certificates?limit=50`` (session cookie) vs
     ``GET /api/v1/certificates?limit=50`` (bearer token);
   * case list: ``GET /cases?limit=50`` vs ``GET /api/v1/cases?limit=50``;
   * one certificate: ``GET /certificates/{serial}`` (with chain, timeline and audit trail) vs
     ``GET /api/v1/certificates/{serial}``;
   * the dashboard, ``GET /`` (forecast over all certificates and case lists), no API twin;
   * ``GET /static/certdesk/certdesk.css``: the server's ceiling for a trivial answer.

Every response must be a 200 (the wrk script counts any other status; a redirect to /login
would mean the cookie was refused): otherwise the run stops with an error. Requests/s and
latencies are medians over the rounds; the ratios console/API are medians of the per-round
ratios. The server's CPU time per request is read from /proc (steadier than wall time on a
busy machine).

Run: ``make bench-console`` or ``.venv/bin/python bench/console.py [--certs 2000]
[--cases 100] [--seconds 4] [--rounds 3]``. Helpers (ports, server processes, wrk) come from
bench/issuance.py, imported as ``issuance`` (this file's folder is first on ``sys.path`` when
it runs as a script).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from certdesk.config import Settings
from certdesk.core.access import Actor, Role
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from issuance import (
    BIN,
    BenchError,
    HttpResult,
    Servers,
    child_env,
    free_port,
    group_cpu,
    interleaved,
    load_average,
    run_wrk,
    wait_http,
)

ROOT = Path(__file__).resolve().parents[1]
TESTS = (ROOT / "tests",)

CERTS = 2000
CASES = 100
SECONDS = 4  # per wrk run (one endpoint, one round)
ROUNDS = 3
WARMUP_SECONDS = 1  # per endpoint, unmeasured, before the first round
CONNECTIONS = 4
LIMIT = 50
INPROC_SECONDS = 0.25  # per function and round, in-process timing
INPROC_ROUNDS = 4
BASE_URL = "http://127.0.0.1:8080"  # written into certificates only
PASSPHRASE = "bench-passphrase"
OPERATOR_LOGIN = "opal"  # the test desk's cert services person
MAX_DAYS = 200  # CA/B maximum from 2026-03-15 (R13)
STATIC_CSS = "/static/certdesk/certdesk.css"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    operator: Actor  # opal, as a login session stands for her
    token: str  # an operator API token
    serial: str  # a certificate for the detail pages
    certs: int  # certificates in the inventory (issued directly and by fulfilled cases)
    cases: dict[str, int]  # state -> count
    orgs: int


def _test_helpers() -> tuple[Any, Any]:
    """tests/world/desk.py and tests/world/console.py, imported from the tests folder."""
    sys.path[:0] = [str(p) for p in TESTS]
    with warnings.catch_warnings():
        # world.console imports Starlette's TestClient, which warns about httpx; not used here.
        warnings.simplefilter("ignore")
        from world import console as consoledesk
        from world import desk as casedesk
    return casedesk, consoledesk


def settings_for(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'certdesk.db'}",
        base_url=BASE_URL,
        ca_passphrase=PASSPHRASE,
        # Only while populating, in this process: no fsync per commit. The server uses the
        # default (full); it only reads here.
        sqlite_synchronous="normal",
    )


def populate(svc: Services, n_certs: int, n_cases: int) -> Data:
    """Organizations, people, certificates and cases, all through the services."""
    casedesk, consoledesk = _test_helpers()
    from certdesk.services.pki.issuance import IssueCommand, Platform
    from conftest import OPERATOR, ManualClock  # tests/conftest.py, for the test desk
    from world.csr import make_csr

    initialize(svc, with_token=False)
    orgs = (casedesk.DMV, casedesk.CHP, casedesk.EDD)
    grants = {
        casedesk.DMV: ["zone:dmv.ca.gov", "host:permits.ca.gov"],
        casedesk.CHP: ["zone:chp.ca.gov"],
        casedesk.EDD: ["zone:edd.ca.gov"],
    }
    names = {
        casedesk.DMV: "Motor Vehicles",
        casedesk.CHP: "Highway Patrol",
        casedesk.EDD: "Employment",
    }
    for code in orgs:
        svc.orgs.create(OPERATOR, code, names[code], self_managed=False, grants=grants[code])
    # The Desk's clock is only for tests that move time; the services here use the real one.
    desk = casedesk.Desk("sqlite", svc, ManualClock())
    desk.people = {
        login: casedesk.add_person(svc, login, org, roles)
        for login, (org, roles) in casedesk.PEOPLE.items()
    }
    consoledesk.set_password(desk, OPERATOR_LOGIN)
    opal = desk[OPERATOR_LOGIN]

    started = time.perf_counter()
    serial = ""
    for i in range(n_certs):
        org = orgs[i % len(orgs)]
        days = 1 + (i * 7) % MAX_DAYS  # every validity from 1 to 200 days, evenly
        csr = make_csr([f"host{i}.{org}.ca.gov"])
        cmd = IssueCommand(org_code=org, csr=csr, platform=Platform.VIRTUAL, days=days)
        issued = svc.issuance.issue(opal, cmd)
        if i == n_certs // 2:
            serial = issued.serial
    print(f"  {n_certs} certificates issued in {time.perf_counter() - started:.0f} s")

    started = time.perf_counter()
    people = {
        casedesk.DMV: ("ana", "abe"),
        casedesk.CHP: ("carl", "cara"),
        casedesk.EDD: ("eve", "eli"),
    }
    states: dict[str, int] = {}
    for i in range(n_cases):
        org = orgs[i % len(orgs)]
        requester, approver = people[org]
        title = f"Bench case {i}"
        kind = (
            "draft",
            "pending",
            "approved",
            "in_progress",
            "fulfilled",
            "rejected",
            "cancelled",
        )[i % 7]
        if kind == "draft":
            view = desk.draft(requester, org, title=title)
        elif kind == "cancelled":
            view = desk.pending(requester, org, title=title)
            view = svc.cases.cancel(desk[requester], view.number, "not needed after all")
        elif kind in ("pending", "rejected"):
            view = desk.pending(requester, org, title=title)
            svc.cases.comment(desk[requester], view.number, "Please approve by Friday.")
            if kind == "rejected":
                view = svc.approvals.reject(desk[approver], view.number, "use the other host")
        else:
            view = desk.approved(org, title=title)
            if kind == "in_progress":
                view = svc.cases.start(opal, view.number, "on it")
            elif kind == "fulfilled":
                view = svc.fulfilment.fulfil(opal, view.number)
        states[str(view.state)] = states.get(str(view.state), 0) + 1
    print(f"  {n_cases} cases in {time.perf_counter() - started:.0f} s")

    token = svc.tokens.create(opal, role=Role.OPERATOR, org_code=None, label="bench").secret
    with svc.rt.reads() as s:
        from sqlalchemy import func, select

        from certdesk.store.models import CertificateRow

        certs = s.execute(select(func.count()).select_from(CertificateRow)).scalar_one()
    return Data(opal, token, serial, certs, states, len(orgs))


# --------------------------------------------------------------------------- in process


def fake_request(path: str, query: str, actor: Actor, csrf_cookie: str) -> Any:
    """A Starlette request as the console's pages receive it after the session check."""
    from starlette.requests import Request

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1"), (b"cookie", f"certdesk_csrf={csrf_cookie}".encode())],
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 40000),
        "state": {"actor": actor},
    }
    return Request(scope)


@contextlib.contextmanager
def answering(service: object, method: str, answer: object) -> Iterator[None]:
    """``service.method(...)`` returns ``answer`` without running, for the ``with`` block."""
    setattr(service, method, lambda *_a, **_k: answer)
    try:
        yield
    finally:
        delattr(service, method)  # the class's method again


def inproc_split(svc: Services, data: Data) -> dict[str, float]:
    """Median ms per call of the console's page functions, the API's route functions (plus
    their response model and JSON, as FastAPI does it) and the service calls alone; no HTTP,
    no session or token lookup. "translation only": the same function with the list service's
    answer computed once beforehand, so what is left is building the page or the JSON."""
    from certdesk.services.casework.cases import CaseFilter
    from certdesk.web.api import case_search as api_cases
    from certdesk.web.api import certificates as api_certs
    from certdesk.web.console import template_assets
    from certdesk.web.console.frame import Console
    from certdesk.web.console.list_filters import CaseFilters, CertificateFilters
    from certdesk.web.console.pages import cases as page_cases
    from certdesk.web.console.pages import certificates as page_certs
    from certdesk.web.console.pages import home

    console = Console(svc, assets=template_assets(None))
    who = data.operator
    cookie = console.csrf.new_cookie()
    cert_answer = svc.inventory.search(who, limit=LIMIT)
    case_answer = svc.cases.search(who, CaseFilter(limit=LIMIT))

    def req(path: str, query: str = "") -> Any:
        return fake_request(path, query, who, cookie)

    def weeks_in_python() -> object:
        from certdesk.core import forecast
        from certdesk.store import certificates as cert_store

        now = svc.rt.clock()
        until = now + timedelta(days=forecast.DEFAULT_HORIZON_DAYS)
        with svc.rt.reads() as s:
            return forecast.weekly(cert_store.expiries(s, None, now, until), now)

    def weeks_in_sql() -> object:
        from certdesk.core import forecast
        from certdesk.store import forecast as forecast_store

        now = svc.rt.clock()
        until = now + timedelta(days=forecast.DEFAULT_HORIZON_DAYS)
        bounds = forecast.week_bounds(now)
        with svc.rt.reads() as s:
            counts = forecast_store.weekly_counts(s, None, now, until, bounds)
        return forecast.weeks_of(counts, now)

    def cert_page() -> object:
        return page_certs.certificates(
            req("/certificates", "limit=50"), console, who, CertificateFilters(), limit=LIMIT
        )

    def cert_page_cached() -> object:
        with answering(svc.inventory, "search", cert_answer):
            return cert_page()

    def cert_api() -> object:
        body = api_certs.list_certificates(svc, who, limit=LIMIT)
        return api_certs.CertPage.model_validate(body).model_dump_json()

    def cert_api_cached() -> object:
        with answering(svc.inventory, "search", cert_answer):
            return cert_api()

    def case_page() -> object:
        return page_cases.case_list(
            req("/cases", "limit=50"), console, who, CaseFilters(), limit=LIMIT
        )

    def case_page_cached() -> object:
        with answering(svc.cases, "search", case_answer):
            return case_page()

    def case_api() -> object:
        body = api_cases.list_cases(svc, who, limit=LIMIT)
        return api_cases.CasePage.model_validate(body).model_dump_json()

    def case_api_cached() -> object:
        with answering(svc.cases, "search", case_answer):
            return case_api()

    def detail_page() -> object:
        return page_certs.certificate(
            req(f"/certificates/{data.serial}"), console, who, data.serial
        )

    def detail_api() -> object:
        body = api_certs.show(data.serial, svc, who)
        return api_certs.CertOut.model_validate(body).model_dump_json()

    fns: dict[str, Callable[[], object]] = {
        "`inventory.search(limit=50)` alone": lambda: svc.inventory.search(who, limit=LIMIT),
        "console `/certificates`": cert_page,
        "API `/api/v1/certificates`": cert_api,
        "console `/certificates`, translation only": cert_page_cached,
        "API `/api/v1/certificates`, translation only": cert_api_cached,
        "`cases.search(limit=50)` alone": lambda: svc.cases.search(who, CaseFilter(limit=LIMIT)),
        "console `/cases`": case_page,
        "API `/api/v1/cases`": case_api,
        "console `/cases`, translation only": case_page_cached,
        "API `/api/v1/cases`, translation only": case_api_cached,
        "console `/certificates/{serial}`": detail_page,
        "API `/api/v1/certificates/{serial}`": detail_api,
        "`inventory.forecast()` alone": lambda: svc.inventory.forecast(who),
        "console `/` (dashboard)": lambda: home.dashboard(req("/"), console, who),
        "forecast weeks: every notAfter read, counted in Python": weeks_in_python,
    }
    if importlib.util.find_spec("certdesk.store.forecast") is not None:
        # Issue 16: the same weeks from one aggregate query (absent from older trees).
        fns["forecast weeks: one aggregate query"] = weeks_in_sql
    for name, fn in fns.items():
        status = getattr(fn(), "status_code", 200)
        if status != 200:
            raise BenchError(f"in process, {name} answered {status}")
    runs = interleaved(fns, INPROC_SECONDS, rounds=INPROC_ROUNDS)
    return {name: statistics.median(r.wall_ms for r in rates) for name, rates in runs.items()}


# --------------------------------------------------------------------------- HTTP


# GET with fixed headers; the response() hook counts every answer that is not a 200 (reported
# under the key "non2xx", which issuance.run_wrk checks) and answers that close the connection.
_WRK_GET = """
wrk.method = "GET"
{headers}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; closed = 0 end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
  local conn = headers["Connection"] or headers["connection"]
  if conn and conn:lower() == "close" then closed = closed + 1 end
end
function done(summary, latency, requests)
  local bad_, closed_ = 0, 0
  for _, t in ipairs(threads) do bad_ = bad_ + t:get("bad"); closed_ = closed_ + t:get("closed") end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d closed=%d "
    .. "connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad_, closed_, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    path: str
    headers: dict[str, str]
    script: Path
    size: int = 0  # bytes of the body of one answer
    content_type: str = ""


def wrk_get_script(work: Path, key: str, headers: dict[str, str]) -> Path:
    lines = []
    for name, value in headers.items():
        if '"' in value or "\\" in value:
            raise BenchError(f"header {name} cannot be quoted for Lua")
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    path = work / f"wrk-{key}.lua"
    path.write_text(_WRK_GET.format(headers="\n".join(lines)))
    return path


def _cookie_values(response: http.client.HTTPResponse) -> dict[str, str]:
    out = {}
    for header in response.headers.get_all("set-cookie") or []:
        name, _, rest = header.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def sign_in(port: int, login: str, password: str, csrf_re: re.Pattern[str]) -> dict[str, str]:
    """The console's sign-in as a browser does it; returns the cookies to send afterwards."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/login")
        resp = conn.getresponse()
        page = resp.read().decode()
        cookies = _cookie_values(resp)
        found = csrf_re.search(page)
        if resp.status != 200 or "certdesk_csrf" not in cookies or found is None:
            raise BenchError(f"GET /login: {resp.status}, cookies {sorted(cookies)}, no CSRF token")
        form = urllib.parse.urlencode(
            {"login_id": login, "password": password, "csrf_token": found.group(1), "next": "/"}
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"certdesk_csrf={cookies['certdesk_csrf']}",
        }
        conn.request("POST", "/login", body=form, headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        got = _cookie_values(resp)
        if resp.status != 303 or not got.get("certdesk_session"):
            raise BenchError(f"POST /login: {resp.status}, cookies {sorted(got)}\n{body[:800]}")
        return {
            "certdesk_csrf": cookies["certdesk_csrf"],
            "certdesk_session": got["certdesk_session"],
        }
    finally:
        conn.close()


def check_once(port: int, ep: Endpoint) -> Endpoint:
    """One request before wrk: a 200 of the expected kind; its body size for the table."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", ep.path, headers=ep.headers)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    ctype = resp.headers.get("content-type", "")
    if resp.status != 200:
        where = resp.headers.get("location", "")
        raise BenchError(f"GET {ep.path}: {resp.status} {where}\n{body[:500]!r}")
    return Endpoint(ep.key, ep.label, ep.path, ep.headers, ep.script, len(body), ctype)


@dataclass(frozen=True)
class Measured:
    result: HttpResult
    cpu_ms: float  # server CPU per request


def http_rounds(
    port: int, pgid: int, endpoints: list[Endpoint], seconds: int, rounds: int, connections: int
) -> dict[str, list[Measured]]:
    """Every endpoint for ``seconds`` per round, taking turns, ``rounds`` times."""
    base = f"http://127.0.0.1:{port}"
    for ep in endpoints:
        run_wrk(base + ep.path, ep.script, connections, WARMUP_SECONDS)
    out: dict[str, list[Measured]] = {ep.key: [] for ep in endpoints}
    for r in range(rounds):
        for ep in endpoints:
            cpu = group_cpu(pgid)
            res = run_wrk(base + ep.path, ep.script, connections, seconds)
            cpu_ms = (group_cpu(pgid) - cpu) * 1e3 / res.complete
            out[ep.key].append(Measured(res, cpu_ms))
        print(f"  round {r + 1}/{rounds} done, load average {load_average()}")
        sys.stdout.flush()
    return out


# --------------------------------------------------------------------------- report

PAIRS = (  # console key, API key
    ("console-certs", "api-certs"),
    ("console-cases", "api-cases"),
    ("console-detail", "api-detail"),
)


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def print_table(endpoints: list[Endpoint], runs: dict[str, list[Measured]]) -> None:
    ratio_of: dict[str, tuple[float, float]] = {}
    for console_key, api_key in PAIRS:
        by_rps = [
            c.result.rps / a.result.rps
            for c, a in zip(runs[console_key], runs[api_key], strict=True)
        ]
        by_cpu = [
            c.cpu_ms / a.cpu_ms for c, a in zip(runs[console_key], runs[api_key], strict=True)
        ]
        ratio_of[console_key] = (statistics.median(by_rps), statistics.median(by_cpu))
    print(
        "\n| endpoint | answer | requests/s | p50 ms | p99 ms | server CPU ms/request "
        "| console/API requests/s | console/API CPU |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for ep in endpoints:
        ms = runs[ep.key]
        rps = statistics.median(m.result.rps for m in ms)
        spread = f" ({min(m.result.rps for m in ms):.0f}-{max(m.result.rps for m in ms):.0f})"
        p50 = statistics.median(m.result.p50_ms for m in ms)
        p99 = statistics.median(m.result.p99_ms for m in ms)
        cpu = statistics.median(m.cpu_ms for m in ms)
        kind = "HTML" if "html" in ep.content_type else ep.content_type.split(";")[0].split("/")[-1]
        answer = f"{kind}, {ep.size / 1024:.1f} KiB"
        ratios = "| | "
        if ep.key in ratio_of:
            rps_ratio, cpu_ratio = ratio_of[ep.key]
            ratios = f"| **{rps_ratio:.2f}** | {cpu_ratio:.2f} "
        print(
            f"| {ep.label} | {answer} | {rps:,.0f}{spread} | {_ms(p50)} | {_ms(p99)} | {cpu:.2f} "
            f"{ratios}|"
        )
    total = sum(m.result.complete for ms in runs.values() for m in ms)
    print(f"\n{total:,} requests, every one answered 200.")


def print_inproc(split: dict[str, float]) -> None:
    print(
        f"\nIn process (no HTTP, no session or token lookup): median ms per call over "
        f"{INPROC_ROUNDS} interleaved rounds of {INPROC_SECONDS} s; translation only = the "
        "list service's answer computed beforehand (the /cases page still lists the "
        "organizations for its filter)"
    )
    print("\n| call | ms |\n| --- | ---: |")
    for name, ms in split.items():
        print(f"| {name} | {ms:.2f} |")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certs", type=int, default=CERTS)
    parser.add_argument("--cases", type=int, default=CASES)
    parser.add_argument("--seconds", type=int, default=SECONDS, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument(
        "--inproc-only",
        action="store_true",
        help="only the in-process timings (no server, no wrk): run it with PYTHONPATH set to "
        "another tree's src for a before/after of the service calls",
    )
    args = parser.parse_args(argv)
    # make exports CERTDESK_DATA_DIR and CERTDESK_BASE_URL for the app; the bench sets its own.
    for var in [v for v in os.environ if v.startswith("CERTDESK_")]:
        os.environ.pop(var)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally blocks run
    if shutil.which("wrk") is None and not args.inproc_only:
        raise BenchError("wrk not found: run 'make system-deps'")
    if not (ROOT / "node_modules" / "@cagovweb" / "state-template").is_dir() and not (
        args.inproc_only
    ):
        raise BenchError("the State Web Template is not installed: run 'make assets'")

    print("certdesk console vs JSON API benchmark")
    print(f"{os.cpu_count()} CPUs; load average at start {load_average()}")
    sys.stdout.flush()
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="certdesk-bench-console-"))
    data_dir = work / "data"
    servers = Servers()
    ok = False
    try:
        svc = Services(Runtime.open(settings_for(data_dir)))
        try:
            print("populating (SQLite, through the services):")
            data = populate(svc, args.certs, args.cases)
            print(
                f"  {data.orgs} organizations, {data.certs} certificates, "
                f"{sum(data.cases.values())} cases "
                + ", ".join(f"{k} {v}" for k, v in sorted(data.cases.items()))
            )
            sys.stdout.flush()
            split = inproc_split(svc, data)
            print_inproc(split)
            sys.stdout.flush()
        finally:
            svc.rt.close()
        if args.inproc_only:
            print(f"\nload average at the end {load_average()}")
            ok = True
            return

        _casedesk, consoledesk = _test_helpers()
        env = child_env(
            data_dir=str(data_dir),
            database_url=f"sqlite:///{data_dir / 'certdesk.db'}",
            base_url=BASE_URL,
            ca_passphrase=PASSPHRASE,
            log_level="warning",
        )
        port = free_port()
        log = work / "server.log"
        serve = [str(BIN / "certdesk"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        proc = servers.start(serve, env, log, cwd=ROOT)
        wait_http(f"http://127.0.0.1:{port}/readyz", None, {}, proc, log)
        cookies = sign_in(port, OPERATOR_LOGIN, consoledesk.PASSWORD, consoledesk.CSRF)
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        bearer = {"Authorization": f"Bearer {data.token}", "Accept": "application/json"}
        browser = {"Cookie": cookie, "Accept": "text/html"}
        certs, detail = f"/certificates?limit={LIMIT}", f"/certificates/{data.serial}"
        specs = [
            ("api-certs", "API `GET /api/v1/certificates?limit=50`", f"/api/v1{certs}", bearer),
            ("console-certs", "console `GET /certificates?limit=50`", certs, browser),
            (
                "api-cases",
                "API `GET /api/v1/cases?limit=50`",
                f"/api/v1/cases?limit={LIMIT}",
                bearer,
            ),
            ("console-cases", "console `GET /cases?limit=50`", f"/cases?limit={LIMIT}", browser),
            ("api-detail", "API `GET /api/v1/certificates/{serial}`", f"/api/v1{detail}", bearer),
            ("console-detail", "console `GET /certificates/{serial}`", detail, browser),
            ("dashboard", "console `GET /` (dashboard)", "/", browser),
            ("css", "static `GET /static/certdesk/certdesk.css`", STATIC_CSS, browser),
        ]
        endpoints = [
            check_once(port, Endpoint(key, label, path, hdrs, wrk_get_script(work, key, hdrs)))
            for key, label, path, hdrs in specs
        ]
        print(
            f"\nHTTP: certdesk serve (1 process), wrk -t 1 -c {args.connections} "
            f"-d {args.seconds}s per endpoint and round, {args.rounds} interleaved rounds"
        )
        sys.stdout.flush()
        runs = http_rounds(port, proc.pid, endpoints, args.seconds, args.rounds, args.connections)
        print_table(endpoints, runs)
        print(
            "requests/s: median of the rounds (min-max); p50/p99: medians of the rounds; "
            "console/API: median of the per-round ratios (requests/s: < 1 means the console "
            "serves fewer; CPU: > 1 means the console's server spends more per request)"
        )
        print(f"\ntotal {time.perf_counter() - t0:.0f} s; load average at the end {load_average()}")
        ok = True
    finally:
        servers.stop_all()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"\nbenchmark failed; logs and data kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)

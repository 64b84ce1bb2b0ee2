"""Logs and metrics of real processes: ``certdesk serve --workers 2`` and ``worker --once``.

The server runs on SQLite with JSON logs, as under a service manager. Every scrape of
/metrics opens a new connection, so the kernel hands scrapes to either server process: the
counters must be the sum over both, never one process's share.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from certdesk.config import Settings
from conftest import scratch_database
from world.csr import make_csr
from world.processes import (
    CERTDESK,
    Served,
    certdesk_env,
    free_port,
    json_log,
    run_cli,
    serving,
    wait_until,
)

ISSUES = 6
SERVER_PROCESSES = 2

pytestmark = pytest.mark.slow

Sample = tuple[str, frozenset[tuple[str, str]]]


@dataclass
class Server:
    served: Served
    env: dict[str, str]
    token: str
    home: Path

    @property
    def url(self) -> str:
        return self.served.url

    def auth(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def access_line(self, request_id: str) -> dict[str, Any]:
        """The access line of one request, once the server process has written it."""
        found: list[dict[str, Any]] = []

        def written() -> bool:
            found[:] = [
                x
                for x in json_log(self.served.stderr)
                if x["event"] == "request" and x.get("request_id") == request_id
            ]
            return bool(found)

        wait_until(written, timeout=30, what=f"the access line of {request_id}")
        assert len(found) == 1, found
        return found[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("observed")
    port = free_port()
    with scratch_database("sqlite", home, "observed") as url:
        settings = Settings(
            data_dir=home / "data",
            database_url=url,
            base_url=f"http://127.0.0.1:{port}",
            ca_passphrase="observed-passphrase",
        )
        env = certdesk_env(settings) | {"CERTDESK_LOG_FORMAT": "json"}
        token = run_cli(["init"], env)["operator_token"]
        with serving(env, home, port, workers=SERVER_PROCESSES) as served:
            live = Server(served, env, token, home)
            r = httpx.post(
                f"{live.url}/api/v1/orgs",
                json={"code": "dmv", "name": "DMV", "grants": ["zone:dmv.ca.gov"]},
                headers=live.auth(),
                timeout=30,
            )
            assert r.status_code == 201, r.text
            yield live


def scrape(server: Server) -> tuple[str, dict[Sample, float]]:
    # httpx.get opens a connection of its own each time: either server process may answer.
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    values = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, values


def cumulative(name: str) -> bool:
    """Samples that may only grow: counters and every part of a histogram."""
    return name.endswith(("_total", "_count", "_sum", "_bucket"))


def test_counters_add_up_over_the_server_processes(server: Server) -> None:
    scrapes = [scrape(server)]
    for i in range(ISSUES):
        csr = make_csr([f"www{i}.dmv.ca.gov"]).decode()
        r = httpx.post(
            f"{server.url}/api/v1/certificates",
            json={"org": "dmv", "csr": csr},
            headers=server.auth(),
            timeout=30,
        )
        assert r.status_code == 201, r.text
        scrapes += [scrape(server), scrape(server)]
    after = [scrape(server) for _ in range(6)]
    scrapes += after

    for text, _values in scrapes:
        assert not re.search(r"\bpid=", text), "a per-process label"
    for (_t, earlier), (_u, later) in itertools.pairwise(scrapes):
        for key, value in earlier.items():
            if cumulative(key[0]):
                assert later.get(key, 0) >= value, (key, value, later.get(key))
    issued_route = frozenset(
        {("method", "POST"), ("route", "/api/v1/certificates"), ("status", "201")}
    )
    for text, values in after:
        assert values[("certdesk_issuance_seconds_count", frozenset())] == ISSUES
        assert values[("certdesk_http_request_duration_seconds_count", issued_route)] == ISSUES
        # Read from the database by the answering process alone: once, not per process.
        assert values[("certdesk_certificates_issued", frozenset())] == ISSUES
        assert len(re.findall(r"^certdesk_certificates_issued ", text, re.M)) == 1
        assert (
            len(re.findall(r"^certdesk_ca_certificate_not_after_timestamp_seconds\{", text, re.M))
            == 2
        )


def test_a_request_id_is_echoed_and_on_the_access_line(server: Server) -> None:
    r = httpx.get(
        f"{server.url}/api/v1/orgs/dmv", headers=server.auth(**{"X-Request-ID": "abc123"})
    )
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "abc123"
    line = server.access_line("abc123")
    assert line["route"] == "/api/v1/orgs/{code}"
    assert (line["method"], line["status"], line["actor"]) == ("GET", 200, "operator")
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info" and line["timestamp"].endswith("Z")


def test_tokens_never_reach_the_log(server: Server) -> None:
    secret = server.token.split("_", 2)[2]
    for rid, url, headers in (
        ("in-query", f"/api/v1/orgs?token={server.token}", {}),
        ("in-header", "/api/v1/orgs", server.auth()),
        ("bad-header", "/api/v1/orgs", {"Authorization": f"Bearer {server.token}x"}),
        ("in-cookie", "/cases", {"Cookie": f"certdesk_session={server.token}"}),
    ):
        httpx.get(server.url + url, headers={**headers, "X-Request-ID": rid}, timeout=30)
        assert server.access_line(rid)["route"] in ("/api/v1/orgs", "/cases")
    text = server.served.stderr.read_text()
    assert secret not in text and server.token not in text
    assert "token=" not in text


def test_the_server_processes_log_json_to_the_end(server: Server) -> None:
    # Runs last in this module: it stops the server.
    metrics_dir = server.home / "data" / "run" / "metrics"
    assert [p.name for p in metrics_dir.iterdir()] == [str(server.served.proc.pid)]
    assert server.served.stop() == 0
    lines = json_log(server.served.stderr)  # every line, each one JSON
    events = [x["event"] for x in lines]
    assert events.count("Application startup complete.") == SERVER_PROCESSES
    assert sum(e.startswith("Finished server process") for e in events) == SERVER_PROCESSES
    assert list(metrics_dir.iterdir()) == []  # the counters' files went with the server


def run_worker(env: dict[str, str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(CERTDESK), "worker", "--once"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    log = Path(env["CERTDESK_DATA_DIR"]) / "worker.err"
    log.write_text(done.stderr)
    return json_log(log)


def test_debug_level_reaches_the_worker(tmp_path: Path) -> None:
    with scratch_database("sqlite", tmp_path, "worker") as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, ca_passphrase="w")
        env = certdesk_env(settings) | {"CERTDESK_LOG_FORMAT": "json"}
        run_cli(["init"], env)
        assert run_worker(env) == []  # one pass from cron: warnings and up only
        lines = run_worker(env | {"CERTDESK_LOG_LEVEL": "debug"})
    done = [x for x in lines if x["event"] == "job done"]
    started = [x["job"] for x in lines if x["event"] == "job started"]
    jobs = [x["job"] for x in done]
    assert jobs == started and len(set(jobs)) == len(jobs)  # each job once, each finished
    assert jobs[0] == "recover" and {"expire", "renew", "windows", "crl", "mail"} <= set(jobs)
    assert all(x["level"] == "debug" and x["logger"] == "certdesk.worker" for x in done)
    assert all(x["worker"] == done[0]["worker"] for x in lines if x["logger"] == "certdesk.worker")
    assert any(x["event"] == "pass" and x["level"] == "info" for x in lines)

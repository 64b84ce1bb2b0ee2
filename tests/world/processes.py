"""Real certdesk processes from tests: environment, CLI runs in a child process, children,
free ports, waiting."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from certdesk.config import Settings

VENV_BIN = Path(sys.executable).parent
CERTDESK = VENV_BIN / "certdesk"
CHILD = Path(__file__).parents[1] / "integration" / "issuing_child.py"


def certdesk_env(settings: Settings) -> dict[str, str]:
    """The environment a certdesk process needs to see exactly ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env.update(
        CERTDESK_DATA_DIR=str(settings.data_dir),
        CERTDESK_DATABASE_URL=settings.sqlalchemy_url,
        CERTDESK_CA_PASSPHRASE=settings.ca_passphrase,
        CERTDESK_BASE_URL=settings.base_url,
        CERTDESK_SIGNING_LEASE_SECONDS=str(settings.signing_lease_seconds),
        PYTHONUNBUFFERED="1",
    )
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_cli(args: Sequence[str], env: dict[str, str], *, timeout: float = 60) -> Any:
    """Run ``certdesk ARGS --json`` and return the parsed output; fail loudly otherwise."""
    done = subprocess.run(
        [str(CERTDESK), *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"certdesk {' '.join(args)} failed:\n{done.stderr}"
    return json.loads(done.stdout)


def spawn_child(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``issuing_child.py ARGS``; stdout and stderr go to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, str(CHILD), *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def spawn_serve(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``certdesk serve ARGS``; stdout and stderr go to ``log``. In a process group of
    its own, so that :func:`stop` also ends the worker processes of ``--workers N``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(CERTDESK), "serve", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def accepting(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    alive: Sequence[tuple[subprocess.Popen[bytes], Path]] = (),
) -> None:
    """Poll ``predicate`` until true; fail early when one of the ``alive`` processes exits."""
    deadline = time.monotonic() + timeout
    while not predicate():
        for proc, log in alive:
            if proc.poll() is not None:
                raise AssertionError(
                    f"child {proc.pid} exited with {proc.returncode} while waiting for {what}:\n"
                    + log.read_text(errors="replace")
                )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Make sure a child is gone and reaped (tests call this in ``finally``), with the
    processes of its group when it leads one (``serve --workers N``: a SIGKILLed supervisor
    leaves its uvicorn workers running, orphaned, until the machine stops)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # Before the wait: until it is reaped the child's pid (its group's id) is not reused.
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def json_log(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSON log file, each of which must be one JSON object."""
    text = path.read_text(errors="replace")
    complete = text[: text.rfind("\n") + 1]  # a line being written is left for later
    lines = []
    for line in complete.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line in {path.name}: {line!r}") from None
    return lines


@dataclass
class Served:
    """A ``certdesk serve`` process; its stdout and stderr go to files of their own."""

    url: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def stop(self) -> int:
        """SIGTERM (uvicorn's graceful shutdown), then the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop(self.proc)
        return self.proc.returncode


@contextmanager
def serving(
    env: dict[str, str], home: Path, port: int, *, workers: int = 1, timeout: float = 120
) -> Iterator[Served]:
    """Run ``certdesk serve`` until the block ends; ready when /readyz answers 200 and, with
    JSON logs, when every one of its ``workers`` processes has logged that it started."""
    out, err = home / "serve.out", home / "serve.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [
                *(str(CERTDESK), "serve", "--host", "127.0.0.1", "--port", str(port)),
                *("--workers", str(workers)),
            ],
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its group: stop() ends the workers too
        )
    served = Served(f"http://127.0.0.1:{port}", proc, out, err)
    try:

        def ready() -> bool:
            try:
                if httpx.get(f"{served.url}/readyz", timeout=5).status_code != 200:
                    return False
            except httpx.TransportError:
                return False
            if env.get("CERTDESK_LOG_FORMAT") != "json":
                return True
            started = [x for x in json_log(err) if x["event"] == "Application startup complete."]
            return len(started) >= workers

        wait_until(ready, timeout=timeout, what="certdesk serve", alive=[(proc, err)])
        yield served
    finally:
        served.stop()

"""The systemd units in deploy/ load cleanly, are hardened, and run real certdesk commands.

``systemd-analyze verify`` checks a unit as systemd would load it: every directive known and
parsed, timers with a trigger, and every ``ExecStart=`` program present and executable. Only
an unknown program is an error (non-zero exit); a misspelt directive or a bad value is a
warning that systemd ignores, so a unit counts as clean only with exit 0 *and* no output.

Running here (a container whose PID 1 is not systemd): ``systemd-analyze verify --man=no``
works offline as root or not; ``--man=no`` skips looking up ``Documentation=man:`` pages (no
man-db in slim images) and ``SYSTEMD_LOG_LEVEL=notice`` keeps the container's info lines
("Found container virtualization docker") out of the output, while warnings still show.
The units name the installed program ``/opt/certdesk/bin/certdesk``; the test verifies
copies with that path replaced by this virtualenv's ``certdesk``, and proves the check
catches real mistakes by verifying broken copies too.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cli_lines
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALLED = "/opt/certdesk/bin/certdesk"
CERTDESK = Path(sys.executable).with_name("certdesk")
SERVICES = sorted(p.name for p in DEPLOY.glob("*.service"))
TIMERS = sorted(p.name for p in DEPLOY.glob("*.timer"))

# The brief every service unit follows (docs/deploy.md, "systemd").
HARDENING = {
    "User": "certdesk",
    "Group": "certdesk",
    "EnvironmentFile": "/etc/certdesk/certdesk.env",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "CapabilityBoundingSet": "",
    "StateDirectoryMode": "0700",
    "UMask": "0077",
}
# systemd-analyze security's exposure score (0.0 safest - 10.0): 1.3 today; a dropped
# hardening line raises it.
MAX_EXPOSURE = 1.5


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing: make system-deps installs Debian's systemd"
    return found


def unit(name: str) -> configparser.ConfigParser:
    """A unit file read as INI, keeping repeated keys' last value and the keys' case."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text())
    return parser


def install(tmp: Path, edit: Callable[[str, str], str] = lambda _name, text: text) -> list[Path]:
    """Copies of every unit in ``tmp``, the program path replaced by this virtualenv's."""
    copies = []
    for name in [*SERVICES, *TIMERS]:
        text = (DEPLOY / name).read_text().replace(INSTALLED, str(CERTDESK))
        copy = tmp / name
        copy.write_text(edit(name, text))
        copies.append(copy)
    return copies


def verify(paths: list[Path]) -> tuple[int, str]:
    done = subprocess.run(
        [_analyze(), "verify", "--man=no", *map(str, paths)],
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def test_there_are_units_to_check() -> None:
    assert SERVICES == [
        "certdesk-backup.service",
        "certdesk-worker-once.service",
        "certdesk-worker.service",
        "certdesk.service",
    ]
    assert TIMERS == ["certdesk-backup.timer", "certdesk-worker.timer"]


def test_every_unit_verifies_cleanly(tmp_path: Path) -> None:
    assert verify(install(tmp_path)) == (0, "")


def _break(target: str, old: str, new: str) -> Callable[[str, str], str]:
    def edit(name: str, text: str) -> str:
        if name != target:
            return text
        assert old in text, (name, old)
        return text.replace(old, new, 1)

    return edit


@pytest.mark.parametrize(
    ("edit", "code", "says"),
    [
        pytest.param(_break("certdesk.service", str(CERTDESK), "/nonexistent/bin/certdesk"), 1,
                     "is not executable", id="broken/program-missing"),
        pytest.param(_break("certdesk-worker.service", "NoNewPrivileges=", "NoNewPrivilege="), 0,
                     "Unknown key", id="broken/misspelt-directive"),
        pytest.param(_break("certdesk-backup.service", "ProtectSystem=strict",
                            "ProtectSystem=strictest"), 0,
                     "Failed to parse", id="broken/bad-value"),
        pytest.param(_break("certdesk-backup.timer", "OnCalendar=", "# "), 1,
                     "Timer unit lacks value setting", id="broken/timer-without-trigger"),
    ],
)  # fmt: skip
def test_verify_catches_broken_units(
    tmp_path: Path, edit: Callable[[str, str], str], code: int, says: str
) -> None:
    rc, output = verify(install(tmp_path, edit))
    assert rc == code, output
    if says:
        assert says in output
    else:
        assert output == ""


@pytest.mark.parametrize("name", SERVICES, ids=lambda n: f"hardened/{n}")
def test_every_service_is_hardened(name: str, tmp_path: Path) -> None:
    service = unit(name)["Service"]
    assert {k: service.get(k) for k in HARDENING} == HARDENING
    assert service["StateDirectory"].split()[0] == "certdesk"
    assert "/var/lib/certdesk" in service["ReadWritePaths"].split()
    copy = install(tmp_path)[[*SERVICES, *TIMERS].index(name)]
    done = subprocess.run(
        [_analyze(), "security", "--offline=yes", "--no-pager", str(copy)],
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert score, done.stdout + done.stderr
    assert float(score.group(1)) <= MAX_EXPOSURE, done.stdout


@pytest.mark.parametrize("name", TIMERS, ids=lambda n: f"timer/{n}")
def test_every_timer_starts_a_service_of_deploy(name: str) -> None:
    # verify accepts a timer whose service does not exist: systemd would fail only when due.
    timer = unit(name)["Timer"]
    target = timer.get("Unit", name.removesuffix(".timer") + ".service")
    assert target in SERVICES
    assert unit(target)["Service"]["Type"] == "oneshot"


def _commands(name: str) -> list[list[str]]:
    """The certdesk command lines of a service's ExecStart= (directly or in ``sh -c``)."""
    commands = []
    for line in (DEPLOY / name).read_text().splitlines():
        if not line.startswith("ExecStart="):
            continue
        words = shlex.split(line.removeprefix("ExecStart="))
        if words[:2] == ["/bin/sh", "-c"]:
            words = shlex.split(words[2])
        at = words.index(INSTALLED)
        commands.append(words[at + 1 :])
    return commands


@pytest.mark.parametrize(
    ("name", "args"),
    [
        pytest.param(name, args, id=f"command/{name}")
        for name in SERVICES
        for args in _commands(name)
    ],
)
def test_every_service_runs_a_certdesk_command_with_valid_options(
    name: str, args: list[str]
) -> None:
    cli_lines.parse(args)

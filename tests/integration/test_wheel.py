"""certdesk as an operator installs it: a wheel built from this tree, installed into a new
virtualenv, run from a directory outside the source tree (no src/, no node_modules).

The wheel must hold every file the package reads at run time (console templates and
static files, migrations, notice templates): the test checks that every file under
src/certdesk is in it, then runs ``init``, ``serve`` and an issuance through the API from
the installed copy. Dependencies come from the hash-checked lock, as in ``make run``, out of
pip's cache when it has them. About 40 s, most of it installing the dependencies.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from cryptography import x509

import certdesk
from world.csr import make_csr
from world.processes import free_port, stop, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "certdesk"
PASSPHRASE = "wheel-test-passphrase"
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_ASSET_URL = re.compile(r'(?:src|href)="([^"]+)"')


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _build_wheel(tmp: Path) -> Path:
    """``pip wheel`` of a copy of the tree, so that the build leaves nothing in the repo."""
    source = tmp / "source"
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    shutil.copy(ROOT / "pyproject.toml", source)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "wheels", source],
         cwd=tmp)  # fmt: skip
    (wheel,) = (tmp / "wheels").glob("certdesk-*.whl")
    return wheel


def _install(wheel: Path, venv: Path) -> Path:
    """A new virtualenv with the locked dependencies and the wheel; returns its bin/."""
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python]  # this pip, working on that venv
    lock = ROOT / "requirements" / "runtime.txt"
    _run([*pip, "install", "-q", "--require-hashes", "-r", lock], cwd=venv.parent)
    _run([*pip, "install", "-q", "--no-deps", wheel], cwd=venv.parent)
    _run([*pip, "check"], cwd=venv.parent)  # the wheel's own requirements are all met
    return venv / "bin"


def test_the_wheel_installs_and_serves_outside_the_source_tree(tmp_path: Path) -> None:
    started = time.monotonic()
    wheel = _build_wheel(tmp_path)

    # 1. Every file of the package is in the wheel (templates, static, migrations, ...).
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    in_tree = {
        p.relative_to(PACKAGE.parent).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert sorted(in_tree - in_wheel) == []
    for needed in (
        "certdesk/web/console/static/certdesk.css",
        "certdesk/web/console/templates/login.html",
        "certdesk/store/migrations/versions/0001_initial.py",
        "certdesk/notify/templates/expiry.txt",
    ):
        assert needed in in_wheel

    bin_dir = _install(wheel, tmp_path / "venv")
    built = time.monotonic()

    # 2. The installed copy runs from elsewhere: its own package, not src/; ./var as data.
    site = tmp_path / "site"
    site.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CERTDESK_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env |= {
        "CERTDESK_BASE_URL": base,
        "CERTDESK_CA_PASSPHRASE": PASSPHRASE,
        "CERTDESK_PKI_BASE_URL": "http://pki.cdt.ca.gov",
        "PYTHONUNBUFFERED": "1",
    }
    where = _run([bin_dir / "python", "-c", "import certdesk; print(certdesk.__file__)"],
                 cwd=site, env=env)  # fmt: skip
    assert Path(where.strip()).is_relative_to(tmp_path / "venv"), where
    version = f"certdesk {certdesk.__version__}\n"
    assert _run([bin_dir / "certdesk", "--version"], cwd=site, env=env) == version
    assert _run([bin_dir / "python", "-m", "certdesk", "--version"], cwd=site, env=env) == version

    report = json.loads(_run([bin_dir / "certdesk", "init", "--json"], cwd=site, env=env))
    token = report["operator_token"]
    assert token and (site / "var").is_dir()
    _run([bin_dir / "certdesk", "org", "create", "dmv", "--name", "DMV", "--self-managed",
          "--grant", "zone:dmv.ca.gov"], cwd=site, env=env)  # fmt: skip

    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [bin_dir / "certdesk", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=site, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its group: stop() ends its worker processes too
        )  # fmt: skip
    try:
        with httpx.Client(base_url=base, timeout=30) as http:

            def answers() -> bool:
                try:
                    return http.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(answers, timeout=60, what="certdesk serve", alive=[(server, log)])
            _check_the_site(http, token)
    finally:
        stop(server)
    served = log.read_text(errors="replace")
    assert "Traceback" not in served, served
    print(
        f"\nwheel smoke test: build + install {built - started:.1f} s,"
        f" run {time.monotonic() - built:.1f} s, total {time.monotonic() - started:.1f} s"
    )


def _check_the_site(http: httpx.Client, token: str) -> None:
    health = http.get("/healthz").json()
    assert health == {"status": "ok", "version": certdesk.__version__}

    # The console, with its own stylesheet from the wheel; no node_modules here, so no
    # State Web Template (CERTDESK_CONSOLE_ASSETS_DIR is optional).
    login = http.get("/login")
    assert login.status_code == 200
    assert "/static/certdesk/certdesk.css" in login.text
    assert "/static/cagov/" not in login.text
    css = http.get("/static/certdesk/certdesk.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")

    # The API docs and every asset they name, from this server.
    for page, needs in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        resp = http.get(page)
        assert resp.status_code == 200, page
        urls = _ASSET_URL.findall(resp.text)
        assert any(u.endswith(needs) for u in urls), urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = http.get(url)
            assert asset.status_code == 200, url
            kind = ASSET_TYPES[url[url.rindex(".") :]]
            assert asset.headers["content-type"].split(";")[0] == kind, url

    metrics = http.get("/metrics").text
    assert re.search(rf'certdesk_build_info{{[^}}]*version="{re.escape(certdesk.__version__)}"',
                     metrics), metrics  # fmt: skip

    # An issuance through the API with the operator token init printed.
    resp = http.post(
        "/api/v1/certificates",
        json={"org": "dmv", "csr": make_csr(["www.dmv.ca.gov"]).decode()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 201, resp.text
    leaf, issuer = x509.load_pem_x509_certificates(resp.json()["fullchain"].encode())
    leaf.verify_directly_issued_by(issuer)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["www.dmv.ca.gov"]

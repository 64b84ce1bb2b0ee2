"""Upgrades and several hosts (issue 9 §8): one migration and one set-up however many
processes start at once; no process starts on a schema or a secret key that is not its own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from alembic import command
from live_processes import CERTDESK, certdesk_env
from sqlalchemy import func, select, text

from certdesk.config import Settings
from certdesk.core.access import Role
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.store.db import alembic_config, make_engine
from certdesk.store.models import ApiToken, Issuer, User, UserRole
from certdesk.store.schema import head_revision
from conftest import scratch_database

PASSPHRASE = "upgrade-test-passphrase"
INITS = 3  # processes starting `certdesk init` together
ROUNDS = {"postgresql": 3, "sqlite": 1}


def host(tmp: Path, name: str, url: str, **extra: str) -> dict[str, str]:
    """The environment of one host: its own data directory, the shared database."""
    settings = Settings(data_dir=tmp / name, database_url=url, ca_passphrase=PASSPHRASE, **extra)
    env = certdesk_env(settings)
    env["CERTDESK_PKI_BASE_URL"] = "http://pki.cdt.ca.gov"
    if "secrets_dir_setting" in extra:
        env["CERTDESK_SECRETS_DIR"] = extra["secrets_dir_setting"]
    return env


def certdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CERTDESK), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def together(envs: list[dict[str, str]], *args: str) -> list[tuple[int, str, str]]:
    procs = [
        subprocess.Popen(
            [str(CERTDESK), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        for env in envs
    ]  # fmt: skip
    return [(p.wait(timeout=180), *p.communicate()) for p in procs]  # type: ignore[misc]


def installation_counts(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "issuers": conn.scalar(select(func.count()).select_from(Issuer)),
                "roots": conn.scalar(
                    select(func.count()).select_from(Issuer).where(Issuer.is_root)
                ),
                "operator_tokens": conn.scalar(
                    select(func.count())
                    .select_from(ApiToken)
                    .where(ApiToken.role == str(Role.OPERATOR), ApiToken.user_id.is_(None))
                ),
                "operator_accounts": conn.scalar(
                    select(func.count(func.distinct(User.id)))
                    .select_from(User)
                    .join(UserRole)
                    .where(UserRole.role == str(Role.OPERATOR))
                ),
                "revision": conn.scalar(text("SELECT version_num FROM alembic_version")),
            }
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_concurrent_inits_set_up_exactly_once(backend: str, tmp_path: Path) -> None:
    for round_ in range(ROUNDS[backend]):
        tmp = tmp_path / f"round{round_}"
        tmp.mkdir()
        with scratch_database(backend, tmp, "inits") as url:
            # On SQLite the hosts share one data directory (one file system); on PostgreSQL
            # each has its own and they share the secrets directory, as deploy.md says.
            shared = tmp / "shared-secrets"
            envs = [
                host(tmp, "var" if backend == "sqlite" else f"host{i}", url,
                     **({} if backend == "sqlite" else {"secrets_dir_setting": str(shared)}))
                for i in range(INITS)
            ]  # fmt: skip
            results = together(envs, "init", "--json")
            for code, _out, err in results:
                assert code == 0, err
                assert "Traceback" not in err
            assert installation_counts(url) == {
                "issuers": 2,
                "roots": 1,
                "operator_tokens": 1,
                "operator_accounts": 1,
                "revision": head_revision(),
            }
            created = [out for _code, out, _err in results if '"created_ca": true' in out]
            assert len(created) == 1


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_db_upgrade_runs_once_and_serve_and_worker_refuse_an_old_or_newer_schema(
    backend: str, tmp_path: Path
) -> None:
    with scratch_database(backend, tmp_path, "upgrade") as url:
        _old_and_newer_schema(url, tmp_path)


def _old_and_newer_schema(database_url: str, tmp_path: Path) -> None:
    env = host(tmp_path, "var", database_url)
    assert certdesk(env, "init").returncode == 0
    engine = make_engine(database_url)
    try:
        # An installation some releases behind: the revisions after 0004 stepped down (their
        # downgrades undo exactly their upgrades, tests/store/test_migrations.py).
        cfg = alembic_config(database_url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004")
        for args in (["worker", "--once"], ["serve", "--port", "1"], ["cert", "list"]):
            done = certdesk(env, *args)
            assert done.returncode == 4, (args, done.stderr)
            assert done.stderr.endswith(
                f"the database schema is at 0004, this certdesk needs {head_revision()}:"
                f" run '{CERTDESK}' db upgrade'\n".replace("' db", " db")
            ), done.stderr
            assert done.stdout == "" or "serving" not in done.stdout
        results = together([env, env, env], "db", "upgrade")
        assert [code for code, _o, err in results] == [0, 0, 0], results
        outs = sorted(out for _c, out, _e in results)
        assert outs == [
            f"schema already at {head_revision()}\n",
            f"schema already at {head_revision()}\n",
            f"schema upgraded from 0004 to {head_revision()}\n",
        ]
        assert certdesk(env, "worker", "--once").returncode == 0
        with engine.begin() as conn:  # a database a newer release upgraded
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        done = certdesk(env, "worker", "--once")
        assert done.returncode == 4
        assert "the database schema is at 9999, newer than this certdesk knows" in done.stderr
        assert certdesk(env, "db", "upgrade").returncode == 4  # never a silent downgrade
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE alembic_version SET version_num = '{head_revision()}'"))
    finally:
        engine.dispose()


def test_hosts_share_secrets_and_a_host_with_other_secrets_refuses(tmp_path: Path) -> None:
    with scratch_database("postgresql", tmp_path, "hosts") as url:
        _hosts(url, tmp_path)


def _hosts(database_url: str, tmp_path: Path) -> None:
    first = host(tmp_path, "host1", database_url)
    assert certdesk(first, "init").returncode == 0
    # A second host: its own data directory with a copy of the CA key files, the first
    # host's secrets directory (shared storage in a real deployment).
    (tmp_path / "host2").mkdir(mode=0o700)
    shutil.copytree(tmp_path / "host1" / "ca", tmp_path / "host2" / "ca")
    second = host(
        tmp_path, "host2", database_url, secrets_dir_setting=str(tmp_path / "host1" / "secrets")
    )
    done = certdesk(second, "org", "list")
    assert (done.returncode, done.stderr) == (0, "")
    settings = [
        Settings(data_dir=tmp_path / h, database_url=database_url, ca_passphrase=PASSPHRASE,
                 **extra)
        for h, extra in (("host1", {}),
                         ("host2", {"secrets_dir_setting": str(tmp_path / "host1" / "secrets")}))
    ]  # fmt: skip
    one, two = (Services(Runtime.open(s)) for s in settings)
    try:
        assert two.secretbox.open(one.secretbox.seal(b"totp seed")) == b"totp seed"
        assert one.secretbox.derive("csrf") == two.secretbox.derive("csrf")
    finally:
        one.rt.close()
        two.rt.close()
    # A third host that was given no secrets: it refuses and makes no key of its own.
    (tmp_path / "host3").mkdir(mode=0o700)
    shutil.copytree(tmp_path / "host1" / "ca", tmp_path / "host3" / "ca")
    third = host(tmp_path, "host3", database_url)
    for args in (["org", "list"], ["worker", "--once"], ["serve", "--port", "1"], ["init"]):
        done = certdesk(third, *args)
        assert done.returncode == 4, (args, done.stderr)
        assert done.stderr.startswith("error: this installation's secret key (fingerprint ")
        assert "is not in" in done.stderr and "CERTDESK_SECRETS_DIR" in done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "host3" / "secrets" / "secretbox.key").exists()
    # A host holding another installation's key refuses too.
    (tmp_path / "host3" / "secrets").mkdir(mode=0o700, exist_ok=True)
    shutil.copy(tmp_path / "host1" / "secrets" / "secretbox.key", tmp_path / "other.key")
    other = Services(
        Runtime.open(Settings(data_dir=tmp_path / "elsewhere", ca_passphrase=PASSPHRASE))
    )
    try:
        other.secretbox.seal(b"x")  # makes a fresh key in elsewhere/secrets
    finally:
        other.rt.close()
    shutil.copy(
        tmp_path / "elsewhere" / "secrets" / "secretbox.key",
        tmp_path / "host3" / "secrets" / "secretbox.key",
    )
    done = certdesk(third, "org", "list")
    assert done.returncode == 4
    assert "is not this installation's secret key" in done.stderr


@pytest.mark.parametrize("backend", ["sqlite"])
def test_passphrase_from_a_file(database_url: str, tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    env = host(tmp_path, "var", database_url)
    env.pop("CERTDESK_CA_PASSPHRASE")
    env["CERTDESK_CA_PASSPHRASE_FILE"] = str(secret)
    assert certdesk(env, "init").returncode == 0
    assert not (tmp_path / "var" / "secrets" / "ca-passphrase").exists()
    assert certdesk(env, "crl").returncode == 0  # the CA key opens with it
    both = env | {"CERTDESK_CA_PASSPHRASE": PASSPHRASE}
    done = certdesk(both, "crl")
    assert done.returncode == 2
    assert done.stderr == (
        "error: set CERTDESK_CA_PASSPHRASE or CERTDESK_CA_PASSPHRASE_FILE, not both\n"
    )

"""The secret-box key check every process runs before it starts (services/startup.py): a
host of the installation passes; a host with no key or another key refuses and makes none;
only ``init`` makes the first key, and the fingerprint is recorded once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete

from certdesk.errors import Unavailable
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import KEY_FILE
from certdesk.services.setup import initialize
from certdesk.services.startup import check_ready_to_start, check_secret_key
from certdesk.store import installation
from certdesk.store.models import InstallationFact
from conftest import ManualClock

SHARED, MISSING, OTHER = "shared", "missing", "other"


def recorded(svc: Services) -> str | None:
    with svc.rt.reads() as s:
        return installation.read(s, installation.SECRETBOX_FINGERPRINT)


@pytest.fixture
def second_host(
    services: Services, tmp_path: Path, clock: ManualClock, request: pytest.FixtureRequest
) -> Iterator[Services]:
    """Another host on the database of ``services``, given the key named by the test."""
    secrets_dir = {
        SHARED: services.rt.settings.secrets_dir,
        MISSING: tmp_path / "host2" / "secrets",
        OTHER: tmp_path / "other-secrets",
    }[request.param]
    if request.param == OTHER:
        secrets_dir.mkdir(mode=0o700)
        (secrets_dir / KEY_FILE).write_bytes(Fernet.generate_key() + b"\n")
    settings = services.rt.settings.model_copy(
        update={"data_dir": tmp_path / "host2", "secrets_dir_setting": secrets_dir}
    )
    svc = Services(Runtime.open(settings, clock))
    yield svc
    svc.rt.close()


@pytest.mark.parametrize(
    ("second_host", "refusal"),
    [
        pytest.param(SHARED, None, id="key/shared-passes"),
        pytest.param(MISSING, "secretbox.missing", id="key/missing-refused-none-made"),
        pytest.param(OTHER, "secretbox.other_key", id="key/other-refused"),
    ],
    indirect=["second_host"],
)
@pytest.mark.parametrize("how", ["start", "init"])
def test_a_host_starts_only_with_the_installations_key(
    services: Services, second_host: Services, refusal: str | None, how: str
) -> None:
    fingerprint = recorded(services)
    assert fingerprint == services.secretbox.fingerprint(create=False)
    start = {
        "start": lambda: check_ready_to_start(second_host),
        "init": lambda: initialize(second_host, with_token=False),
    }[how]
    key_existed = second_host.secretbox.exists()
    if refusal is None:
        start()
    else:
        with pytest.raises(Unavailable) as caught:
            start()
        assert caught.value.code == refusal
        assert fingerprint is not None and fingerprint[:12] in caught.value.detail
    assert second_host.secretbox.exists() == key_existed  # never a key of its own
    assert recorded(services) == fingerprint


@pytest.mark.parametrize(
    ("second_host", "first_run", "refusal"),
    [
        pytest.param(SHARED, False, None, id="unrecorded/key-file-recorded-at-start"),
        pytest.param(MISSING, False, "secretbox.unrecorded", id="unrecorded/no-key-refused"),
        pytest.param(MISSING, True, None, id="unrecorded/init-makes-and-records-a-key"),
    ],
    indirect=["second_host"],
)
def test_an_upgraded_installation_records_its_key_once(
    services: Services, second_host: Services, first_run: bool, refusal: str | None
) -> None:
    # A database upgraded from a release that recorded no fingerprint.
    with services.rt.sessions.begin() as s:
        s.execute(delete(InstallationFact))
    if refusal is not None:
        with pytest.raises(Unavailable) as caught:
            check_secret_key(second_host, first_run=first_run)
        assert caught.value.code == refusal
        assert "run 'certdesk init'" in caught.value.detail
        assert not second_host.secretbox.exists()
        assert recorded(services) is None
        return
    fingerprint = check_secret_key(second_host, first_run=first_run)
    assert recorded(services) == fingerprint == second_host.secretbox.fingerprint(create=False)
    assert check_secret_key(second_host) == fingerprint  # recorded once, then compared

"""One limit on the names of a certificate, on every path (issue 10, finding 6), on SQLite and
PostgreSQL.

A CSR of 1,000 names used to be issued and to become a 1,000-name submittal. The limit is
``CERTDESK_MAX_NAMES_PER_CERT`` (R1, :func:`certdesk.core.names.check_name_count`); this desk
sets it to 3 so that every path is shown refusing 4 names and accepting 3.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from certdesk.core.keys import KeyType
from certdesk.errors import PolicyRefusal
from certdesk.services.casework.window import Reissue
from certdesk.services.pki.issuance import IssueCommand, Issued
from conftest import OPERATOR
from world.csr import make_csr
from world.desk import DMV, START, Desk, desk_fixture, sub

LIMIT = 3


desk = desk_fixture("namelimit", max_names_per_cert=LIMIT)


@pytest.fixture(autouse=True)
def _start(desk: Desk) -> None:
    desk.at(START)


def names(desk: Desk, count: int) -> list[str]:
    stem = desk.unique("n")
    return [f"{stem}-{i}.dmv.ca.gov" for i in range(count)]


def _csr_validate(desk: Desk, n: int) -> object:
    return desk.services.csrs.validate(desk["opal"], make_csr(names(desk, n)), None)


def _csr_new(desk: Desk, n: int) -> object:
    return desk.services.csrs.generate(names(desk, n), KeyType.EC256)


def _issuance(desk: Desk, n: int) -> Issued:
    return desk.services.issuance.issue(
        OPERATOR, IssueCommand(org_code=DMV, csr=make_csr(names(desk, n)))
    )


def _case(desk: Desk, n: int) -> object:
    return desk.draft("ana", submittals=(sub(*names(desk, n)),))


def _case_csr(desk: Desk, n: int) -> object:
    return desk.draft("ana", submittals=(sub(csr=make_csr(names(desk, n))),))


def _case_added_submittal(desk: Desk, n: int) -> object:
    view = desk.draft("ana")
    return desk.services.cases.add_submittal(desk["ana"], view.number, sub(*names(desk, n)))


def _reissue(desk: Desk, n: int) -> object:
    view = desk.approved(DMV, submittals=(sub(*names(desk, 1)),))
    desk.services.fulfilment.fulfil(desk["opal"], view.number)
    return desk.services.window.reissue(
        desk["ana"], view.number, Reissue(view.submittals[0].id, names=tuple(names(desk, n)))
    )


def _renewal_of_issued(desk: Desk, n: int) -> object:
    old = _issuance(desk, 1)
    return desk.services.issuance.issue(
        OPERATOR,
        IssueCommand(org_code=DMV, csr=make_csr(names(desk, n)), renewal_of=old.serial),
    )


PATHS: list[object] = [
    pytest.param(_csr_validate, id="sec/max-names/csr"),
    pytest.param(_csr_new, id="sec/max-names/csr-new"),
    pytest.param(_issuance, id="sec/max-names/issuance"),
    pytest.param(_case, id="sec/max-names/case"),
    pytest.param(_case_csr, id="sec/max-names/case-csr"),
    pytest.param(_case_added_submittal, id="sec/max-names/case-add-submittal"),
    pytest.param(_reissue, id="sec/max-names/case-reissue"),
    pytest.param(_renewal_of_issued, id="sec/max-names/renewal-issued"),
]


@pytest.mark.parametrize("path", PATHS)
def test_every_path_refuses_more_names_than_the_limit(
    desk: Desk, path: Callable[[Desk, int], object]
) -> None:
    path(desk, LIMIT)  # at the limit: accepted
    with pytest.raises(PolicyRefusal) as info:
        path(desk, LIMIT + 1)
    assert (info.value.code, info.value.rule) == ("name.too_many", "R1")
    assert info.value.extra["limit"] == LIMIT
    assert f"at most {LIMIT}" in info.value.detail


def test_a_thousand_names_are_refused_before_any_is_judged(desk: Desk) -> None:
    # The review's CSR: a thousand SANs, each of which would otherwise get a verdict.
    before = desk.counts()
    with pytest.raises(PolicyRefusal) as info:
        _issuance(desk, 1000)
    assert info.value.code == "name.too_many"
    assert info.value.extra["count"] == 1000
    assert "verdicts" not in info.value.extra
    assert desk.counts() == before


@pytest.mark.parametrize("source", ["case", "issued"], ids=lambda s: f"sec/max-names/renewal-{s}")
def test_a_renewal_is_held_to_the_limit_of_its_day(
    desk: Desk, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate issued under a higher limit is not renewed with more names than now."""
    if source == "case":
        view = desk.approved(DMV, submittals=(sub(*names(desk, LIMIT)),))
        delivered = desk.services.fulfilment.fulfil(desk["opal"], view.number)
        serial = (
            desk.services.window.certificates_of_case(desk["opal"], delivered.number)
            .certificates[0]
            .serial
        )
    else:
        serial = _issuance(desk, LIMIT).serial
    monkeypatch.setattr(desk.services.rt.settings, "max_names_per_cert", LIMIT - 1)
    before = desk.counts()
    with pytest.raises(PolicyRefusal) as info:
        desk.services.fulfilment.open_renewal(desk["opal"], serial)
    assert info.value.code == "name.too_many"
    assert desk.counts() == before

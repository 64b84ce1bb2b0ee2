"""``certdesk init``: schema, CA hierarchy, first operator token, recovery. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from certdesk.core.access import Actor, Role
from certdesk.services.people.accounts import PasswordLink
from certdesk.services.people.tokens import NewToken
from certdesk.services.startup import check_secret_key
from certdesk.store.schema import setup_lock, upgrade_held

if TYPE_CHECKING:
    from certdesk.services.registry import Services

LOCAL_OPERATOR = Actor(name="cli:operator", role=Role.OPERATOR)


@dataclass
class InitReport:
    created_ca: bool
    issuers: list[tuple[str, str, bool]] = field(default_factory=list)  # slug, name, is_root
    operator_token: NewToken | None = None
    operator_account: PasswordLink | None = None  # the console's first operator (shown once)
    voided: list[str] = field(default_factory=list)


def initialize(services: Services, *, with_token: bool = True) -> InitReport:
    """Migrate, create the CA if missing, publish missing CRLs, resolve crashed intents.

    All of it runs under the installation-wide set-up lock and re-checks what exists inside
    it: N processes running ``init`` at once end with one migration, one CA hierarchy, one
    first operator token and one first operator account.
    """
    with setup_lock(services.rt.engine):
        return _initialize(services, with_token=with_token)


def _initialize(services: Services, *, with_token: bool) -> InitReport:
    rt = services.rt
    upgrade_held(rt.engine, wrapper=services.secretbox)  # refuses a schema newer than this certdesk
    check_secret_key(services, first_run=True)  # the first init records the key
    services.audit.ensure_keyed()  # R15: a new log is keyed from its first event
    created, rows = services.authority.ensure_hierarchy()
    report = InitReport(created_ca=created, issuers=[(r.slug, r.name, r.is_root) for r in rows])
    for slug, _name, _root in report.issuers:
        services.revocation.crl(slug)  # publishes the first CRL if none exists yet
    report.voided = services.issuance.recover()
    if with_token and not services.tokens.has_operator_token():
        report.operator_token = services.tokens.create(
            LOCAL_OPERATOR, role=Role.OPERATOR, org_code=None, label="first operator (init)"
        )
    if with_token and not services.accounts.has_person_with(Role.OPERATOR):
        # The console's first sign-in: an operator account whose password is chosen through
        # a single-use enrollment link, printed once by `certdesk init` (R10).
        settings = rt.settings
        report.operator_account = services.accounts.create(
            LOCAL_OPERATOR,
            settings.first_operator_login,
            name="certdesk operator",
            email=settings.first_operator_email,
            org_code=None,
            roles=[str(Role.OPERATOR)],
            mail=False,  # printed by init; the default address is not a mailbox
        )
    return report

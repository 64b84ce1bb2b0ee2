"""Which submittals a contact replacement reaches (R9, R15).

"Replace contact X by Y everywhere" changes who hears about work that is still going on: the
submittals of cases not yet closed or cancelled, and those whose certificate is in force.
A closed case about a certificate that is revoked, superseded or expired is history: it keeps
naming the person who was the contact then.
"""

from __future__ import annotations

from certdesk.core.certificates import CertStatus
from certdesk.core.workflow import State

FINISHED_CASES = frozenset({State.CLOSED, State.CANCELLED})


def replacement_reaches(case_state: str, cert_status: str | None) -> bool:
    """Whether a replacement renames the contact on a submittal of a case in ``case_state``
    whose certificate (if any) is in ``cert_status``."""
    if cert_status == CertStatus.ACTIVE:
        return True
    return State(case_state) not in FINISHED_CASES

"""dns-01 (RFC 8555 §8.4): a TXT record at ``_acme-challenge.NAME`` holds
base64url(SHA-256(key authorization)).

The VA asks one resolver (``CERTDESK_ACME_VA_DNS_SERVER``, else the system's). CNAMEs are
followed (§8.4 delegates the record with them, as certbot's and lego's DNS hooks expect): a
recursive resolver follows them itself; an authoritative server answers a CNAME that leaves
its zone with the CNAME alone, so :func:`txt_values` asks again for the chain's end, at most
:data:`MAX_CNAME_HOPS` times and never twice for one name.
"""

from __future__ import annotations

from datetime import datetime

import dns.exception
import dns.name
import dns.resolver

from certdesk.core.acme_states import dns01_txt
from certdesk.services.acme.validation import Targets, ValidationFailed, ValidationTask

MAX_CNAME_HOPS = 8


def txt_values(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at ``name`` after following its CNAMEs; ValidationFailed(dns) when
    there are none or the lookup fails."""
    seen: set[dns.name.Name] = set()
    qname = dns.name.from_text(name)
    for _ in range(MAX_CNAME_HOPS + 1):
        if qname in seen:
            raise ValidationFailed("dns", f"the CNAMEs from {name} form a loop")
        seen.add(qname)
        try:
            answer = resolver.resolve(qname, "TXT", raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            raise ValidationFailed("dns", f"no TXT record at {name}") from None
        except dns.exception.DNSException as exc:
            raise ValidationFailed("dns", f"looking up TXT {name} failed: {exc}") from None
        if answer.rrset is not None:
            return [b"".join(r.strings).decode("ascii", "replace") for r in answer.rrset]
        if answer.canonical_name == qname:
            raise ValidationFailed("dns", f"no TXT record at {name}")
        qname = answer.canonical_name  # a CNAME out of the server's zone: ask for its end
    raise ValidationFailed("dns", f"more than {MAX_CNAME_HOPS} CNAMEs from {name}")


class Dns01:
    def __init__(self, targets: Targets) -> None:
        self._resolver = targets.resolver

    def validate(self, task: ValidationTask) -> datetime | None:
        name = f"_acme-challenge.{task.name}"
        if dns01_txt(task.key_authorization) not in txt_values(self._resolver, name):
            raise ValidationFailed("incorrectResponse", f"no TXT record at {name} matches")
        return None

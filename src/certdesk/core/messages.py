"""The message catalogue: what a person reads for an error code or a state (R19).

Every error certdesk raises carries a stable dotted code (``name.not_granted``) and a detail
written by the service that raised it. The API keeps both, and the rule number, in its
machine fields. People read the catalogue's sentence instead, here, in one place for the
console and the mail:

- :func:`sentence_for` gives the sentence of a code: its own entry, else its family's
  (``name.*``), else the sentence of its kind (invalid, forbidden, ...);
- :func:`for_people` adds the service's detail, which names what was refused (which name,
  which label, which date), unless it is written for a terminal (it names a command-line
  option such as ``--org``, or the code is one of :data:`TERMINAL_DETAILS`); rule numbers
  are taken out of what is shown;
- :func:`state_label` names a case, certificate or notice state.
"""

from __future__ import annotations

import re

__all__ = [
    "CODES",
    "FAMILIES",
    "KINDS",
    "STATES",
    "TERMINAL_DETAILS",
    "for_people",
    "sentence_for",
    "state_label",
    "without_rules",
]

# Codes whose detail speaks to an operator at a terminal or names internals: people read
# only the catalogue's sentence for these.
TERMINAL_DETAILS = frozenset(
    {
        "internal",
        "auth.forbidden",  # names the action's code ("may not cert.revoke")
        "csrf.refused",
        "database.unavailable",
        "auth.token",
        "page.cursor",
        "page.limit",
        "token.org",
        "user.org",
        "user.roles",
        "http.404",
        "http.405",
        "http.500",
    }
)
_TERMINAL_FAMILIES = ("schema.", "secretbox.", "backup.", "restore.", "data_key.", "datadir.")

CODES: dict[str, str] = {
    # attachments, imports and server checks (issues 14 and 15)
    "attachment.too_large": "The file is larger than cases accept.",
    "attachment.too_many": "This case already holds as many files as it may.",
    "attachment.empty": "The file is empty.",
    "attachment.not_yours": (
        "Only your organization's case editors may delete the files your organization"
        " attached; files attached by certificate services stay unless they remove them."
    ),
    "attachment.case_finished": "Files cannot be deleted once a case is closed or cancelled.",
    "attachment.unknown": "There is no such file on this case.",
    "discovery.unknown_job": "There is no such discovery.",
    "ct.bad_start": "Start reading at the head, at 0 or at an entry number.",
    "ct.start_beyond_head": "The log does not hold that many entries yet.",
    "endpoint.address_not_allowed": "This address may not be checked from here.",
    "endpoint.unreachable": "The server did not answer.",
    "endpoint.unresolvable": "The server's name could not be found in DNS.",
    "import.bad_password": "The password for the certificate file was refused.",
    "import.unknown_format": "The file is not a certificate format certdesk reads.",
    "prefs.safety": "Expiry, revocation and password mail cannot be turned off.",
    # names and grants (R1, R2)
    "name.not_granted": "Your organization may not obtain a certificate for this name.",
    "name.outside_suffixes": "This name is not under a state domain this service covers.",
    "name.underscore": "A name may not contain an underscore.",
    "name.trailing_dot": "A name may not end with a dot.",
    "name.wildcard_on_suffix": "A wildcard directly on a state domain is not allowed.",
    "name.lookalike": "This name only looks like a state domain.",
    "name.too_many": "The certificate has more names than allowed.",
    # certificate requests and keys (R12)
    "csr.bad_signature": "The certificate request's signature does not verify.",
    "csr.unparseable": "The file is not a certificate request (CSR).",
    "csr.missing": "Add a certificate request (CSR) or ask cert services to generate the key.",
    "key.too_small": "The key is too small.",
    "csr.unsupported_signature": "The certificate request is signed with an outdated algorithm.",
    "csr.must_staple": "Certificates here cannot carry OCSP Must-Staple; request one without it.",
    # cases (R3, R4, R8)
    "case.unknown": "There is no such case.",
    "case.state": "The case is not at a step where this can be done.",
    "case.self_approval": "You cannot approve a case you requested.",
    "case.not_an_approver": "You are not an approver of this case.",
    "case.already_decided": "You have already decided on this case.",
    "case.window_closed": "The 25 days for changes after delivery are over; open a new case.",
    "case.no_submittal": "Add at least one certificate to the case.",
    "case.incomplete": "Some information is missing from the case.",
    "case.title": "Give the case a title.",
    "case.type": "Choose what the case is for.",
    "case.delivery_past": "The requested delivery date is in the past.",
    "case.busy": "Someone else is working on this case; try again in a moment.",
    "submittal.names": "Give the names the certificate is for.",
    "submittal.contacts": "Check the contact's name and email address.",
    "submittal.csr": "The certificate request does not match the names given.",
    "submittal.file": "The uploaded file could not be read.",
    # certificates
    "cert.unknown": "There is no such certificate.",
    "cert.revoked": "The certificate is already revoked.",
    "revoke.reason": "Choose a reason for revoking.",
    "cert.renewal_open": "A renewal of this certificate is already under way.",
    # people and access (R10)
    "auth.forbidden": "You may not do this.",
    "auth.other_org": "You may not act for another organization.",
    "auth.token": "Your session has ended. Sign in again.",
    "auth.login": "The sign-in name or password is wrong.",
    "account.locked": "The account is locked after too many failed sign-ins; try again later.",
    "account.disabled": "This account is disabled.",
    "account.no_roles": "This account holds no role; ask your administrator.",
    "password.expired": "Your password has expired; choose a new one.",
    "user.exists": "Someone already has this sign-in name.",
    "user.roles": "Pick at least one role. Cert services roles (operator, auditor) cannot be"
    " combined with an agency's roles.",
    "user.role": "You may not give this role.",
    "user.org": "Operators and auditors belong to no organization; requesters, approvers and"
    " delegated administrators belong to one. Check the organization you chose.",
    "user.email": "Give a valid email address.",
    "token.org": "Choose the organization the token acts for (cert services tokens act for none).",
    "token.role": "Choose the token's role.",
    "org.unknown": "There is no such organization.",
    "org.exists": "An organization with this code already exists.",
    "contact.email": "Give a valid email address for the contact.",
    "contact.unknown": "There is no such contact.",
    "issuer.unknown": "There is no such certificate authority.",
    "issuer.unreachable": "The vendor's certificate authority cannot be reached right now.",
    "export.format": "Choose CSV or JSON.",
    "page.cursor": "That page of results no longer exists; start from the first page.",
    "csrf.refused": "The form had expired. Reload the page and try again.",
    "database.unavailable": "The service is briefly unavailable; try again in a moment.",
    "http.404": "There is no such page.",
    "http.405": "This page cannot be used that way.",
    "http.500": "Something went wrong on our side; nothing was changed. Try again later.",
    "internal": "Something went wrong on our side; nothing was changed. Try again later.",
}

FAMILIES: dict[str, str] = {
    "attachment": "The file could not be attached to the case.",
    "contract": "The vendor contract could not be saved.",
    "ct": "The Certificate Transparency log could not be used.",
    "endpoint": "The server could not be checked.",
    "external": "The external certificate could not be changed.",
    "import": "The certificates could not be imported.",
    "prefs": "The mail preferences could not be saved.",
    "verify": "The server check is not set up correctly.",
    "webhook": "The webhook could not be saved.",
    "account": "There is a problem with this account.",
    "apidocs": "The API documentation is not installed here.",
    "dns01": "The domain's DNS could not be used to prove control of the name.",
    "duration": "Give a length of time such as 30d or 2w.",
    "not_found": "It does not exist, or you may not see it.",
    "pkcs12": "The password for the key file was refused.",
    "search": "The search text is too long.",
    "acme": "The automated certificate request (ACME) was refused.",
    "approval": "The approval settings were refused.",
    "approval_policy": "The approval settings were refused.",
    "ari": "The renewal information could not be read.",
    "audit": "The audit log could not be shown for this choice.",
    "auth": "You may not do this.",
    "backlog": "The work backlog could not be read.",
    "backup": "The backup could not be made or read.",
    "ca": "The certificate authority is not ready.",
    "case": "The case could not be changed.",
    "cert": "The certificate could not be changed.",
    "certificate": "The certificate could not be changed.",
    "checkpoint": "The audit checkpoint could not be verified.",
    "cli": "The command was refused.",
    "config": "A setting of the service is wrong.",
    "contact": "The contact could not be saved.",
    "cost": "The cost could not be saved.",
    "crl": "The revocation list is not available.",
    "csr": "The certificate request (CSR) was refused.",
    "csrf": "The form had expired. Reload the page and try again.",
    "data_key": "The service's encryption key does not match.",
    "database": "The service is briefly unavailable; try again in a moment.",
    "datadir": "The service's data folder is not set up safely.",
    "download": "The download could not be prepared.",
    "enrollment": "This enrollment link cannot be used.",
    "export": "The export could not be made.",
    "file": "The file could not be read or written.",
    "forecast": "The forecast could not be made for this choice.",
    "http": "The page could not be shown.",
    "grant": "The domain grant could not be changed.",
    "input": "Some of what you typed could not be used.",
    "issuance": "The certificate could not be issued.",
    "issuer": "The certificate authority could not be used.",
    "key": "The key was refused.",
    "lint": "The certificate failed its quality check and was not issued.",
    "login": "Signing in did not work.",
    "mail": "Mail is not set up.",
    "name": "This name cannot be used for a certificate.",
    "notice": "The notice could not be changed.",
    "ocsp": "The certificate status request was refused.",
    "order": "There is no such order.",
    "org": "The organization could not be changed.",
    "page": "That page of results could not be shown.",
    "password": "The password was refused.",
    "policy": "The names could not be checked.",
    "renewal": "The renewal date was refused.",
    "report": "The report could not be made for this choice.",
    "request": "The request could not be read.",
    "restore": "The backup could not be restored.",
    "revoke": "The certificate could not be revoked.",
    "schema": "The database needs an upgrade by the administrator.",
    "secretbox": "The service's encryption key is not available.",
    "session": "Your session has ended. Sign in again.",
    "smtp": "Mail is not set up.",
    "solver": "The domain validation settings were refused.",
    "submittal": "A certificate of the case could not be saved.",
    "token": "The API token could not be used.",
    "totp": "The authenticator code was refused.",
    "user": "The person could not be saved.",
    "validity": "The certificate's lifetime was refused.",
    "vendor": "The vendor's certificate authority refused or failed the order.",
    "window": "The 25 days for changes after delivery are over; open a new case.",
    "worker": "The background worker is not running.",
}

KINDS: dict[str, str] = {
    "invalid": "Some of what you entered could not be used.",
    "unauthorized": "Sign in to continue.",
    "forbidden": "You may not do this.",
    "not_found": "It does not exist, or you may not see it.",
    "conflict": "It cannot be done at this step.",
    "unavailable": "The service is briefly unavailable; try again in a moment.",
}

STATES: dict[str, str] = {
    # cases (core.workflow.State)
    "draft": "Draft",
    "submitted": "Submitted",
    "pending_approval": "Waiting for approval",
    "approved": "Approved, waiting for cert services",
    "in_progress": "Being worked on",
    "delivered": "Delivered",
    "closed": "Closed",
    "rejected": "Sent back",
    "cancelled": "Cancelled",
    # certificates (core.certificates.CertStatus)
    "active": "Valid",
    "superseded": "Replaced by a renewal",
    "revoked": "Revoked",
    "expired": "Expired",
    "signing": "Being issued",
    "void": "Not issued",
    "retiring": "Valid until its replacement takes over",
    # revocation reasons (RFC 5280 §5.3.1)
    "unspecified": "No particular reason",
    "keyCompromise": "The private key was exposed",
    "affiliationChanged": "The names or organization changed",
    "cessationOfOperation": "The site is shut down",
    # notices (core.notices.NoticeState)
    "pending": "Waiting to be sent",
    "retrying": "Will be tried again",
    "sending": "Being sent",
    "sent": "Sent",
    "failed": "Could not be sent",
    "skipped": "Not sent (turned off by its recipient)",
    # case types (core.workflow.CaseType)
    "new": "New certificate",
    "renewal": "Renewal",
    "change": "Change",
    "revoke": "Revocation",
    "delete": "Removal",
    "csr": "Certificates from our CSRs",
    "question": "Question",
    "delegated_admin_setup": "Delegated administration",
}

# Rule numbers ("R4", "(R11)", "rule R2:") and command-line options ("--org") are for
# operators' terminals and logs, never for a page (R19).
_RULE = re.compile(r"\s*\(?\b(?:rule\s+)?R\d{1,2}\b\)?:?", re.IGNORECASE)
_OPTION = re.compile(r"--[a-z][a-z-]*")


def sentence_for(code: str, kind: str = "invalid") -> str:
    """The sentence a person reads for ``code``: its own, its family's, or its kind's."""
    if code in CODES:
        return CODES[code]
    family = code.split(".", 1)[0]
    if family in FAMILIES:
        return FAMILIES[family]
    return KINDS.get(kind, KINDS["invalid"])


def _shows_detail(code: str, detail: str) -> bool:
    return (
        code not in TERMINAL_DETAILS
        and not code.startswith(_TERMINAL_FAMILIES)
        and not _OPTION.search(detail)
    )


def for_people(code: str, detail: str, kind: str = "invalid") -> tuple[str, str]:
    """(sentence, specifics): the catalogue's sentence, and the service's detail when it is
    written for people (else "") — rule numbers removed."""
    sentence = sentence_for(code, kind)
    if not detail or not _shows_detail(code, detail):
        return sentence, ""
    specifics = without_rules(detail)
    return sentence, "" if specifics == sentence else specifics


def without_rules(text: str) -> str:
    """``text`` with rule numbers taken out ("allowed (R1)" → "allowed")."""
    return _RULE.sub("", text).strip(" :;")


def state_label(state: str) -> str:
    """``pending_approval`` → "Waiting for approval"; an unknown state reads as itself,
    underscores turned to spaces, so that a new state never shows as a raw code."""
    return STATES.get(str(state), str(state).replace("_", " ").capitalize())

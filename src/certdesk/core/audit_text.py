"""Audit events as sentences for people (R15, R19): who did what to which object.

The log keeps its machine words (``case.approve`` on ``case CS-2027-000012``); the console's
audit page reads them here: "ana approved case CS-2027-000012". Sign-ins and sign-outs are
the bulk of any log, so they form one kind that the page folds away unless asked.
"""

from __future__ import annotations

__all__ = ["ACTIONS", "KINDS", "OBJECTS", "SIGN_IN_ACTIONS", "describe", "kind_of", "who"]

# action -> what was done, as a past-tense verb phrase
ACTIONS: dict[str, str] = {
    "acme.persist.show": "showed the standing DNS validation record of ACME account",
    "acme.persist.warn": "warned of the end of the standing DNS validation record of",
    "acme.persist.republish": "asked for the standing DNS validation records to be republished"
    " after the key change of ACME account",
    "case.attach": "attached a file to case",
    "case.attachment_delete": "deleted a file attached to case",
    "case.attachment_download": "downloaded a file attached to case",
    "contact.replace": "replaced a contact everywhere in organization",
    "contract.add": "recorded vendor contract",
    "contract.change": "changed vendor contract",
    "contract.warn": "warned of the end of vendor contract",
    "ct.log_add": "started following Certificate Transparency log",
    "external.add": "added external certificate",
    "external.adopt": "opened a case to replace external certificate",
    "external.assign": "assigned external certificate",
    "external.contacts": "changed the contacts of external certificate",
    "grant.issuer": "chose the certificate authority of a domain grant of organization",
    "issuer.rollover": "changed the account key at vendor",
    "user.mail_preferences": "changed the mail preferences of",
    "notice.undeliverable": "told Certificate Services that a notice could not be delivered",
    "mail.undeliverable": "told Certificate Services that an account mail could not be delivered",
    "webhook.add": "added webhook",
    "webhook.remove": "removed webhook",
    "acme.account.create": "registered ACME account",
    "acme.account.deactivate": "deactivated ACME account",
    "acme.account.key_change": "changed the key of ACME account",
    "acme.account.update": "updated ACME account",
    "acme.authz.deactivate": "withdrew ACME authorization",
    "acme.eab.create": "created ACME registration key",
    "acme.eab.revoke": "revoked ACME registration key",
    "acme.order.create": "placed ACME order",
    "acme.renew_early": "asked for early renewal of certificate",
    "approval_policy.set": "changed the approval settings of organization",
    "ca.create": "created certificate authority",
    "case.approve": "approved case",
    "case.cancel": "cancelled case",
    "case.close": "closed case",
    "case.comment": "commented on case",
    "case.complete": "completed case",
    "case.edit": "edited case",
    "case.fulfil": "delivered case",
    "case.open": "opened case",
    "case.order": "ordered at a vendor for case",
    "case.reissue": "reissued a certificate of case",
    "case.reject": "sent back case",
    "case.renewal_date": "set the renewal date of case",
    "case.revoke": "revoked a certificate of case",
    "case.start": "started work on case",
    "case.submit": "submitted case",
    "cert.expire": "marked expired certificate",
    "cert.issue": "issued certificate",
    "cert.renewal_open": "opened the renewal of certificate",
    "cert.retire": "revoked replaced certificate",
    "cert.revoke": "revoked certificate",
    "cert.supersede": "marked replaced certificate",
    "cert.void": "voided unfinished certificate",
    "contact.add": "added contact",
    "contact.change": "changed contact",
    "contact.remove": "removed contact",
    "grant.add": "added a domain grant to organization",
    "grant.remove": "removed a domain grant from organization",
    "issuer.add": "added certificate authority",
    "issuer.disable": "disabled certificate authority",
    "issuer.rebind": "re-registered at certificate authority",
    "login.failure": "failed to sign in as",
    "login.lockout": "locked out",
    "org.auto_approve_renewals": "changed renewal approvals of organization",
    "org.cost": "changed the cost of organization",
    "org.create": "created organization",
    "org.issuer": "changed the certificate authority of organization",
    "org.service": "changed the service option of organization",
    "password.change": "changed the password of",
    "session.create": "signed in as",
    "session.end": "signed out as",
    "session.idle": "was signed out for inactivity as",
    "submittal.add": "added a certificate request to case",
    "submittal.certificate": "attached a certificate to case",
    "submittal.issuer": "chose the certificate authority for case",
    "submittal.key_download": "downloaded a private key of case",
    "submittal.key_generate": "generated a key for case",
    "submittal.remove": "removed a certificate request from case",
    "token.create": "created API token",
    "token.revoke": "revoked API token",
    "totp.enable": "turned on two-step sign-in for",
    "totp.setup": "started setting up two-step sign-in for",
    "user.create": "added person",
    "user.disable": "disabled person",
    "user.enable": "enabled person",
    "user.enroll": "finished enrollment of",
    "user.reset": "reset the password of",
    "user.roles": "changed the roles of",
    "vendor.order": "placed vendor order",
    "vendor.order_failed": "recorded a failed vendor order",
}

OBJECTS: dict[str, str] = {
    "acme_account": "ACME account",
    "acme_authorization": "ACME authorization",
    "acme_eab_key": "ACME registration key",
    "acme_order": "ACME order",
    "case": "case",
    "certificate": "certificate",
    "certificates": "certificate",
    "contact": "contact",
    "issuer": "certificate authority",
    "notice": "notice",
    "organization": "organization",
    "token": "API token",
    "user": "person",
    "vendor_order": "vendor order",
}

# The kinds the audit page filters by: the first word of an action.
KINDS: dict[str, str] = {
    "case": "Cases",
    "submittal": "Cases",
    "cert": "Certificates",
    "acme": "ACME",
    "contact": "Contacts",
    "grant": "Organizations",
    "org": "Organizations",
    "approval_policy": "Organizations",
    "issuer": "Certificate authorities",
    "vendor": "Certificate authorities",
    "ca": "Certificate authorities",
    "user": "People",
    "password": "People",
    "totp": "People",
    "token": "API tokens",
    "notice": "Mail",
    "session": "Sign-ins",
    "login": "Sign-ins",
}

SIGN_IN_ACTIONS = ("session.create", "session.end", "session.idle")


def kind_of(action: str) -> str:
    """The kind an action belongs to ("Cases"), or "Other"."""
    return KINDS.get(action.split(".", 1)[0], "Other")


def who(actor: str) -> str:
    """``user:ana`` → ``ana``; the service's own work reads as "certdesk"."""
    prefix, _, rest = actor.partition(":")
    if prefix == "user" and rest:
        return rest
    if prefix == "token" and rest:
        return f"API token {rest}"
    if prefix in ("system", "worker"):
        return "certdesk"
    if prefix == "cli":
        return "cert services (command line)"
    return actor


def describe(action: str, object_type: str, object_id: str) -> str:
    """ "approved case CS-2027-000012": what was done to which object."""
    verb = ACTIONS.get(action, action.replace("_", " ").replace(".", " "))
    noun = OBJECTS.get(object_type, object_type.replace("_", " "))
    if verb.endswith((noun, " as", " of", " for")):
        return f"{verb} {object_id}"
    return f"{verb} {noun} {object_id}"

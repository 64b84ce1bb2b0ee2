"""The text of the mail certdesk sends, plain text and HTML, built from typed arguments.

R10: an account mail carries a single-use link to set a password, never a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Literal

from certdesk.core.accounts import describe_instant


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str = ""


def password_link(
    *,
    purpose: Literal["enroll", "reset"],
    name: str,
    login_id: str,
    link: str,
    expires_at: datetime,
    training_url: str,
) -> Mail:
    """The enrollment mail of a new account, or the mail of a password reset."""
    until = describe_instant(expires_at)
    if purpose == "enroll":
        subject = "Your certdesk account: set your password"
        intro = (
            "An account has been created for you in certdesk, the certificate service of the"
            " state data center."
        )
        after = "Then sign in with your login ID and that password."
    else:
        subject = "certdesk: reset your password"
        intro = f"A password reset was requested for your certdesk account {login_id}."
        after = (
            "Your current password keeps working until you use the link. If you did not ask"
            " for a reset, tell certificate services."
        )
    paragraphs = [
        intro,
        f"Your login ID: {login_id}",
        f"Choose your password with this link. It works once and expires at {until}:",
    ]
    closing = [after]
    # R10: enrollment sends the training material link configured by the operator.
    if purpose == "enroll" and training_url:
        closing.append(f"Before you start, please read the training material: {training_url}")
    closing.append(
        "This message contains no password, and nobody from certificate services will ever ask"
        " you for yours."
    )
    text = "\n\n".join([f"Hello {name},", *paragraphs, link, *closing]) + "\n"
    html_parts = [f"<p>Hello {escape(name)},</p>"]
    html_parts += [f"<p>{escape(p)}</p>" for p in paragraphs]
    html_parts.append(f'<p><a href="{escape(link, quote=True)}">{escape(link)}</a></p>')
    for p in closing:
        if training_url and p.endswith(training_url):
            label = p[: -len(training_url)]
            url = escape(training_url, quote=True)
            html_parts.append(f'<p>{escape(label)}<a href="{url}">{escape(training_url)}</a></p>')
        else:
            html_parts.append(f"<p>{escape(p)}</p>")
    html = "<!DOCTYPE html>\n<html><body>\n" + "\n".join(html_parts) + "\n</body></html>\n"
    return Mail(subject, text, html)


def persist_record_lapsing(
    *,
    name: str,
    org_name: str,
    record_name: str,
    record_value: str,
    account_id: int,
    persist_until: datetime,
    console_url: str,
) -> Mail:
    """The warning to an organization's administrators that a standing DNS validation record
    (dns-persist-01) stops proving control of a name soon."""
    until = describe_instant(persist_until)
    subject = f"certdesk: the DNS validation record for {record_name.split('.', 1)[1]} ends soon"
    paragraphs = [
        f"Hello {name},",
        f"{org_name} has a standing DNS validation record that lets ACME account {account_id}"
        f" obtain certificates without a new challenge. The record says it ends at {until}.",
        "After that moment certdesk no longer accepts it, and renewals through that account"
        " will need a new challenge or a new record.",
        "The record now published is:",
        f'{record_name}. IN TXT "{record_value}"',
        "To keep automatic renewal working, ask certdesk for the record again with a later end"
        f" (or none) on the ACME page, {console_url}, and publish what it shows in its place.",
    ]
    text = "\n\n".join(paragraphs) + "\n"
    html = (
        "<!DOCTYPE html>\n<html><body>\n"
        + "\n".join(
            f"<p><code>{escape(p)}</code></p>"
            if p.startswith(record_name)
            else f"<p>{escape(p)}</p>"
            for p in paragraphs
        )
        + "\n</body></html>\n"
    )
    return Mail(subject, text, html)


def persist_records_rekeyed(
    *,
    name: str,
    org_name: str,
    account_id: int,
    changed_at: datetime,
    records: list[tuple[str, str, str]],
    console_url: str,
) -> Mail:
    """To an organization's administrators and the ACME account's contacts: the account's
    key changed, so the standing DNS validation records (dns-persist-01) that name the
    account by a hash of its key must be republished; ``records`` are (TXT name, old value,
    new value)."""
    when = describe_instant(changed_at)
    subject = (
        f"certdesk: republish {len(records)} DNS validation record(s) of ACME account {account_id}"
    )
    paragraphs = [
        f"Hello {name},",
        f"The key of {org_name}'s ACME account {account_id} was changed at {when}. Its standing"
        " DNS validation records name the account by a value computed from its key, so the"
        " records published with the old value no longer let the account obtain certificates"
        " without a challenge.",
        "Replace each record below with its new value (a record that names the account by its"
        " plain URL instead keeps working):",
    ]
    lines: list[str] = []
    for txt_name, old, new in records:
        lines += [f'old: {txt_name}. IN TXT "{old}"', f'new: {txt_name}. IN TXT "{new}"']
    closing = f"The ACME page, {console_url}, shows the records to publish."
    text = "\n\n".join([*paragraphs, "\n".join(lines), closing, ""])
    html = (
        "<!DOCTYPE html>\n<html><body>\n"
        + "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        + "\n<ul>\n"
        + "\n".join(f"<li><code>{escape(line)}</code></li>" for line in lines)
        + f"\n</ul>\n<p>{escape(closing)}</p>\n</body></html>\n"
    )
    return Mail(subject, text, html)


def vendor_trouble(
    *,
    trouble: Literal["vendor.refused", "vendor.account", "vendor.silent"],
    vendor: str,
    organization: str,
    names: tuple[str, ...],
    case_number: str | None,
    said: str | None,
    ordered_at: datetime,
    link: str | None,
) -> Mail:
    """The notice to certificate services about one vendor order in trouble (R16)."""
    shown = ", ".join(names)
    if trouble == "vendor.refused":
        subject = f"{vendor} refused the certificate order for {shown}"
        intro = f"The vendor CA {vendor} refused the order for {shown} ({organization})."
        todo = (
            "The order will not be tried again. Correct what the vendor named, then fulfil"
            " the submittal again (or issue it again) to place a new order."
        )
    elif trouble == "vendor.account":
        subject = f"{vendor} no longer knows certdesk's account"
        intro = (
            f"The vendor CA {vendor} no longer knows certdesk's account, so the order for"
            f" {shown} ({organization}) is waiting."
        )
        todo = (
            "Ask the vendor for a new external account binding and register it again"
            f" (certdesk issuer rebind {vendor}); waiting orders are then placed again, once."
        )
    else:
        subject = f"{vendor} has not answered the certificate order for {shown}"
        intro = (
            f"The vendor CA {vendor} has not answered the order for {shown} ({organization})"
            f" since it was placed at {describe_instant(ordered_at)}."
        )
        todo = (
            "certdesk keeps asking, waiting longer each time, and completes the order when the"
            " vendor is back. Check the vendor's status page or contact the vendor."
        )
    paragraphs = [intro]
    if case_number is not None:
        paragraphs.append(f"Case: {case_number}")
    paragraphs.append(f"The vendor said: {said}" if said else "The vendor gave no explanation.")
    paragraphs.append(todo)
    if link is not None:
        paragraphs.append(link)
    text = "\n\n".join(["Hello Certificate Services,", *paragraphs]) + "\n"
    html_parts = ["<p>Hello Certificate Services,</p>"]
    for p in paragraphs:
        if p == link:
            url = escape(p, quote=True)
            html_parts.append(f'<p><a href="{url}">{escape(p)}</a></p>')
        else:
            html_parts.append(f"<p>{escape(p)}</p>")
    html = "<!DOCTYPE html>\n<html><body>\n" + "\n".join(html_parts) + "\n</body></html>\n"
    return Mail(subject[:300], text, html)


def account_mail_undeliverable(
    *,
    to: str,
    subject: str,
    login_id: str | None,
    refused: bool,
    attempts: int,
    said: str,
    users_url: str,
) -> Mail:
    """Certificate services are told that an account mail (a new account's or a password
    reset's link, a warning to an administrator) could not be delivered (R10)."""
    why = (
        f"The mail server refused it: {said}"
        if refused
        else f"The mail server turned it away {attempts} times, so certdesk stopped trying."
        f" It last said: {said}"
    )
    who = f"the account {login_id}" if login_id else "the person it was for"
    paragraphs = [
        "Hello,",
        f'The certdesk mail "{subject}" to {to} could not be delivered.',
        why,
        f"If it carried a single-use link (a new account or a password reset), {who} never"
        " received it. Check the e-mail address on the account's page, then send a new link"
        f" from there, {users_url}"
        + (f" (or: certdesk user reset {login_id})." if login_id else "."),
    ]
    text = "\n\n".join(paragraphs) + "\n"
    html = (
        "<!DOCTYPE html>\n<html><body>\n"
        + "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        + "\n</body></html>\n"
    )
    return Mail(f"certdesk: a mail to {to} could not be delivered", text, html)

"""Account mail (R10) in the mail queue: queued in the transaction that decides to send it.

A service calls :func:`queue_account_mail` inside its own write transaction, so a mail exists
exactly when the change that caused it was committed (an account that was rolled back sends
no enrollment mail). The mail then waits in the one mail queue (:mod:`certdesk.store.mail_queue`)
beside the R9 notices and is sent, with their claims, leases and backoff, by
:mod:`certdesk.services.lifecycle.account_mail`.

R10 (security finding 1): a single-use link is a credential until it is used. While its mail
waits, the queue holds the link's token sealed with the secret box in a column of its own
(a reader of the database cannot use it) and the stored body holds :data:`LINK_MARK` in its
place; :func:`opened` puts the token back only into the message handed to the SMTP server.
Once the mail has gone out (or can never go out) the sealed token is dropped as well.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from certdesk.links import ENROLL_PATH
from certdesk.notify.messages import Mail
from certdesk.services.secretbox import SecretBox
from certdesk.store import mail_queue as queue

__all__ = ["LINK_MARK", "opened", "queue_account_mail"]

# What the stored body shows where the link goes (the migration 0008 writes the same).
LINK_MARK = ENROLL_PATH + "[single-use link]"
_TOKEN = re.compile(re.escape(ENROLL_PATH) + r"([A-Za-z0-9_-]+)")


def queue_account_mail(
    s: Session,
    to_addr: str,
    mail: Mail,
    now: datetime,
    *,
    box: SecretBox,
    user_id: int,
    reason: str,
) -> int:
    """Queue ``mail`` for ``to_addr`` inside the caller's transaction ``s``; its queue id.

    ``reason`` (``account.enroll#<link id>``) with ``user_id`` is the mail's once-only key.
    """
    tokens = {m.group(1) for m in _TOKEN.finditer(mail.text + mail.html)}
    if len(tokens) > 1:
        raise ValueError("an account mail carries at most one single-use link")
    sealed = box.seal(tokens.pop().encode()).decode() if tokens else None
    return queue.queue_message(
        s,
        {
            "subject_id": user_id,
            "contact_email": to_addr,
            "reason": reason,
            "subject": mail.subject,
            "body_text": _TOKEN.sub(LINK_MARK, mail.text),
            "body_html": _TOKEN.sub(LINK_MARK, mail.html),
            "sealed_link": sealed,
            "created_at": now,
        },
    )


def opened(body: str, sealed_link: str | None, box: SecretBox) -> str:
    """``body`` as it is mailed: the sealed link opened (for the SMTP message only)."""
    if sealed_link is None or LINK_MARK not in body:
        return body
    return body.replace(LINK_MARK, ENROLL_PATH + box.open(sealed_link.encode()).decode())

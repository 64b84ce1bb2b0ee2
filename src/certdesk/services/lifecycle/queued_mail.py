"""The one way certdesk builds a mail from its queue: the bytes SMTP carries, with a
``Message-ID`` derived from the queued messages' ids alone.

Notices (:mod:`certdesk.services.lifecycle.notice_mail`) and stored account mail
(:mod:`certdesk.services.lifecycle.account_mail`) both go out through :func:`queued_mail`, so a
message that a crash makes certdesk send twice carries the same ``Message-ID`` both times and
is recognisable as the same message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime

from certdesk.notify import wire
from certdesk.notify.messages import Mail
from certdesk.notify.wire import Outgoing, Sender

_DOMAIN = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


def _domain(sender: str) -> str:
    domain = sender.rpartition("@")[2].strip("<> ")
    # An odd MAIL_FROM must not make the header non-ASCII.
    return domain if _DOMAIN.match(domain) else "localhost"


def message_id(ids: Sequence[int], sender: str, *, kind: str = "notice") -> str:
    """The same ``Message-ID`` for the same queued messages, whenever and by whomever sent
    (``kind`` ``mail``: an account mail)."""
    ordered = sorted(ids)
    domain = _domain(sender)
    if kind != "notice":
        return f"<certdesk.{kind}.{'.'.join(map(str, ordered))}@{domain}>"
    if len(ordered) == 1:
        return f"<certdesk.notice.{ordered[0]}@{domain}>"
    digest = hashlib.sha256(",".join(map(str, ordered)).encode()).hexdigest()[:20]
    return f"<certdesk.digest.{ordered[0]}.{digest}@{domain}>"


def queued_mail(
    sender: Sender,
    to: str,
    mail: Mail,
    ids: Sequence[int],
    at: datetime,
    *,
    kind: str = "notice",
    extra: Sequence[tuple[str, str]] = (),
) -> Outgoing:
    """The message carrying the queued messages ``ids`` to ``to``, as the bytes SMTP carries
    (:mod:`certdesk.notify.wire`): the one way certdesk builds a mail from the queue, notices
    (``kind`` ``notice``) and stored account mail (``mail``) alike. The same ``ids`` always
    give the same ``Message-ID``, so a repeat after a crash is recognisable; ``extra``
    headers follow the common ones."""
    headers = [
        ("Date", format_datetime(at)),
        ("Message-ID", message_id(ids, sender.address, kind=kind)),
        ("Auto-Submitted", "auto-generated"),  # RFC 3834 §5: no auto-replies, please
        *extra,
    ]
    return wire.render(
        sender=sender, to=to, subject=mail.subject, headers=headers, text=mail.text, html=mail.html
    )

"""Notice mail from Jinja2 templates: text and HTML per reason, overridable by the operator.

Each notice kind has three templates in ``certdesk/notify/templates`` (package data):
``<kind>.subject.txt`` (one line), ``<kind>.txt`` (the plain-text body) and ``<kind>.html``
(an HTML fragment, wrapped in ``layout.html``). A contact with several notices in one pass gets
``digest.*`` instead, which lists the rendered notices. A file of the same name in
``CERTDESK_NOTICE_TEMPLATE_DIR`` replaces the packaged one.

HTML templates are autoescaped (``.html``); text and subject templates are not. Undefined
variables are errors (``StrictUndefined``), so a typo in an override is reported instead of
silently mailing a blank. Any failure while rendering raises :class:`TemplateFailure`
naming the template, which the notice service records on that notice alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import Markup

from certdesk.core.messages import state_label
from certdesk.core.wall_clock import pacific_time
from certdesk.notify.messages import Mail

__all__ = ["NoticeTemplates", "RenderedNotice", "TemplateFailure", "pacific"]

MAX_SUBJECT = 300  # the notices.subject column


class TemplateFailure(Exception):
    """A template could not be rendered; ``str()`` names the template and the cause."""


def pacific(value: datetime | None) -> str:
    """``1 Mar 2027, 17:00 PST``: the state's wall clock, as contacts read dates (R7, R19);
    the same formatter as the console's (:mod:`certdesk.core.wall_clock`)."""
    return pacific_time(value, empty="")


@dataclass(frozen=True)
class RenderedNotice:
    """One notice's own parts; :meth:`NoticeTemplates.mail` makes a mail of them, and a
    digest lists them."""

    subject: str
    body: str  # the text body without greeting and footer
    fragment: str  # the HTML body without the layout


class NoticeTemplates:
    """The packaged templates, with ``override_dir`` (if any) searched first."""

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[Any] = []
        if override_dir is not None:
            loaders.append(FileSystemLoader(str(override_dir)))
        loaders.append(PackageLoader("certdesk.notify", "templates"))
        self._env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._env.filters["pacific"] = pacific
        self._env.filters["state"] = state_label

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(context)
        except Exception as exc:  # a broken override may fail in any way; report, not crash
            raise TemplateFailure(f"template {name}: {type(exc).__name__}: {exc}") from exc

    def _subject(self, name: str, context: Mapping[str, Any]) -> str:
        # One header line: newlines in data (a case title) must never start a new header.
        line = " ".join(self._render(name, context).split())
        if not line:
            raise TemplateFailure(f"template {name}: renders an empty subject")
        return line if len(line) <= MAX_SUBJECT else line[: MAX_SUBJECT - 1] + "…"

    def render(self, kind: str, context: Mapping[str, Any]) -> RenderedNotice:
        """One notice of ``kind`` (``expiry``, ``case_rejected`` …)."""
        subject = self._subject(f"{kind}.subject.txt", context)
        body = self._render(f"{kind}.txt", context)
        fragment = self._render(f"{kind}.html", context)
        return RenderedNotice(subject, body, fragment)

    def mail(self, rendered: RenderedNotice, context: Mapping[str, Any]) -> Mail:
        """The mail of one notice on its own: its parts in the layout."""
        return self._wrap(rendered.subject, rendered.body, rendered.fragment, context)

    def _wrap(self, subject: str, body: str, fragment: str, context: Mapping[str, Any]) -> Mail:
        text = self._render("layout.txt", {**context, "subject": subject, "content": body})
        html = self._render(
            "layout.html", {**context, "subject": subject, "content": Markup(fragment)}
        )
        return Mail(subject, text, html)

    def digest(
        self, items: Sequence[tuple[Mapping[str, Any], RenderedNotice]], context: Mapping[str, Any]
    ) -> Mail:
        """One mail listing several rendered notices for one contact."""
        listed = [
            {
                **item,
                "subject": rendered.subject,
                "text": rendered.body,
                "html": Markup(rendered.fragment),
            }
            for item, rendered in items
        ]
        ctx = {**context, "items": listed, "count": len(listed)}
        subject = self._subject("digest.subject.txt", ctx)
        body = self._render("digest.txt", ctx)
        fragment = self._render("digest.html", ctx)
        return self._wrap(subject, body, fragment, ctx)

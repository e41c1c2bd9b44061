"""Server-rendered pages: Jinja2 templates under ``maps/templates`` in the page's language.

One Jinja2 environment per locale (gettext installed into it), so concurrent requests in
different languages never share translation state. Every page extends ``base.html``: a header with
the app name, the user and role, the language switch, the display time zone and logout, and a
``sw-config`` JSON block (not a script: no CSP hash needed) that ``sw.js`` reads for the JS
modules' strings, labels, time zone and permissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import folium
from branca.element import Figure
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from maps.i18n import format_time, js_messages, page_context, translations
from maps.vocabulary import label, labels

STATIC_URL = "/static"


@dataclass(frozen=True, slots=True)
class PageUser:
    """Who the header names; ``home`` is the user's workspace path."""

    name: str
    role: str
    home: str


@lru_cache(maxsize=8)
def environment(locale: str) -> Environment:
    env = Environment(
        loader=PackageLoader("maps", "templates"),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["label"] = lambda kind, value: label(locale, kind, value)
    env.globals["static"] = STATIC_URL
    env.filters["nonced"] = nonced
    return env


def nonced(html: Markup, nonce: str) -> Markup:
    """Trusted markup (folium's) with its inline scripts under the page's CSP nonce."""
    return Markup(str(html).replace("<script>", f'<script nonce="{escape(nonce)}">'))


def render_page(
    template: str,
    *,
    locale: str,
    tz: str,
    user: PageUser | None,
    path: str = "/",
    js: dict[str, Any] | None = None,
    **context: Any,
) -> str:
    """A page in ``locale``; ``js`` is page data merged into the JS configuration."""
    base = page_context(locale, tz)
    config = {
        "locale": locale,
        "tz": tz,
        "tzLabel": base["tz_label"],
        "static": STATIC_URL,
        "messages": js_messages(locale),
        "labels": labels(locale),
        "user": None if user is None else {"name": user.name, "role": user.role},
        **(js or {}),
    }
    env = environment(locale)
    return env.get_template(template).render(
        **base,
        user=user,
        path=path,
        config=config,
        time=lambda value: format_time(value, tz, locale),
        **context,
    )


@dataclass(frozen=True, slots=True)
class FoliumParts:
    """A folium map split into what a template places in <head>, in <body> and in the closing script."""

    head: Markup
    body: Markup
    script: Markup


def folium_parts(m: folium.Map) -> FoliumParts:
    figure = m.get_root()
    assert isinstance(figure, Figure)
    figure.render()  # lets every element add itself to the figure's header, html and script
    return FoliumParts(
        Markup(figure.header.render()),  # folium's own output, escaped by folium
        Markup(figure.html.render()),
        Markup(figure.script.render()),
    )

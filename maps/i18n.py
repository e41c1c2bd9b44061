"""Message catalogs (Azerbaijani, Russian, English) and the locale and display time zone of a page.

The catalogs are gettext ``.po`` files under ``maps/locale`` (extracted with ``pybabel extract -F
babel.cfg`` from the Python code, the Jinja2 templates and the JS modules; see the README). They are
compiled in memory when first used, so no build step and no ``.mo`` file is needed. English is the
source language: its msgids are the English text.

The locale of a request is the ``sealwatch_lang`` cookie (set by the language switch), else the
best match of the browser's ``Accept-Language``, else :data:`DEFAULT_LOCALE`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LOCALES: tuple[str, ...] = ("az", "ru", "en")
DEFAULT_LOCALE = "az"
LANG_COOKIE = "sealwatch_lang"
LOCALE_NAMES = {"az": "Azərbaycanca", "ru": "Русский", "en": "English"}
TIME_PATTERN = "yyyy-MM-dd HH:mm:ss"


def N_(message: str) -> str:  # gettext's name for "mark for extraction, translate later"
    return message


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    """The compiled catalog of ``locale`` (one of :data:`LOCALES`)."""
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}")
    with po_path(locale).open("rb") as f:
        catalog = read_po(f, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def gettext(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


@lru_cache(maxsize=len(LOCALES))
def js_messages(locale: str) -> dict[str, str]:
    """The translations of the msgids the JS modules use (their locations name a ``.js`` file)."""
    with po_path(locale).open("rb") as f:
        catalog = read_po(f, locale=locale)
    out: dict[str, str] = {}
    for message in catalog:
        if message.id and any(path.endswith(".js") for path, _ in message.locations):
            out[str(message.id)] = str(message.string) or str(message.id)
    return out


def best_locale(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's locale when supported, else the browser's first supported language."""
    if cookie in LOCALES:
        return cookie
    for tag in _accepted(accept_language or ""):
        try:
            language = Locale.parse(tag, sep="-").language
        except (ValueError, UnknownLocaleError):
            continue
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


def _accepted(header: str) -> Iterable[str]:
    """Language tags of an Accept-Language header, by descending quality (stable for ties)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, i, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def tz_label(tz_name: str, at: datetime | None = None) -> str:
    """``UTC+04:00 (Asia/Baku)``: the display time zone as every page labels its times."""
    offset = (at or datetime.now(UTC)).astimezone(ZoneInfo(tz_name)).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]} ({tz_name})"


def format_time(value: datetime, tz_name: str, locale: str) -> str:
    """A time in the display time zone, 24-hour, to the second."""
    return format_datetime(value, TIME_PATTERN, tzinfo=ZoneInfo(tz_name), locale=locale)


def page_context(locale: str, tz_name: str) -> dict[str, Any]:
    """What every template and JS module needs to speak the page's language and time zone."""
    return {
        "locale": locale,
        "locales": [(code, LOCALE_NAMES[code]) for code in LOCALES],
        "tz": tz_name,
        "tz_label": tz_label(tz_name),
    }

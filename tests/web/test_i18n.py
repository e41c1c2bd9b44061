"""The message catalogs: complete in Azerbaijani and Russian, in step with the code, and chosen as a person would."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from maps.i18n import LOCALES, best_locale, format_time, gettext, po_path, tz_label
from maps.vocabulary import KINDS, labels

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{\w+\}|%\(\w+\)s")  # JS and Python braces; Jinja's gettext %(name)s


def catalog(locale: str):
    with po_path(locale).open("rb") as f:
        return read_po(f, locale=locale)


def extracted() -> set[str]:
    """Every msgid the code, the templates and the JS modules use, extracted as babel.cfg says."""
    method_map = [
        ("api/**.py", "python"),
        ("maps/**.py", "python"),
        ("maps/templates/**.html", "jinja2"),
        ("maps/static/*.js", "javascript"),
    ]
    keywords = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
    ids: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, keywords=keywords):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


@pytest.mark.parametrize("locale", ["az", "ru"])
def test_every_message_is_translated(locale: str) -> None:
    untranslated = [m.id for m in catalog(locale) if m.id and not str(m.string).strip()]
    fuzzy = [m.id for m in catalog(locale) if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogs_hold_every_message_the_code_uses(locale: str) -> None:
    """A string added to a page without updating the catalogs would silently show in English."""
    ids = {m.id for m in catalog(locale) if m.id}
    assert sorted(extracted() - ids) == []


@pytest.mark.parametrize("locale", ["az", "ru"])
def test_translations_keep_their_placeholders(locale: str) -> None:
    for m in catalog(locale):
        if m.id:
            assert sorted(PLACEHOLDER.findall(str(m.string))) == sorted(PLACEHOLDER.findall(str(m.id))), m.id


def test_translations_are_real() -> None:
    # Spot checks in each script: Azerbaijani Latin, Russian Cyrillic.
    assert gettext("az", "Log in") == "Daxil ol"
    assert gettext("ru", "Log in") == "Войти"
    assert re.search("[ƏəĞğİıÖöŞşÜüÇç]", gettext("az", "Seal tampered"))
    assert re.search("[А-Яа-я]", gettext("ru", "Signal lost"))
    assert gettext("en", "Signal lost") == "Signal lost"


@pytest.mark.parametrize("locale", ["az", "ru"])
def test_every_label_is_translated(locale: str) -> None:
    translated = labels(locale)
    for kind, names in KINDS.items():
        for value, english in names.items():
            assert (translated[kind][value] and translated[kind][value] != english) or english in {
                "Operator",
                "Auditor",
                "Administrator",
            }, (kind, value)


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "de-DE, az;q=0.5, ru;q=0.7", "ru"),  # by quality, not order
        (None, "az-Latn-AZ", "az"),
        (None, "fr-FR,de;q=0.5", "az"),  # nothing supported: the default
        (None, None, "az"),
        ("en", "ru-RU", "en"),  # the user's choice wins over the browser
        ("xx", "ru-RU", "ru"),  # an unknown cookie is ignored
        (None, "ru;q=0, en", "en"),  # q=0 means "not this one"
        (None, "garbage;;;,,", "az"),
    ],
)
def test_locale_from_choice_then_browser(cookie: str | None, header: str | None, expected: str) -> None:
    assert best_locale(cookie, header) == expected


def test_display_time_zone_label_and_format() -> None:
    t = datetime(2026, 3, 1, 8, 30, 5, tzinfo=UTC)
    assert tz_label("Asia/Baku", t) == "UTC+04:00 (Asia/Baku)"
    assert tz_label("America/Sao_Paulo", t) == "UTC-03:00 (America/Sao_Paulo)"
    assert format_time(t, "Asia/Baku", "az") == "2026-03-01 12:30:05"
    assert format_time(t, "UTC", "ru") == "2026-03-01 08:30:05"

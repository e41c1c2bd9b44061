"""Every page of every role on a phone (390 px wide) in a real Chromium, in Azerbaijani and Russian:
the page itself never scrolls sideways (a wide table scrolls in its own box instead). And the times
the route editor and the transit record show name the display time zone.

One app over one seeded database serves the whole module; the page list is read from
``api.auth.ACCESS``, so a new page fails here until it has a URL and a "loaded" selector below.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from api.app import create_app
from api.auth import ACCESS, PUBLIC
from maps.i18n import LANG_COOKIE, tz_label
from sealwatch.config import Settings
from store.users import Role
from tests.auth.conftest import ROLE_USERS
from tests.browser import login
from tests.conftest import PgBackend, migrate_for, new_database
from tests.helpers import serve_app
from tests.history.conftest import build_day
from tests.login import PASSWORD, auth, ensure_user
from tests.screens.conftest import PHONE
from tests.screens.test_auditor_browser import with_alerts
from tests.screens.test_group_browser import dispatched
from tests.screens.test_officer_browser import lodge

ROUTE = "SAM-BAK"
LOCALES = ("az", "ru")
LOGIN = "/login"
DOCS = "/docs"  # Swagger UI: the API's documentation, the same for every role and in English only

# Each page (its ACCESS path) and what is on it once its data has arrived; a selector list where
# what shows depends on the role (the group page of an admin, who belongs to no group).
LOADED: dict[str, str] = {
    LOGIN: "#sealwatch-login",
    "/": '#sw-map-area[data-ready="1"]',
    "/officer": "#q-results tbody tr",
    "/officer/declarations/{declaration_id}": "#d-control-list li",
    "/routes": "#rl-routes tbody tr",
    "/routes/{code}": "#re-versions tbody tr",
    "/auditor": "#aud-results tbody tr",
    "/auditor/transits/{transit_id}": "#tr-timeline li",
    "/transits/{transit_id}/playback": ".pb-mark",
    "/auditor/trs": "#trs-transits tbody tr",
    "/auditor/alerts": ".st-group tbody tr",
    "/group": ".mg-card, #mg-empty:not([hidden]), #mg-notice:not([hidden])",
    "/declarant": "#my-list tbody tr",
    "/declarant/new": ".lf-office option:nth-child(5)",
    DOCS: ".swagger-ui .opblock",
}

# The elements where the page starts to stick out: wider than the viewport while their parent is
# not, and not inside a box that scrolls or clips them.
OVERFLOW_JS = """() => {
    const w = window.innerWidth, found = [];
    const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
        (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
    const clipped = e => {
        for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
            if (getComputedStyle(p).overflowX !== 'visible') return true;
        }
        return false;
    };
    for (const e of document.body.querySelectorAll('*')) {
        const r = e.getBoundingClientRect(), parent = e.parentElement;
        if (r.width === 0 || r.right <= w + 0.5 || !parent) continue;
        if (parent.getBoundingClientRect().right > w + 0.5 && parent !== document.body) continue;
        if (clipped(e)) continue;
        found.push(name(e) + ' +' + Math.round(r.right - w) + 'px');
        if (found.length === 5) break;
    }
    return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth, culprits: found};
}"""


@dataclass(frozen=True)
class Site:
    url: str  # the app's base URL
    db: str
    ids: dict[str, list[str]]  # path parameter -> values with data behind them, each opened


def pages_of(role: Role | None) -> list[str]:
    """The pages (ACCESS paths) a role may open; the login form for no role."""
    if role is None:
        return [LOGIN]
    return [path for (method, path), rule in ACCESS.items() if method == "GET" and rule.page and role in rule.roles]


def seed(url: str) -> dict[str, list[str]]:
    """A released fleet with tracks, alerts and observations; declarations waiting for customs (one
    held, one with its risk assessed); a route with a second version and a note; an alert
    dispatched to the mobile group."""
    asyncio.run(dispatched(url))  # first: it takes the only alert in the database to be its own
    day = build_day(url)
    with_alerts(day)
    with serve_app(create_app(Settings(database_url=url, mqtt_url=None))) as base:
        accepted, held = lodge(base, url)
        operator = auth(url, "route-op", "operator")
        with httpx.Client(base_url=base, headers=operator) as client:
            assessed = client.post(f"/api/declarations/{accepted}/risk")
            assert assessed.status_code == 201, assessed.text
            line = client.get(f"/api/routes/{ROUTE}").json()["polyline"]
            note = "Follows the M1 bypass around Sumqayit while the bridge at Jeyranbatan is under repair"
            saved = client.put(
                f"/api/routes/{ROUTE}/geometry", json={"geometry": line, "expected_version": 1, "note": note}
            )
            assert saved.status_code == 200, saved.text
    for role, (name, binding) in ROLE_USERS.items():
        ensure_user(url, name, role, **binding)
    return {
        "transit_id": [day.transits[0].transit_id],
        "declaration_id": [str(held), str(accepted)],
        "code": [ROUTE],
    }


@pytest.fixture(scope="module")
def site(pg_admin_url: str, pg_backend: PgBackend) -> Iterator[Site]:
    with new_database(pg_admin_url) as db:
        ids = seed(migrate_for(db, pg_backend))
        with serve_app(create_app(Settings(database_url=db, mqtt_url=None))) as url:
            yield Site(url, db, ids)


@pytest.fixture
async def phone(chromium: Browser) -> AsyncIterator[BrowserContext]:
    # Not is_mobile: a mobile viewport zooms out to fit a page that is too wide, and window.innerWidth
    # grows with it, so the overflow would not show.
    ctx = await chromium.new_context(viewport=PHONE, has_touch=True, service_workers="block")
    yield ctx
    await ctx.close()


async def use_locale(context: BrowserContext, site: Site, locale: str) -> None:
    await context.add_cookies([{"name": LANG_COOKIE, "value": locale, "url": site.url}])


def urls(site: Site, path: str) -> list[str]:
    """The page's URLs: one per value of its path parameter (a path has one at most)."""
    for name, values in site.ids.items():
        if "{" + name + "}" in path:
            return [site.url + path.format(**{name: value}) for value in values]
    return [site.url + path]


async def open_loaded(page: Page, url: str, path: str) -> None:
    await page.goto(url)
    await page.locator(LOADED[path]).first.wait_for(state="attached", timeout=20_000)
    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_every_page_has_a_loaded_selector_and_every_role_has_pages() -> None:
    every = {path for role in (None, *Role) for path in pages_of(role)}
    assert every == set(LOADED)
    assert all(pages_of(role) for role in Role)
    assert ACCESS[("GET", LOGIN)] is PUBLIC


@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: r.value if r else "anonymous")
async def test_no_page_scrolls_sideways_on_a_phone(site: Site, phone: BrowserContext, role: Role | None) -> None:
    page = await phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if role is not None:
        await login(page, site.url, ROLE_USERS[role][0], PASSWORD)
    wide = []
    for locale in LOCALES:
        await use_locale(phone, site, locale)
        for path in pages_of(role):
            if path == DOCS and (role is not Role.ADMIN or locale != LOCALES[0]):
                continue  # once is enough, and it is the slowest page to load
            for url in urls(site, path):
                await open_loaded(page, url, path)
                if path != DOCS:
                    assert await page.locator("html").get_attribute("lang") == locale, url
                m = await page.evaluate(OVERFLOW_JS)
                if m["scroll"] > m["inner"]:
                    wide.append(f"{locale} {url}: {m['scroll'] - m['inner']} px too wide ({', '.join(m['culprits'])})")
    assert wide == [], "\n".join(wide)
    assert errors == []


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_route_editor_labels_its_version_times_with_the_zone(
    site: Site, phone: BrowserContext, locale: str
) -> None:
    page = await phone.new_page()
    await login(page, site.url, ROLE_USERS[Role.OFFICER][0], PASSWORD)
    await use_locale(phone, site, locale)
    await open_loaded(page, f"{site.url}/routes/{ROUTE}", "/routes/{code}")
    labelled = re.compile(r"\d\d:\d\d:\d\d " + re.escape(tz_label("Asia/Baku")))
    showing = page.locator("#re-showing")
    await expect(showing).to_contain_text("route-op")
    await expect(showing).to_have_text(labelled)
    await page.click('#re-versions tr[data-version="1"] a')  # an older version: its time labelled too
    await expect(showing).to_contain_text("system")
    await expect(showing).to_have_text(labelled)
    # The versions table's times are labelled by the header, shown on a phone as on a desktop.
    await expect(page.locator("#sw-tz")).to_be_visible()
    await expect(page.locator("#sw-tz")).to_contain_text(tz_label("Asia/Baku"))


@pytest.mark.parametrize("locale", [*LOCALES, "en"])
async def test_the_transit_record_says_which_zone_its_times_are_in(site: Site, locale: str) -> None:
    # Another display zone than the default: the statement follows the setting, not a zone written in.
    app = create_app(Settings(database_url=site.db, mqtt_url=None, display_tz="America/Sao_Paulo"))
    headers = auth(site.db, ROLE_USERS[Role.AUDITOR][0], Role.AUDITOR)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers) as client,
    ):
        client.cookies.set(LANG_COOKIE, locale)
        page = (await client.get(f"/auditor/transits/{site.ids['transit_id'][0]}")).text
    # The sentence about the downloads' coordinates says which zone the page's own times are in.
    statement = re.search(r"<p[^>]*>([^<]*WGS 84[^<]*)</p>", page)
    assert statement is not None
    assert tz_label("America/Sao_Paulo") in statement[1] and "Asia/Baku" not in statement[1], statement[1]

"""Pages in the user's language, role landing, pages a role may not see, logout, /docs offline."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from maps.i18n import LANG_COOKIE
from maps.workspaces import WORKSPACES
from store.users import Role
from tests.auth.conftest import ROLE_USERS, Users
from tests.login import PASSWORD

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def form_login(client: httpx.AsyncClient, name: str, **extra: str) -> httpx.Response:
    body = "&".join(f"{k}={v}" for k, v in {"username": name, "password": PASSWORD, **extra}.items())
    return await client.post("/login", content=body, headers=FORM)


@pytest.mark.parametrize(
    ("accept", "title", "button"),
    [("az-AZ,az;q=0.9", "Daxil ol", "Daxil ol"), ("ru-RU,ru", "Войти", "Войти"), ("en-US,en", "Log in", "Log in")],
)
async def test_login_page_speaks_the_browser_language(
    client: httpx.AsyncClient, accept: str, title: str, button: str
) -> None:
    page = await client.get("/login", headers={"accept-language": accept})
    assert page.status_code == 200
    assert f"<title>sealwatch · {title}</title>" in page.text
    assert re.search(rf"<button type=\"submit\">{button}</button>", page.text)
    assert "UTC+04:00 (Asia/Baku)" in page.text  # the display time zone is labelled


async def test_language_switch_is_remembered(client: httpx.AsyncClient) -> None:
    switched = await client.get("/lang/ru?next=/login", headers={"accept-language": "en"})
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    assert client.cookies.get(LANG_COOKIE) == "ru"
    page = await client.get("/login", headers={"accept-language": "en"})
    assert "Имя пользователя" in page.text and 'lang="ru"' in page.text
    # An unsupported language changes nothing; an off-site next is refused.
    other = await client.get("/lang/xx?next=//evil.example/")
    assert other.headers["location"] == "/" and client.cookies.get(LANG_COOKIE) == "ru"


async def test_a_wrong_password_is_explained_in_the_page_language(client: httpx.AsyncClient, users: Users) -> None:
    client.cookies.set(LANG_COOKIE, "az")
    body = "username=op&password=wrong-password"
    page = await client.post("/login", content=body, headers=FORM)
    assert page.status_code == 401 and "İstifadəçi adı və ya şifrə yanlışdır." in page.text


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_lands_on_its_own_workspace(client: httpx.AsyncClient, users: Users, role: Role) -> None:
    name = ROLE_USERS[role][0]
    resp = await form_login(client, name)
    assert resp.status_code == 303
    home = resp.headers["location"]
    assert home == WORKSPACES[role.value]
    page = await client.get(home, headers={"accept-language": "ru"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"<b>{name}</b>" in page.text  # the header names the user and the role, translated
    assert {
        "operator": "Оператор",
        "officer": "Таможенный инспектор",
        "mobile_group": "Мобильная группа",
        "auditor": "Аудитор",
        "declarant": "Декларант",
        "admin": "Администратор",
    }[role.value] in page.text


async def test_a_page_of_another_role_redirects_home_instead_of_403(client: httpx.AsyncClient, users: Users) -> None:
    await form_login(client, ROLE_USERS[Role.DECLARANT][0])
    for path in ("/", "/auditor", "/group"):
        resp = await client.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == "/declarant", path
    # The API itself still answers 403 (JSON) to the same user.
    assert (await client.get("/api/alerts")).status_code == 403


async def test_landing_offers_only_what_the_role_may_do(client: httpx.AsyncClient, users: Users) -> None:
    await form_login(client, ROLE_USERS[Role.AUDITOR][0])
    page = (await client.get("/auditor", headers={"accept-language": "en"})).text
    offered = set(re.findall(r'data-capability="(\w+)"', page))
    assert {"console", "alerts", "history", "exports", "audit"} <= offered
    assert not offered & {"acknowledge", "dispatch", "resolve", "declare", "users", "keys"}
    client.cookies.clear()
    await form_login(client, ROLE_USERS[Role.MOBILE_GROUP][0])
    page = (await client.get("/group")).text
    config = re.search(r'<script type="application/json" id="sw-config">(.*?)</script>', page, re.S)
    assert config is not None
    permissions = json.loads(config.group(1))["permissions"]
    assert permissions["acknowledge"] and permissions["resolve"] and "dispatch" not in permissions
    assert 'href="/"' not in page  # no way into the console


async def test_next_wins_over_the_workspace(client: httpx.AsyncClient, users: Users) -> None:
    resp = await form_login(client, ROLE_USERS[Role.OPERATOR][0], next="/docs")
    assert resp.headers["location"] == "/docs"


async def test_logout_ends_the_session(client: httpx.AsyncClient, users: Users) -> None:
    await form_login(client, ROLE_USERS[Role.OPERATOR][0])
    assert (await client.get("/api/auth/me")).status_code == 200
    token = client.cookies.get("sealwatch_session")
    resp = await client.post("/logout")
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    # The token itself is revoked, not only the cookie dropped.
    assert (await client.get("/api/auth/me", headers={"authorization": f"Bearer {token}"})).status_code == 401
    page = await client.get("/")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_docs_work_offline(client: httpx.AsyncClient, users: Users) -> None:
    assert (await client.get("/docs")).status_code == 303  # behind auth, like every page
    await form_login(client, ROLE_USERS[Role.OPERATOR][0])
    page = (await client.get("/docs")).text
    assets = re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", page)
    assert assets and all(a.startswith("/static/vendor/swagger-ui/") for a in assets), assets
    for asset in assets:
        resp = await client.get(asset)
        assert resp.status_code == 200 and len(resp.content) > 500, asset


def _permissions(page: str) -> dict[str, bool]:
    config = re.search(r'<script type="application/json" id="sw-config">(.*?)</script>', page, re.S)
    assert config is not None
    permissions: dict[str, bool] = json.loads(config.group(1))["permissions"]
    return permissions


async def test_the_route_editor_is_linked_and_editable_only_by_the_roles_that_may(
    client: httpx.AsyncClient, users: Users
) -> None:
    await form_login(client, ROLE_USERS[Role.OPERATOR][0])
    assert 'id="nav-routes"' in (await client.get("/")).text  # the console's header
    editor = (await client.get("/routes/sam-bak")).text
    assert _permissions(editor) == {"edit": True, "import": True, "learn": True}
    assert 'id="re-edit"' in editor and 'id="re-readonly"' not in editor
    client.cookies.clear()
    await form_login(client, ROLE_USERS[Role.OFFICER][0])
    queue = (await client.get("/officer")).text
    assert 'id="nav-routes"' in queue and 'data-capability="routes"' in queue
    client.cookies.clear()
    await form_login(client, ROLE_USERS[Role.AUDITOR][0])
    editor = (await client.get("/routes/SAM-BAK")).text
    assert _permissions(editor) == {"edit": False, "import": False, "learn": False}
    assert 'id="re-edit"' not in editor and 'id="re-file"' not in editor and 'id="re-readonly"' in editor
    assert 'data-capability="routes"' not in (await client.get("/auditor")).text

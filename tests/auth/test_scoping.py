"""Row-level scoping (a mobile group's alerts, a declarant's declarations), the authenticated
user as the actor (lifecycle history and the audit log), user management and audit verification."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from alerts.service import AlertService
from alerts.settings import AlertSettings
from api.customs_routes import DECLARATION_EXAMPLE
from store.users import Role
from tests.alerts.conftest import fix, insert_transit, rows
from tests.alerts.test_api import add_group
from tests.auth.conftest import Users
from tests.helpers import count
from tests.login import PASSWORD


async def test_a_mobile_group_sees_and_handles_only_alerts_dispatched_to_it(
    client: httpx.AsyncClient, users: Users
) -> None:
    transits = [insert_transit(users.url, n) for n in (1, 2, 3)]
    async with AlertService(users.url, AlertSettings(), None) as service:
        events = await service.on_batch([fix(t.seal_id, 10, state="tampered") for t in transits], [])
    mine, theirs, undispatched = (e.alert_id for e in sorted(events, key=lambda e: e.alert_id))
    add_group(users.url, "G1", 40.7, 47.3)
    add_group(users.url, "G2", 41.3, 45.1)
    op = users.headers(Role.OPERATOR)
    for alert_id, group in ((mine, "G1"), (theirs, "G2")):
        r = await client.post(f"/api/alerts/{alert_id}/dispatch", json={"group_id": group}, headers=op)
        assert r.status_code == 200 and r.json()["dispatched_by"] == "op"

    mg = users.headers(Role.MOBILE_GROUP)
    listed = await client.get("/api/alerts", headers=mg)
    assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [mine]
    everything = await client.get("/api/alerts", headers=op)
    assert sorted(a["id"] for a in everything.json()) == sorted([mine, theirs, undispatched])
    assert (await client.get(f"/api/alerts/{mine}", headers=mg)).json()["group_id"] == "G1"
    for other in (theirs, undispatched):
        assert (await client.get(f"/api/alerts/{other}", headers=mg)).status_code == 404
        assert (await client.post(f"/api/alerts/{other}/acknowledge", json={}, headers=mg)).status_code == 404
        r = await client.post(f"/api/alerts/{other}/resolve", json={"outcome": "false_alarm"}, headers=mg)
        assert r.status_code == 404
    assert rows(users.url, "SELECT status FROM alerts WHERE id = %s", theirs) == [{"status": "dispatched"}]
    assert rows(users.url, "SELECT status FROM alerts WHERE id = %s", undispatched) == [{"status": "open"}]

    # The group acknowledges the dispatch (once: a second is a 409), then resolves it.
    ack = await client.post(f"/api/alerts/{mine}/acknowledge", json={"comment": "on our way"}, headers=mg)
    assert ack.status_code == 200 and ack.json()["status"] == "dispatched"
    again = await client.post(f"/api/alerts/{mine}/acknowledge", json={}, headers=mg)
    assert again.status_code == 409
    done = await client.post(
        f"/api/alerts/{mine}/resolve", json={"outcome": "violation_confirmed", "actor": "somebody-else"}, headers=mg
    )
    assert done.status_code == 200 and done.json()["resolved_by"] == "mg-g1"  # a body actor is ignored
    assert [(h["kind"], h["actor"]) for h in done.json()["history"]] == [
        ("raised", "system"),
        ("dispatched", "op"),
        ("acknowledged", "mg-g1"),
        ("resolved", "mg-g1"),
    ]
    # The group may not dispatch, and not read the other alert views.
    assert (await client.post(f"/api/alerts/{theirs}/dispatch", json={}, headers=mg)).status_code == 403
    assert (await client.get("/api/groups", headers=mg)).status_code == 403


def declaration(tin: str, lrn: str) -> dict[str, Any]:
    body = copy.deepcopy(DECLARATION_EXAMPLE)
    body["declarant"]["tin"] = tin
    body["lrn"] = lrn
    return body


async def test_a_declarant_lodges_reads_and_cancels_only_its_own(client: httpx.AsyncClient, users: Users) -> None:
    decl = users.headers(Role.DECLARANT)  # TIN 1234567890
    adm = users.headers(Role.ADMIN)
    foreign = await client.post("/api/declarations", json=declaration("9876543210", "LRN-X"), headers=decl)
    assert foreign.status_code == 403 and foreign.json()["detail"]["code"] == "not_your_tin"
    assert count(users.url, "SELECT count(*) FROM declarations") == 0
    own = await client.post("/api/declarations", json=declaration(" 1234567890 ", "LRN-1"), headers=decl)
    assert own.status_code == 201, own.text
    other = await client.post("/api/declarations", json=declaration("9876543210", "LRN-2"), headers=adm)
    assert other.status_code == 201, other.text
    own_id, other_id = own.json()["id"], other.json()["id"]

    assert (await client.get(f"/api/declarations/{own_id}", headers=decl)).json()["declarant"]["tin"] == "1234567890"
    assert (await client.get(f"/api/declarations/{other_id}", headers=decl)).status_code == 404
    cancel = {"reason": "changed my mind"}
    assert (await client.post(f"/api/declarations/{other_id}/cancel", json=cancel, headers=decl)).status_code == 404
    assert (await client.get(f"/api/declarations/{other_id}", headers=adm)).json()["status"] != "cancelled"
    mine = await client.post(f"/api/declarations/{own_id}/cancel", json=cancel, headers=decl)
    assert mine.status_code == 200 and mine.json()["status"] == "cancelled"
    assert mine.json()["history"][-1]["actor"] == "decl"
    # A declarant does not release, and sees no transits.
    assert (await client.post(f"/api/declarations/{own_id}/release", json={}, headers=decl)).status_code == 403
    assert (await client.get("/api/transits", headers=decl)).status_code == 403

    # The audit log names the user who made each change.
    audited = rows(
        users.url,
        "SELECT actor, op FROM audit_log WHERE table_name = 'declarations' AND row_key ->> 'id' = %s ORDER BY id",
        str(own_id),
    )
    assert audited and {r["actor"] for r in audited} == {"decl"}
    assert rows(
        users.url,
        "SELECT DISTINCT actor FROM audit_log WHERE table_name = 'declarations' AND row_key ->> 'id' = %s",
        str(other_id),
    ) == [{"actor": "adm"}]


async def test_users_are_managed_by_admins_and_audited_without_password_hashes(
    client: httpx.AsyncClient, users: Users
) -> None:
    adm = users.headers(Role.ADMIN)
    new = {"name": "mg-g7", "role": "mobile_group", "password": "a long password", "group_id": "G7"}
    assert (await client.post("/api/users", json=new, headers=users.headers(Role.OPERATOR))).status_code == 403
    created = await client.post("/api/users", json=new, headers=adm)
    assert created.status_code == 201 and created.json()["group_id"] == "G7"
    assert (await client.post("/api/users", json=new, headers=adm)).status_code == 409
    unbound = await client.post("/api/users", json={**new, "name": "mg-x", "group_id": None}, headers=adm)
    assert unbound.status_code == 422
    wrongly_bound = await client.post("/api/users", json={**new, "name": "d-x", "role": "declarant"}, headers=adm)
    assert wrongly_bound.status_code == 422
    short = await client.post("/api/users", json={**new, "name": "mg-y", "password": "short"}, headers=adm)
    assert short.status_code == 422

    r = await client.post("/api/auth/login", json={"username": "mg-g7", "password": "a long password"})
    assert r.status_code == 200
    old = {"Authorization": f"Bearer {r.json()['token']}"}
    changed = await client.patch("/api/users/mg-g7", json={"role": "operator"}, headers=adm)
    assert changed.status_code == 200 and changed.json() == {
        "name": "mg-g7",
        "role": "operator",
        "group_id": None,
        "tin": None,
        "disabled": False,
    }
    assert (await client.get("/api/auth/me", headers=old)).status_code == 401  # a new role: log in again
    assert (await client.patch("/api/users/ghost", json={"disabled": True}, headers=adm)).status_code == 404
    listed = await client.get("/api/users", headers=adm)
    assert {"mg-g7", "op", "adm"} <= {u["name"] for u in listed.json()}

    # Changes to users are in the audit log under the admin's name; no password hash ever is.
    assert rows(
        users.url, "SELECT actor, op FROM audit_log WHERE table_name = 'users' AND row_key ->> 'name' = 'mg-g7'"
    ) == [{"actor": "adm", "op": "INSERT"}, {"actor": "adm", "op": "UPDATE"}]
    assert count(users.url, "SELECT count(*) FROM audit_log WHERE new::text LIKE '%%argon2%%'") == 0
    assert count(users.url, "SELECT count(*) FROM user_credentials WHERE password_hash LIKE '$argon2id$%%'") >= 6


async def test_auditors_verify_the_audit_chain(client: httpx.AsyncClient, users: Users) -> None:
    r = await client.get("/api/audit/verify", headers=users.headers(Role.AUDITOR))
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["checked"] == count(users.url, "SELECT count(*) FROM audit_log") >= 5
    assert (await client.get("/api/audit/verify", headers=users.headers(Role.OPERATOR))).status_code == 403
    assert PASSWORD not in r.text

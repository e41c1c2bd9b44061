"""The dispatch message a mobile group receives: readable fields, in every language, to its schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jsonschema
import orjson

from alerts.briefing import nearest_place
from alerts.service import AlertService
from maps.i18n import gettext
from tests.alerts.conftest import fix, insert_transit, rows
from tests.alerts.test_api import add_group, client  # noqa: F401  (the operator's API client fixture)

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "dispatch-v1.schema.json").read_text())
SHAMKIR_EAST = (40.84, 46.15)  # about 11 km east of Shamkir, on the M2


def test_nearest_place_reads_as_distance_and_direction() -> None:
    place = nearest_place(*SHAMKIR_EAST)
    assert (place.code, place.compass) == ("SHA", "E")
    assert 10_000 < place.distance_m < 12_000
    checkpoint = nearest_place(41.3311, 45.0772 + 0.01)
    assert checkpoint.kind == "border_checkpoint" and checkpoint.compass == "E"


async def test_the_dispatch_message_reads_like_a_briefing(
    migrated_db: str,
    service: AlertService,
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    tr = insert_transit(migrated_db, 1, carrier=("Anadolu Nakliyat A.S.", "TR8450012345"))
    await service.on_batch([fix(tr.seal_id, 10, lat=SHAMKIR_EAST[0], lon=SHAMKIR_EAST[1], state="opened")], [])
    [alert] = rows(migrated_db, "SELECT id, first_t FROM alerts")
    add_group(migrated_db, "G1", 40.70, 46.30)
    resp = await client.post(f"/api/alerts/{alert['id']}/dispatch", json={"group_id": "G1"})
    assert resp.status_code == 200, resp.text
    [row] = rows(migrated_db, "SELECT topic, payload FROM alert_outbox")
    message = orjson.loads(bytes(row["payload"]))
    jsonschema.validate(message, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert row["topic"] == "alerts/groups/G1" and message["schema"] == "sealwatch.dispatch" and message["version"] == 1
    assert message["plate"] == "10-AA-100"
    assert message["carrier"] == {"name": "Anadolu Nakliyat A.S.", "tin": "TR8450012345"}
    assert message["type"] == "seal_opened"
    for locale in ("az", "ru", "en"):
        assert message["type_text"][locale] == gettext(locale, "Seal opened")
        assert message["severity_text"][locale] == gettext(locale, "Critical")
    assert message["type_text"]["az"] != message["type_text"]["en"] != message["type_text"]["ru"]
    assert message["place"]["name"] == "Shamkir" and message["place"]["compass"] == "E"
    assert message["first_t"] == alert["first_t"].isoformat()
    # The opening is an hour old (the fixtures' clock): the group reads how long ago it happened.
    assert abs(message["age_s"] - (datetime.now(UTC) - alert["first_t"]).total_seconds()) <= 5
    assert message["age_s"] >= 3500
    assert message["route_code"] == "RBR-BAK" and message["office_destination"] == "AZBAK"

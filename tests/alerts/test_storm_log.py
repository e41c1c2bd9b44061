"""A storm of alerts logs a few lines and a summary, not one line per alert."""

from __future__ import annotations

from structlog.testing import capture_logs

from alerts.service import AlertService
from alerts.settings import AlertSettings
from alerts.storm_log import RaisedAlertLog
from tests.alerts.conftest import at, fix, insert_transit, rows

SEALS = 30


async def test_a_storm_of_signal_lost_alerts_is_summarised(migrated_db: str) -> None:
    transits = [insert_transit(migrated_db, n) for n in range(1, SEALS + 1)]
    async with AlertService(migrated_db, AlertSettings(), None) as svc:
        await svc.on_batch([fix(t.seal_id, 0) for t in transits], [])
        with capture_logs() as logs:
            events = await svc.tick(at(601))  # every seal silent: one signal_lost each
            svc.raised_log.flush(force=True)
    assert len(events) == SEALS
    assert len(rows(migrated_db, "SELECT 1 FROM alerts WHERE type = 'signal_lost'")) == SEALS  # all stored
    one_by_one = [e for e in logs if e["event"] == "alert raised"]
    summaries = [e for e in logs if e["event"].startswith("alerts raised")]
    assert len(one_by_one) == svc.raised_log.burst < SEALS
    assert [s["not_shown"] for s in summaries] == [SEALS - svc.raised_log.burst]
    assert summaries[0]["by_type"] == {"signal_lost": SEALS - svc.raised_log.burst}


def test_the_window_restarts_after_its_summary() -> None:
    now = [0.0]
    storm = RaisedAlertLog(burst=2, window_s=10.0, clock=lambda: now[0])
    with capture_logs() as logs:
        for i in range(5):
            storm.raised(alert_id=i, type="gps_jump")
        now[0] = 11.0
        storm.raised(alert_id=5, type="gps_jump")  # a new window: the old one's summary, then this line
    assert [(e["event"], e.get("alert_id"), e.get("not_shown")) for e in logs] == [
        ("alert raised", 0, None),
        ("alert raised", 1, None),
        ("alerts raised (more than the log shows one by one)", None, 3),
        ("alert raised", 5, None),
    ]

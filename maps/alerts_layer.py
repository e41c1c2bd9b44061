"""Alerts on the live map: a panel of open alerts (live over SSE, with acknowledge) and alert markers.

Added through ``render_live_map(settings, layers=(add_alerts_layer,))``. The page reads
``/api/alerts?status=unresolved`` (whose ``X-Alert-Stream-Id`` header is the snapshot's stream
position) every few seconds for the first ``STREAM_DELAY_MS``, then follows
``/api/alerts/stream?after=<it>``; the browser's EventSource resumes with ``Last-Event-ID`` by
itself after a dropped connection. Assets are local (``/static``).
"""

from __future__ import annotations

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

from maps.live import STATIC_URL
from sealwatch.logging import get_logger

log = get_logger(__name__)

ALERTS_URL = "/api/alerts"
STREAM_URL = "/api/alerts/stream"
SEVERITY_COLORS = {"critical": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}
# The page polls the list first and opens the SSE stream after this delay (see alerts.js for why).
STREAM_DELAY_MS = 12_000
POLL_MS = 3_000


class AlertsPanel(JSCSSMixin, MacroElement):
    """The panel's HTML and the script that wires it to the map, the marker group and the API."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div class="sealwatch-alerts" id="sealwatch-alerts">
            <h4>Open alerts <span class="alerts-count" id="sealwatch-alerts-count">0</span></h4>
            <div class="alerts-status" id="sealwatch-alerts-status">connecting</div>
            <ul class="alerts-list" id="sealwatch-alerts-list"></ul>
        </div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            SealwatchAlerts.start({{ this.map_name }}, {{ this.group.get_name() }}, {
                listUrl: {{ this.alerts_url|tojson }},
                streamUrl: {{ this.stream_url|tojson }},
                colors: {{ this.colors|tojson }},
                streamDelayMs: {{ this.stream_delay_ms|tojson }},
                pollMs: {{ this.poll_ms|tojson }}
            });
        {% endmacro %}
        """
    )

    def __init__(self, m: folium.Map, group: folium.FeatureGroup) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "AlertsPanel"
        self.default_js = [("sealwatch_alerts_js", f"{STATIC_URL}/alerts.js")]
        self.default_css = [("sealwatch_alerts_css", f"{STATIC_URL}/alerts.css")]
        self.map_name = m.get_name()
        self.group = group
        self.alerts_url = ALERTS_URL
        self.stream_url = STREAM_URL
        self.colors = SEVERITY_COLORS
        self.stream_delay_ms = STREAM_DELAY_MS
        self.poll_ms = POLL_MS


def add_alerts_layer(m: folium.Map) -> AlertsPanel:
    """Layer hook: an "Alerts" marker group (toggled in the layer control) and the alerts panel."""
    group = folium.FeatureGroup(name="Alerts (live)")
    group.add_to(m)
    panel = AlertsPanel(m, group)
    panel.add_to(m)
    return panel

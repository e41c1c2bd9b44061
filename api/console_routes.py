"""The operations console at ``/``: the live map of monitored seals with their alerts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SettingsDep
from api.web import render, request_locale
from maps.alerts_layer import add_alerts_layer
from maps.live import build_live_map
from maps.render import FoliumParts, folium_parts
from sealwatch.logging import get_logger

log = get_logger(__name__)

router = APIRouter()

# The folium part depends only on the tile settings and the language: each process builds it once per pair.
_map_cache: dict[tuple[str | None, str, str], FoliumParts] = {}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def console(request: Request, settings: SettingsDep) -> HTMLResponse:
    locale = request_locale(request)
    key = (settings.tile_url, settings.tile_attribution, locale)
    parts = _map_cache.get(key)
    if parts is None:
        parts = _map_cache[key] = folium_parts(build_live_map(settings, layers=(add_alerts_layer,)))
        log.info("console map built", tiles=bool(settings.tile_url), locale=locale)
    return render(request, "console.html", folium=parts)

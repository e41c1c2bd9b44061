"""HTML pages of the operations control center (the live map at /)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import SettingsDep
from maps.alerts_layer import add_alerts_layer
from maps.live import render_live_map
from sealwatch.logging import get_logger

log = get_logger(__name__)

router = APIRouter()

# Rendering the map costs ~10 ms and its HTML depends only on the tile settings, so each process renders it once.
_live_map_cache: dict[tuple[str | None, str], str] = {}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def live_map(settings: SettingsDep) -> HTMLResponse:
    key = (settings.tile_url, settings.tile_attribution)
    html = _live_map_cache.get(key)
    if html is None:
        html = _live_map_cache[key] = render_live_map(settings, layers=(add_alerts_layer,))
        log.info("live map page rendered", tiles=bool(settings.tile_url))
    return HTMLResponse(html)

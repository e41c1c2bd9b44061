"""Route geometry API: a route's versions, a new geometry as GeoJSON or an uploaded file, and one
learned from the tracks of past transits.

Every change is a new version; ``expected_version`` (the version the editor started from) turns a
concurrent edit into 409 ``version_conflict`` instead of a silent overwrite. A line that cannot be
the route (outside the region, [lat, lon] order, parts that do not join, ends far from the route's
offices) is refused with 422 ``invalid_route_geometry`` and a message saying what and where.
Transits already released keep the geometry they were released with.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, RootModel

from api.auth import CurrentUser
from api.customs_routes import CODE, ERRORS, ErrorResponse, domain_errors
from api.deps import Conn
from customs import routes
from customs.db import as_db
from customs.route_files import FORMATS, FileFormat, RouteFileError, detect_format, read_route_file
from customs.routes import LearnedOut, LearnIn, RouteGeometryIn, RouteVersion, RouteVersionDetail

router = APIRouter(tags=["routes"])

MAX_FILE_BYTES = 20 * 1024 * 1024


class _Invalid(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class _RequestInvalid(BaseModel):
    detail: list[_Invalid]


class Unprocessable(RootModel[ErrorResponse | _RequestInvalid]):
    """A 422: the request's shape (FastAPI's list of field errors) or its content (a domain error:
    ``invalid_route_geometry``, ``invalid_width_profile``, ``not_enough_history``)."""


ROUTE_ERRORS = {**ERRORS, 422: {"model": Unprocessable}}


@router.get("/api/routes/{code}/versions", response_model=list[RouteVersion], responses=ERRORS)
async def get_versions(conn: Conn, code: str) -> list[RouteVersion]:
    """Every geometry the route has had, oldest first, with who stored it and from what."""
    with domain_errors():
        return await routes.list_versions(as_db(conn), code.upper())


@router.get("/api/routes/{code}/versions/{version}", response_model=RouteVersionDetail, responses=ERRORS)
async def get_version(conn: Conn, code: str, version: int) -> RouteVersionDetail:
    """One version, with the corridor polygon its widths make (as the route editor draws it)."""
    with domain_errors():
        return await routes.get_version_detail(as_db(conn), code.upper(), version)


@router.put("/api/routes/{code}/geometry", response_model=RouteVersion, responses=ROUTE_ERRORS)
async def put_geometry(
    conn: Conn, user: CurrentUser, code: Annotated[str, CODE], body: RouteGeometryIn
) -> RouteVersion:
    """Store a new geometry (as edited on the map) as the route's next version.

    Without ``width_profile`` the corridor is widened around the route's towns and offices and on
    its border approaches; ``default_width_m`` unset keeps the route's.
    """
    with domain_errors():
        return await routes.save_geojson(as_db(conn), code.upper(), body, user.name)


@router.post(
    "/api/routes/{code}/geometry/import",
    response_model=RouteVersion,
    responses=ROUTE_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/geo+json": {"schema": {"type": "object"}},
                "application/gpx+xml": {"schema": {"type": "string"}},
                "application/vnd.google-earth.kml+xml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_geometry(
    conn: Conn,
    user: CurrentUser,
    request: Request,
    code: Annotated[str, CODE],
    format: Annotated[FileFormat | None, Query(description=f"one of {', '.join(FORMATS)}; unset: detected")] = None,
    filename: Annotated[str | None, Query(max_length=200, description="helps detect the format")] = None,
    default_width_m: Annotated[float | None, Query(gt=0, le=50_000)] = None,
    expected_version: Annotated[int | None, Query(ge=1)] = None,
    note: Annotated[str, Query(max_length=500)] = "",
) -> RouteVersion:
    """Import a GeoJSON, GPX (track or route) or KML line file as the route's next version: the
    request body is the file. A GPS track is thinned to the vertices that shape the road."""
    data = await request.body()
    with domain_errors():
        if len(data) > MAX_FILE_BYTES:
            raise RouteFileError(f"the file is {len(data)} bytes; at most {MAX_FILE_BYTES} are accepted")
        fmt = format or detect_format(data, filename, request.headers.get("content-type"))
        parts = read_route_file(data, fmt)
        return await routes.save_geometry(
            as_db(conn),
            code.upper(),
            parts,
            source=fmt,
            actor=user.name,
            default_width_m=default_width_m,
            expected_version=expected_version,
            note=note,
        )


@router.post("/api/routes/{code}/learn", response_model=LearnedOut, responses=ROUTE_ERRORS)
async def learn_route(
    conn: Conn, user: CurrentUser, code: Annotated[str, CODE], body: Annotated[LearnIn, Body()]
) -> LearnedOut:
    """Learn the route's road from the tracks of its finished transits: a centerline with a corridor
    as wide as the transits really spread. ``save`` stores it as the next version; otherwise it is
    a proposal to look at on the map."""
    with domain_errors():
        return await routes.learn(as_db(conn), code.upper(), body, user.name)

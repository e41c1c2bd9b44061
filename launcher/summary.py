"""The block a start-up ends with: what a new user needs, in a few lines that do not scroll away."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (user, host, port and path kept)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def startup_summary(
    *,
    title: str,
    map_url: str,
    user: str | None,
    password: str | None,
    database_url: str,
    mqtt_url: str,
    stop: str,
    extra: dict[str, str] | None = None,
) -> str:
    """A framed block; only the operator's own login is shown in clear."""
    lines = [("map", map_url)]
    if user is not None:
        lines.append(("login", f"{user} / {password}" if password else user))
    lines += [("database", mask_url(database_url)), ("broker", mask_url(mqtt_url))]
    lines += list((extra or {}).items())
    lines.append(("stop", stop))
    width = max(len(k) for k, _ in lines)
    body = "\n".join(f"  {k.ljust(width)}  {v}" for k, v in lines)
    rule = "-" * max(len(title), 40)
    return f"\n{rule}\n{title}\n{rule}\n{body}\n{rule}\n"

"""Where a running ``sealwatch demo`` can be found by other commands of the same user.

The demo writes ``$XDG_RUNTIME_DIR/sealwatch/demo.json`` (or a private directory under the
system's temporary directory when that variable is unset) with its process id and its servers'
URLs; ``sealwatch user add`` without ``DATABASE_URL`` reads it, so a new user can add users to
the demo they just started without finding its private database's address.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoState:
    pid: int
    database_url: str
    mqtt_url: str
    map_url: str


def state_dir() -> Path:
    """The user's runtime directory for sealwatch (mode 0700: the file names database URLs)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / "sealwatch"
    return Path(tempfile.gettempdir()) / f"sealwatch-{os.getuid()}"


def state_file() -> Path:
    return state_dir() / "demo.json"


def _private(directory: Path) -> bool:
    """Ours and closed to others: in a shared temporary directory anyone could have made it first."""
    info = directory.lstat()
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def write_state(state: DemoState) -> Path | None:
    """Write the state file; None (nothing written) when the directory is not private to this user."""
    path = state_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private(path.parent):
        return None
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    tmp.replace(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def running_demo() -> DemoState | None:
    """The running demo's state, or None (no file, unreadable, or its process has ended)."""
    try:
        if not _private(state_dir()):
            return None
        state = DemoState(**json.loads(state_file().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return state if _alive(state.pid) else None


def clear_state(pid: int) -> None:
    """Remove the file if it is still this process's (a newer demo may have replaced it)."""
    path = state_file()
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass

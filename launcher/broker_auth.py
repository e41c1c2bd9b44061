"""Broker accounts and ACL for the secured Mosquitto (config/mosquitto-secure.conf).

One account per role. Seals log in with username = seal id and may only publish
``seals/<id>/telemetry``; mobile groups log in with username = group id and may only publish
``groups/<id>/position`` and read ``alerts/groups/<id>`` (and below); the ingest account reads
``seals/#``; the service account (alerts: dispatch outbox, group positions) writes
``alerts/groups/#`` and reads ``groups/+/position``. Passwords are hashed by
``mosquitto_passwd -U`` (the plain text file exists only until it is hashed, mode 0600).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from launcher.servers import PROJECT_ROOT
from sealwatch.logging import get_logger
from sealwatch.wire import SEAL_ID_PATTERN

log = get_logger(__name__)

ACL_TEMPLATE = PROJECT_ROOT / "config" / "mosquitto-acl.template"
GROUP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$"
_SEAL_RE, _GROUP_RE = re.compile(SEAL_ID_PATTERN), re.compile(GROUP_ID_PATTERN)


def new_password() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class BrokerAccounts:
    """Every broker login: service accounts, seals and mobile groups, each with its password."""

    ingest_user: str = "sealwatch-ingest"
    ingest_password: str = field(default_factory=new_password)
    service_user: str = "sealwatch-service"
    service_password: str = field(default_factory=new_password)
    seals: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    def add_seal(self, seal_id: str, password: str | None = None) -> str:
        if not _SEAL_RE.match(seal_id):
            raise ValueError(f"seal id {seal_id!r} does not match {SEAL_ID_PATTERN}")
        self.seals[seal_id] = password or new_password()
        return self.seals[seal_id]

    def add_group(self, group_id: str, password: str | None = None) -> str:
        if not _GROUP_RE.match(group_id):
            raise ValueError(f"group id {group_id!r} does not match {GROUP_ID_PATTERN}")
        self.groups[group_id] = password or new_password()
        return self.groups[group_id]

    def logins(self) -> dict[str, str]:
        """username → password; refuses a name used twice (the ACL patterns share one name space)."""
        out: dict[str, str] = {}
        pairs = [(self.ingest_user, self.ingest_password), (self.service_user, self.service_password)]
        for user, password in [*pairs, *self.seals.items(), *self.groups.items()]:
            if user in out:
                raise ValueError(f"broker username {user!r} is used twice (seal, group or service)")
            if ":" in user or "\n" in user or "\n" in password:
                raise ValueError(f"broker username {user!r} or its password has a forbidden character")
            out[user] = password
        return out


def acl_text(accounts: BrokerAccounts) -> str:
    template = ACL_TEMPLATE.read_text(encoding="utf-8")
    text = template.replace("user sealwatch-ingest\n", f"user {accounts.ingest_user}\n")
    text = text.replace("user sealwatch-service\n", f"user {accounts.service_user}\n")
    # Group ids match GROUP_ID_PATTERN (no spaces, slashes or wildcards): safe inside a topic line.
    blocks = [
        f"\nuser {group}\ntopic write groups/{group}/position\n"
        f"topic read alerts/groups/{group}\ntopic read alerts/groups/{group}/#\n"
        for group in sorted(accounts.groups)
    ]
    return text + "".join(blocks)


def write_password_file(path: Path, logins: Mapping[str, str]) -> None:
    """Write ``user:password`` lines and hash them in place with ``mosquitto_passwd -U``."""
    binary = shutil.which("mosquitto_passwd")
    if binary is None:
        raise FileNotFoundError("mosquitto_passwd is not installed")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)  # plain text until hashed: nobody else may read it, even briefly
    path.write_text("".join(f"{user}:{password}\n" for user, password in logins.items()), encoding="utf-8")
    subprocess.run([binary, "-U", str(path)], check=True, capture_output=True, timeout=120)


def write_broker_auth(directory: Path, accounts: BrokerAccounts) -> tuple[Path, Path]:
    """Write the password file and the ACL file into ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    password_file, acl_file = directory / "sealwatch.passwd", directory / "sealwatch.acl"
    write_password_file(password_file, accounts.logins())
    acl_file.write_text(acl_text(accounts), encoding="utf-8")
    acl_file.chmod(0o600)
    log.info(
        "broker accounts written", seals=len(accounts.seals), groups=len(accounts.groups), directory=str(directory)
    )
    return password_file, acl_file

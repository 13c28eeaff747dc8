"""`make run`: embedded services, migrate, demo data, then web + Celery worker + beat together.

Ctrl-C stops the three processes and the embedded servers cleanly; the data stays under var/, so a
second `make run` starts where the first stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PY = sys.executable


def main() -> int:
    os.chdir(BASE_DIR)
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(BASE_DIR))
    from config import embedded  # here: the project is importable only once sys.path holds it (above)

    started_embedded = False
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = embedded.database_url()
        started_embedded = True
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = embedded.redis_url()
        started_embedded = True

    BEAT_SCHEDULER = "config.beat:SingleDatabaseScheduler"

    def manage(*args: str) -> None:
        subprocess.run([PY, "manage.py", *args], env=env, check=True)

    manage("migrate", "--no-input")
    manage("seed_demo")

    port = env.get("PORT", "8000")
    procs = [
        subprocess.Popen([PY, "manage.py", "runserver", f"127.0.0.1:{port}"], env=env),
        subprocess.Popen([PY, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--concurrency=2"], env=env),
        # One beat; its schedule is in the database (django-celery-beat), editable in the admin.
        subprocess.Popen(
            [PY, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO", "--scheduler", BEAT_SCHEDULER], env=env
        ),
    ]
    _announce_when_up(port, env)

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for proc in procs:
            if proc.poll() is not None:
                print(f"process {proc.args[2:4]} exited with {proc.returncode}; stopping", flush=True)
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.5)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.time() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
    if started_embedded:
        embedded.stop_all()
    print("MemberGuard stopped.", flush=True)
    return exit_code


def _announce_when_up(port: str, env: dict[str, str]) -> None:
    """Wait (up to a minute) for the web server to answer, then say where it is and who can sign in."""
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}healthz", timeout=2)  # noqa: S310 (loopback, fixed scheme)
            break
        except urllib.error.HTTPError:
            break  # it answers (a 503 says a dependency is still starting; the page is up)
        except OSError:
            time.sleep(0.5)
    subprocess.run([PY, "manage.py", "seed_demo", "--logins"], env=env, check=False)
    print(f"\nMemberGuard is running at {url}  (members: {url} , staff: {url}admin/ , health: {url}healthz)")
    print("Set PORT to use another port. Press Ctrl-C to stop everything.\n", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

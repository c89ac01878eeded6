"""Run the web server and the background worker together, for `make demo`.

A tiny supervisor (standard library only) so the demo needs neither systemd nor honcho:
- starts granian (config.wsgi:application) and the Huey worker (manage.py run_huey);
- on Ctrl-C or SIGTERM stops both gracefully (then SIGKILL after a grace period) and exits 0;
- if either child dies on its own, stops the other and exits non-zero, so a crash is never
  hidden behind a half-working demo.

Each child runs in its own session (process group): Ctrl-C in the terminal reaches only this
supervisor, which then shuts the children down in order, and SIGKILL to the group also reaches
granian's worker processes.

Environment: HOST (default 127.0.0.1), PORT (default 8000), DJANGO_SETTINGS_MODULE (default
config.settings.dev).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 15  # how long a child may take to stop before it is killed
STARTUP_SECONDS = 30  # how long to wait for the web server to accept connections


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """Ask every running child to stop gracefully, wait, then SIGKILL the stragglers' groups.

    Graceful means SIGTERM for granian (finish requests in flight) but SIGINT for the Huey
    consumer (finish running jobs; SIGTERM would stop it at once), as the systemd units do.
    """
    for name, proc in children.items():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT if name == "worker" else signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for name, proc in children.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"serve: {name} did not stop in {GRACE_SECONDS}s, killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def web_command(host: str, port: int) -> list[str]:
    """The web server of `make demo` (bench/bench_radio.py measures exactly this command).

    granian (ADR 0014): its HTTP handling is native code, so the device manifest polls that the
    WSGI fast path answers with one stat() are not held back by the server itself; Django's pages
    run in its blocking threads as they did under gunicorn's.
    """
    return [
        # `python -m granian` from this interpreter: the venv's granian, whatever PATH says.
        *(sys.executable, "-m", "granian", "--interface", "wsgi"),
        *("--host", host, "--port", str(port)),
        # Two processes (one per core here); threads cover requests that wait on the database.
        *("--workers", "2", "--blocking-threads", "4"),
        *("--access-log", "--respawn-failed-workers"),
        "config.wsgi:application",
    ]


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    # A wildcard bind is reached locally through the loopback address.
    local = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    url_host = f"[{local}]" if ":" in local else local

    if port_open(local, port):
        print(f"serve: port {port} on {host} is already in use; try PORT=8001", file=sys.stderr)
        return 2

    commands = {
        "web": web_command(host, port),
        "worker": [sys.executable, "manage.py", "run_huey"],
    }

    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    children: dict[str, subprocess.Popen[bytes]] = {}
    announced = False
    started = time.monotonic()
    try:
        for name, cmd in commands.items():
            children[name] = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)  # noqa: S603
        while not stopping:
            for name, proc in children.items():
                code = proc.poll()
                if code is not None:
                    print(f"serve: {name} exited with code {code}; stopping", file=sys.stderr)
                    return code if code and code > 0 else 1
            if not announced and port_open(local, port):
                announced = True
                print(
                    f"\n  Thông tin cơ sở is running at http://{url_host}:{port}/\n"
                    "  Demo accounts (README.md): e.g. hn.editor, hn.approver, admin;"
                    " password ttcs-demo-2025\n"
                    "  Press Ctrl-C to stop.\n",
                    flush=True,
                )
            elif not announced and time.monotonic() - started > STARTUP_SECONDS:
                print(
                    f"serve: web did not listen on port {port} in {STARTUP_SECONDS}s",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
        print("serve: stopping web and worker", file=sys.stderr)
        return 0
    finally:
        stop(children)


if __name__ == "__main__":
    sys.exit(main())

"""moto's server (what `python3 -m moto.server` runs), with DynamoDB requests handled one at a time.

DynamoDB applies a conditional write atomically: of two runs racing for the alert poller's lease, one
wins. moto's threaded server evaluates the condition and applies the update without a lock, so under CPU
load two racing requests can both pass the condition (measured: 22 of 1,500 rounds of four concurrent
lease requests). The code under test relies on the real service's guarantee, so this launcher restores
it; every other service is served as moto serves it, only faster (see cache_jsonpath_parsing).

Usage: python3 moto_server.py HOST PORT
       python3 moto_server.py --check   (exits 0 when everything the server needs imports; else prints
                                         the missing module and exits 3)

stdin is the parent's lifeline: the server exits when it reaches end of file. moto.ts passes a pipe it
never writes to or closes, so the server goes when its parent does, however that parent ends (SIGKILL,
OOM, a crash, `| head` closing its output), instead of running on with no one to stop it. Run by hand
(stdin a terminal or /dev/null), it serves until stopped.
"""

import functools
import importlib
import os
import signal
import stat
import sys
import threading

# What the server imports, at start or on a service's first request. moto without its `[server]` extras
# (flask-cors, jsonpath-ng) imports as `moto.server` and then fails its first request or its start.
NEEDED_MODULES = (
    "flask",
    "flask_cors",
    "werkzeug.serving",
    "jsonpath_ng.ext",
    "moto.moto_server.werkzeug_app",
    *(f"moto.{service}.{part}" for service in ("s3", "sqs", "events", "dynamodb", "secretsmanager")
      for part in ("models", "urls")),
)
MISSING_EXIT_CODE = 3


def check() -> int:
    for name in NEEDED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as error:
            print(f"python3 cannot import {error.name or name} (needed for {name})", file=sys.stderr)
            return MISSING_EXIT_CODE
    return 0


class SerializedDynamoDB:
    """WSGI middleware: DynamoDB requests (JSON protocol, X-Amz-Target DynamoDB_*) take one lock."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            # The response is produced inside the lock, so the next request sees this one's write.
            result = self.app(environ, start_response)
            try:
                return list(result)
            finally:
                # WSGI: whoever consumes the iterable closes it.
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def cache_jsonpath_parsing() -> None:
    """moto's EventBridge parses its target input paths again for every event and every target, and
    jsonpath_ng builds a new parser each time (about 0.4 s here): a ten-event PutEvents matched by a rule
    took seconds. A parsed expression is not changed by use, so one per expression is kept; what moto
    delivers is the same."""
    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def exit_when_parent_dies() -> None:
    """Blocks on stdin; the kernel closes the pipe's write end when the parent exits, whatever the cause."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    # _exit: the main thread is inside werkzeug's serve_forever, which sys.exit from here would not stop.
    os._exit(0)


def main() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    # Only a pipe is a lifeline: started by hand, stdin is a terminal (reading it from the background
    # would stop the server) or /dev/null (at end of file at once).
    mode = os.fstat(0).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        threading.Thread(target=exit_when_parent_dies, name="parent-watchdog", daemon=True).start()
    cache_jsonpath_parsing()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, SerializedDynamoDB(app), threaded=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    main()

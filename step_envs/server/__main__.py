"""`python -m step_envs.server`: run the controller inside an environment.

Binds 127.0.0.1 unless told otherwise. The token comes from ``--token-file`` (``-``: the first line of stdin)
or ``$STEP_ENVS_TOKEN``; ``--no-auth`` turns it off so OSWorld's own client (which sends no token) can drive the
server. ``--listen-fd N``: also serve on an inherited listening socket (one bound in another network namespace).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from werkzeug.serving import make_server

from step_envs.server.app import create_app
from step_envs.server.memory import IdleTrim, limit_arenas


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m step_envs.server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port; 0 picks a free one (default 5000)")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--token-file", help="file holding the token clients must send in X-Step-Token (-: stdin)")
    parser.add_argument("--listen-fd", type=int, help="an inherited listening socket to serve as well")
    parser.add_argument("--no-auth", action="store_true", help="accept requests without a token (OSWorld clients)")
    args = parser.parse_args(argv)

    if args.no_auth:
        token = None
    elif args.token_file == "-":
        token = sys.stdin.readline().strip()
    elif args.token_file:
        with open(args.token_file) as handle:
            token = handle.read().strip()
    elif os.environ.get("STEP_ENVS_TOKEN"):
        token = os.environ["STEP_ENVS_TOKEN"]
    else:
        parser.error("a token is required: pass --token-file, set STEP_ENVS_TOKEN, or pass --no-auth")

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    limit_arenas()  # before any thread: see step_envs.server.memory
    app = create_app(token)
    trim = IdleTrim()

    @app.after_request
    def note_request(response: Any) -> Any:
        trim.touch()
        return response

    worker, reader = app.config["worker"], app.config["a11y_reader"]
    worker.start()
    server = make_server(args.host, args.port, app, threaded=True)
    if args.listen_fd is not None:
        inherited = make_server(args.host, 0, app, threaded=True, fd=args.listen_fd)
        threading.Thread(target=inherited.serve_forever, daemon=True).start()

    def stop(signum: int, frame: object) -> None:
        reader.close()
        worker.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(str(server.port))
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    finally:
        reader.close()
        worker.close()


if __name__ == "__main__":
    main()

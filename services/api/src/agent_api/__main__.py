"""``python -m agent_api [--host H] [--port P] [--workers N]``: serve the API of ``$AGENT_ENV``
(dev when unset, as for the settings) the way ``invoke api.serve`` does; the image's command.
See :mod:`agent_api.serve`."""

from __future__ import annotations

import argparse
import sys

from agent_api.settings import environment_name
from agent_db.errors import AgentDbError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    arguments = parser.parse_args(argv)
    from agent_api.serve import serve

    try:
        serve(environment_name(), arguments.host, arguments.port, arguments.workers)
    except AgentDbError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

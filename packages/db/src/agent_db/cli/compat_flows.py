"""``python -m agent_db.cli.compat_flows URL``: run a release's API flows against the API at URL
and print the result as one JSON document (exit 0 when every step passed, 1 otherwise).

``api.compat`` runs this with the previous release's code first on the import path, so the
flows are that release's own."""

from __future__ import annotations

import json
import sys

from agent_db.commands.compat_flows import run_flows


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m agent_db.cli.compat_flows BASE_URL", file=sys.stderr)
        return 2
    result = run_flows(argv[0])
    print(json.dumps(result.as_json()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

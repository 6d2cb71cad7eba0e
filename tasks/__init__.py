"""Invoke tasks: the one command surface for people and CI (``uv run invoke --list``).

Tasks stay thin: they parse arguments, call ``agent_db`` / ``agent_api``, and print through
``agent_db.cli``. Errors become one message and the exit code of the command contract (1
failure, 2 bad usage or configuration, 3 refused by a safety rule). One module per family:
``db`` (the toolkit's verbs), ``api`` (serving and releasing the API, and ``dev``), ``checks``
(test, chaos, audit, lint), ``bench``, ``k8s`` (the Kubernetes manifests), ``image`` (the
Dockerfile's images).
"""

from __future__ import annotations

from invoke.collection import Collection

from tasks import api, bench, checks, db, image, k8s

ns = Collection(
    api.dev,
    checks.test,
    checks.chaos,
    checks.audit,
    checks.lint,
    db.collection,
    api.collection,
    bench.collection,
    k8s.collection,
    image.collection,
)

# syntax=docker/dockerfile:1
# Two targets of one build (docs/deployment.md):
#   runtime (the default): the API.  docker build -t agent-api .  then
#     docker run -p 8000:8000 -e AGENT_ENV=staging -e STAGING_DATABASE_URL=... -e STAGING_JWT_SECRET=... agent-api
#   migrate: the db.* tasks, for the Kubernetes Jobs that promote the expand and contract phases.
#     docker build --target migrate -t agent-api-migrate .
#     docker run agent-api-migrate db.promote --to staging --phase expand --manifest /m/dev.json
# Neither carries the embedded PostgreSQL server or the dev tools (tests/deploy/test_image_dependencies.py).

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---------------------------------------------------------------- build: a venv with the API only
FROM python:3.13.18-slim-trixie AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Third-party dependencies first: this layer is rebuilt only when the lock changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=packages/db/pyproject.toml,target=packages/db/pyproject.toml \
    --mount=type=bind,source=services/api/pyproject.toml,target=services/api/pyproject.toml \
    uv sync --locked --no-dev --package agent-api --no-install-workspace

# Then agent-db and agent-api themselves, installed as wheels (not editable): the runtime stage
# needs the venv and environments/, not the source tree.
COPY pyproject.toml uv.lock ./
COPY packages/db packages/db
COPY services/api services/api
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --package agent-api --no-editable

# ---------------------------------------------------------------- build-migrate: the toolkit and invoke
FROM build AS build-migrate
# Its own venv at /app/.venv, the path the migrate image runs it from: uv writes that path into
# the shebang of every script (bin/invoke), so a venv built elsewhere and copied there would not
# start. The API's venv of the build stage is removed first.
RUN --mount=type=cache,target=/root/.cache/uv \
    rm -rf /app/.venv \
    && uv sync --locked --no-dev --package agent-db --group migrate --no-editable

# ---------------------------------------------------------------- base: what both images share
FROM python:3.13.18-slim-trixie AS base
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
WORKDIR /app
COPY environments/ /app/environments/
# The commit the image is built from: the census and the smoke check name it (docs/deployment.md).
ARG AGENT_BUILD_COMMIT=""
# AGENT_ENV defaults to the strictest environment: without PROD_DATABASE_URL the API refuses to
# start and names the variable, instead of falling back to dev's embedded database.
ENV PATH="/app/.venv/bin:$PATH" \
    AGENT_ENVIRONMENTS_DIR=/app/environments \
    AGENT_ENV=prod \
    AGENT_BUILD_COMMIT=$AGENT_BUILD_COMMIT \
    AGENT_DB_CACHE_DIR=/tmp/agent-db-cache \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# ---------------------------------------------------------------- migrate: invoke db.* in /app
FROM base AS migrate
COPY --from=build-migrate /app/.venv /app/.venv
COPY tasks/ /app/tasks/
USER 10001:10001
ENTRYPOINT ["invoke"]
CMD ["--list"]

# ---------------------------------------------------------------- runtime (the default target)
FROM base AS runtime
COPY --from=build /app/.venv /app/.venv
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# The API served as `invoke api.serve` serves it (agent_api.serve): every line structured (JSON),
# uvicorn's plain-text access log off, the API's error shape for unparsable requests, no trust
# in X-Forwarded-For beyond [api] trusted_proxies.
CMD ["python", "-m", "agent_api", "--host", "0.0.0.0", "--port", "8000"]

"""The API flows of a release: what its clients do, step by step, against a running API.

``api.compat`` runs the *previous* release's copy of this module (from a worktree of its
commit) against the previous release's API, served on a database migrated by this commit's
expand revisions: if a step fails, an expand revision broke the release that is still running
while it rolls out. Keep the flows to what clients really rely on (register, log in, agents,
conversations, messages): whatever this module checks today, the next release is held to.

Plain ``urllib`` and JSON, no third-party client, so that any release's copy runs on any
environment. The runner is :mod:`agent_db.cli.compat_flows` (it prints the result as JSON).
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

API = "/api/v1"
REQUEST_SECONDS = 30.0
FLOWS_VERSION = 1  # the shape of the JSON result; bump when it changes


class FlowFailed(Exception):
    """A step did not get what the release's clients expect."""


@dataclass
class Step:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class FlowsResult:
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def failure(self) -> Step | None:
        return next((step for step in self.steps if not step.ok), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": FLOWS_VERSION,
            "ok": self.ok,
            "steps": [{"name": s.name, "ok": s.ok, "detail": s.detail} for s in self.steps],
        }


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None

    def call(
        self, method: str, path: str, *, json_body: object = None, form: dict[str, str] | None = None,
        expect: int = 200,
    ) -> Any:  # fmt: skip
        headers = {"Accept": "application/json", "User-Agent": "agent-platform-compat"}
        data = None
        if json_body is not None:
            data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 (a URL the runner built)
            self.base_url + API + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_SECONDS) as response:  # noqa: S310
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                status, body = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            raise FlowFailed(f"{method} {path}: no answer ({getattr(error, 'reason', error)})") from None
        if status != expect:
            shown = body[:300].decode("utf-8", "replace")
            raise FlowFailed(f"{method} {path}: HTTP {status}, expected {expect}: {shown}")
        return json.loads(body) if body else None


def _flows(client: Client) -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    suffix = secrets.token_hex(4)
    username, password = f"compat_{suffix}", f"compat password {suffix} 42"

    def register(state: dict[str, Any]) -> None:
        user = client.call(
            "POST", "/auth/register", expect=201,
            json_body={"email": f"{username}@example.com", "username": username, "password": password},
        )  # fmt: skip
        state["user_id"] = user["id"]

    def log_in(state: dict[str, Any]) -> None:
        token = client.call("POST", "/auth/login", form={"username": username, "password": password})
        client.token = token["access_token"]
        me = client.call("GET", "/users/me")
        if me["username"] != username:
            raise FlowFailed(f"GET /users/me answered {me['username']!r}, not {username!r}")

    def agents(state: dict[str, Any]) -> None:
        agent = client.call(
            "POST", "/agents", expect=201, json_body={"name": "support", "model": "gpt-4o-mini"}
        )
        state["agent_id"] = agent["id"]
        listed = client.call("GET", "/agents")
        if agent["id"] not in [item["id"] for item in listed["items"]]:
            raise FlowFailed("GET /agents does not list the agent just created")
        changed = client.call("PATCH", f"/agents/{agent['id']}", json_body={"system_prompt": "Be brief."})
        if changed["system_prompt"] != "Be brief.":
            raise FlowFailed("PATCH /agents/{id} did not change system_prompt")

    def conversations(state: dict[str, Any]) -> None:
        conversation = client.call(
            "POST", f"/agents/{state['agent_id']}/conversations", expect=201,
            json_body={"title": "Refund for order 1042"},
        )  # fmt: skip
        state["conversation_id"] = conversation["id"]
        client.call("GET", f"/conversations/{conversation['id']}")
        client.call("GET", f"/agents/{state['agent_id']}/conversations")

    def messages(state: dict[str, Any]) -> None:
        path = f"/conversations/{state['conversation_id']}/messages"
        client.call("POST", path, expect=201, json_body={"role": "user", "content": "Where is my refund?"})
        answer = {"role": "assistant", "content": "Issued today.", "prompt_tokens": 9, "completion_tokens": 3}
        client.call("POST", path, expect=201, json_body=answer)
        page = client.call("GET", path)
        if [item["content"] for item in page["items"]] != ["Where is my refund?", "Issued today."]:
            raise FlowFailed("GET .../messages does not return the two messages in order")
        conversation = client.call("GET", f"/conversations/{state['conversation_id']}")
        if conversation["message_count"] != 2:
            raise FlowFailed(f"message_count is {conversation['message_count']} after 2 messages")

    def clean_up(state: dict[str, Any]) -> None:
        client.call("DELETE", f"/agents/{state['agent_id']}", expect=204)
        client.call("GET", f"/conversations/{state['conversation_id']}", expect=404)

    return [
        ("register", register),
        ("log in", log_in),
        ("agents", agents),
        ("conversations", conversations),
        ("messages", messages),
        ("delete an agent with its conversations", clean_up),
    ]


def run_flows(base_url: str) -> FlowsResult:
    """Every flow in order; the first failure ends the run (later flows need its results)."""
    client, result = Client(base_url), FlowsResult()
    state: dict[str, Any] = {}
    for name, flow in _flows(client):
        try:
            flow(state)
        except FlowFailed as error:
            result.steps.append(Step(name, False, str(error)))
            break
        except (KeyError, TypeError, ValueError) as error:
            result.steps.append(Step(name, False, f"unexpected answer: {type(error).__name__}: {error}"))
            break
        result.steps.append(Step(name, True))
    return result

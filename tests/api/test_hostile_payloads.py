"""Hostile payloads: text shaped like SQL, HTML, format strings, escapes and exotic Unicode is
stored and returned byte for byte (and never executed); oversized, over-deep and undecodable
bodies, and injection-shaped query strings, paths and headers are refused with a 4xx in the
one error shape, and the database is unchanged."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import ApiUser, MakeUser, error_code, unique

pytestmark = pytest.mark.anyio

INJECTION_TEXTS = [
    "'; DROP TABLE users; --",
    "1 OR 1=1",
    "Robert'); DELETE FROM agents WHERE ('1'='1",
    "<script>alert(document.cookie)</script>",
    "{{7*7}} ${7*7} %s %n %x {0}",
    "$(rm -rf /) `id` | cat /etc/passwd",
    "../../../../etc/passwd",
    "\\x00 \\u0000 \\'",  # backslash sequences as text (no real NUL)
    "line\r\nInjected-Header: yes",
    "\u202egnp.exe",  # right-to-left override
    "Zalgo: Z\u0351\u0352\u0353a\u0354\u0355l\u0356g\u0357o",
    "emoji 🚀👩‍💻 and 漢字 and ünïcödé",
    "\ufeffbyte order mark",
    "x" * 10_000,
]


async def table_counts(client: httpx.AsyncClient, admin: ApiUser) -> int:
    """The users list as a superuser sees it: a dropped or emptied table would show here."""
    response = await client.get("/api/v1/users?limit=100", headers=admin.headers)
    assert response.status_code == 200
    return len(response.json()["items"])


@pytest.mark.parametrize("text", INJECTION_TEXTS, ids=range(len(INJECTION_TEXTS)))
async def test_injection_shaped_text_comes_back_verbatim(
    client: httpx.AsyncClient, make_user: MakeUser, text: str
) -> None:
    user = await make_user()
    name = text[:100]
    agent = await client.post(
        "/api/v1/agents",
        headers=user.headers,
        json={"name": name, "model": text[:100], "system_prompt": text, "settings": {text[:50]: [text]}},
    )
    assert agent.status_code == 201, agent.text
    body = agent.json()
    read = (await client.get(f"/api/v1/agents/{body['id']}", headers=user.headers)).json()
    assert read["name"] == name
    assert read["system_prompt"] == text
    assert read["settings"] == {text[:50]: [text]}

    conversation = await client.post(
        f"/api/v1/agents/{body['id']}/conversations", headers=user.headers, json={"title": text[:200]}
    )
    assert conversation.status_code == 201, conversation.text
    cid = conversation.json()["id"]
    sent = await client.post(
        f"/api/v1/conversations/{cid}/messages", headers=user.headers, json={"role": "user", "content": text}
    )
    assert sent.status_code == 201, sent.text
    page = (await client.get(f"/api/v1/conversations/{cid}/messages", headers=user.headers)).json()
    assert [m["content"] for m in page["items"]] == [text]
    assert (await client.get(f"/api/v1/conversations/{cid}", headers=user.headers)).json()["title"] == text[
        :200
    ]


async def test_refused_payloads_change_nothing(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user, admin = await make_user(), await make_user(superuser=True)
    agent = (
        await client.post("/api/v1/agents", headers=user.headers, json={"name": unique("a"), "model": "m"})
    ).json()
    users_before = await table_counts(client, admin)
    json_headers = user.headers | {"content-type": "application/json"}
    deep = '{"name": "d", "model": "m", "settings": ' + '{"a": ' * 17 + "1" + "}" * 18
    attempts: list[tuple[str, str, dict[str, str], bytes | None, int]] = [
        ("POST", "/api/v1/agents", json_headers, deep.encode(), 422),  # 17 levels > 16
        ("POST", "/api/v1/agents", json_headers, b"[" * 100_000, 400),  # deeper than the parser
        ("POST", "/api/v1/agents", json_headers, b'{"name": "\xc3\x28", "model": "m"}', 400),  # bad UTF-8
        ("POST", "/api/v1/agents", json_headers, b'{"name": "a\\u0000", "model": "m"}', 422),  # NUL
        ("POST", "/api/v1/agents", json_headers, b"x" * 2_000_000, 413),  # over max_body_bytes
        ("POST", "/api/v1/agents", json_headers, b'{"name": "n", "model": "m", "owner_id": 1}', 422),
        ("PATCH", f"/api/v1/agents/{agent['id']}", json_headers, b'{"name": "x' + b"y" * 500 + b'"}', 422),
        ("GET", "/api/v1/agents?limit=1;DROP TABLE users", user.headers, None, 422),
        ("GET", "/api/v1/agents?cursor=' OR 1=1 --", user.headers, None, 422),
        ("GET", "/api/v1/agents/1 OR 1=1", user.headers, None, 422),
        ("GET", "/api/v1/agents/%2e%2e%2f%2e%2e%2fusers", user.headers, None, 404),
        ("GET", "/api/v1/users/me", {"Authorization": "Bearer ' OR 1=1 --"}, None, 401),
        ("GET", "/api/v1/users/me", {"Authorization": "Bearer " + "a" * 100_000}, None, 401),
        ("GET", "/api/v1/users/me", {"Authorization": "Basic YWRtaW46YWRtaW4="}, None, 401),
    ]
    for method, path, headers, content, status in attempts:
        response = await client.request(method, path, headers=headers, content=content)
        assert response.status_code == status, (method, path[:60], response.text[:300])
        error_code(response)
        assert "Traceback" not in response.text
    after = (await client.get(f"/api/v1/agents/{agent['id']}", headers=user.headers)).json()
    assert after == agent
    assert (await client.get("/api/v1/agents", headers=user.headers)).json()["items"] == [agent]
    assert await table_counts(client, admin) >= users_before


async def test_login_form_injection_is_just_a_wrong_password(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    for username, password in [
        ("' OR '1'='1", "' OR '1'='1"),
        (user.username + "' --", "anything"),
        (user.username, "' OR 1=1 --"),
        ("admin@example.com' --", "x"),
    ]:
        response = await client.post("/api/v1/auth/login", data={"username": username, "password": password})
        assert response.status_code == 401, response.text
        assert error_code(response) == "invalid_credentials"

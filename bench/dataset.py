"""A staging-sized dataset, generated set-based in seconds (no row-by-row inserts).

Shape (with the defaults): 100,000 users, one agent each, 200,000 conversations and 1,000,000
messages. The first ``hot`` users are the ones the load generators act as: user ``i`` owns
agent ``i`` and conversation ``i``, which holds ``hot_messages`` messages (so a page of 50 is
full); the other messages are spread over the remaining conversations. The schema is built by
the project's real migrations (through the runner), then filled with ``INSERT ... SELECT
generate_series`` while foreign-key triggers are off (``session_replication_role = replica``:
the rows are consistent by construction), and the counters, sequences, statistics and
visibility map are brought up to date, as on a long-lived database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

PASSWORD = "bench password 42"  # every generated user has it; nothing logs in with it in the benches


@dataclass(frozen=True)
class Shape:
    users: int = 100_000
    conversations: int = 200_000
    messages: int = 1_000_000
    hot: int = 1_000
    hot_messages: int = 100

    def __post_init__(self) -> None:
        if not 0 < self.hot <= self.users <= self.conversations:
            raise ValueError("need 0 < hot <= users <= conversations")
        if self.hot * self.hot_messages > self.messages:
            raise ValueError("messages must cover hot * hot_messages")

    @property
    def agents(self) -> int:
        return self.users


def password_hash() -> str:
    """One real Argon2 hash shared by every generated user (hashing 100k would take hours)."""
    from pwdlib import PasswordHash

    return PasswordHash.recommended().hash(PASSWORD)


def migrate(url: str) -> None:
    """The project's schema, built by its migrations through the runner."""
    from sqlalchemy import make_url

    from agent_db.commands import migrate
    from agent_db.database.target import Target
    from agent_db.settings import load_settings

    migrate.upgrade(Target(load_settings("dev"), make_url(url)))


def fill(url: str, shape: Shape, hashed_password: str) -> float:
    """Insert the rows; returns the seconds it took."""
    started = time.perf_counter()
    spread = shape.conversations - shape.hot
    hot_total = shape.hot * shape.hot_messages
    with psycopg.connect(url) as connection:
        connection.execute("SET session_replication_role = replica")
        connection.execute(
            "INSERT INTO users (id, email, username, hashed_password) "
            "SELECT g, 'user' || g || '@example.com', 'user' || g, %s FROM generate_series(1, %s) g",
            (hashed_password, shape.users),
        )
        connection.execute(
            "INSERT INTO agents (id, owner_id, name, model, system_prompt, settings) "
            "SELECT g, g, 'agent-' || g, 'gpt-4o', 'You answer briefly.', '{\"temperature\": 0.2}' "
            "FROM generate_series(1, %s) g",
            (shape.agents,),
        )
        # Conversation c belongs to agent (and user) ((c - 1) % users) + 1.
        connection.execute(
            "INSERT INTO conversations (id, agent_id, user_id, title, created_at, updated_at) "
            "SELECT g, a, a, 'conversation ' || g, now() - interval '30 days', now() - interval '30 days' "
            "FROM generate_series(1, %s) g, LATERAL (SELECT ((g - 1) %% %s) + 1 AS a) owner",
            (shape.conversations, shape.users),
        )
        connection.execute(
            "INSERT INTO messages (id, conversation_id, role, content, prompt_tokens, "
            "completion_tokens, created_at) "
            "SELECT g, CASE WHEN g <= %(hot_total)s THEN (g - 1) / %(per_hot)s + 1 "
            "ELSE %(hot)s + (g %% %(spread)s) + 1 END, "
            "(ARRAY['user', 'assistant'])[g %% 2 + 1], "
            "'message ' || g || ': ' || repeat('lorem ipsum ', 1 + g %% 12), "
            "g %% 300, g %% 200, now() - interval '30 days' + g * interval '1 millisecond' "
            "FROM generate_series(1, %(messages)s) g",
            {
                "hot_total": hot_total,
                "per_hot": shape.hot_messages,
                "hot": shape.hot,
                "spread": spread,
                "messages": shape.messages,
            },
        )
        connection.execute(
            "UPDATE conversations c SET message_count = m.n, last_message_at = m.last "
            "FROM (SELECT conversation_id, count(*) AS n, max(created_at) AS last FROM messages "
            "GROUP BY conversation_id) m WHERE m.conversation_id = c.id"
        )
        connection.execute("RESET session_replication_role")
        for table, column in (
            ("users", "id"),
            ("agents", "id"),
            ("conversations", "id"),
            ("messages", "id"),
        ):
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"(SELECT max({column}) FROM {table}))"
            )
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE, FREEZE)")
    return time.perf_counter() - started


def build(url: str, shape: Shape) -> float:
    """Migrate an empty database and fill it; returns the seconds the fill took."""
    migrate(url)
    return fill(url, shape, password_hash())


def size(url: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
    return str(row[0]) if row else "?"

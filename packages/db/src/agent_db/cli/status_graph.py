"""The revision graph of ``db.status --markdown``: the newest revisions as Mermaid, with where
each environment stands."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_db.commands.status import Status
    from agent_db.revisions.graph import RevisionGraph


GRAPH_WINDOW = 25  # revisions drawn below the newest; older history is summarised


def mermaid(status: Status, graph: RevisionGraph) -> list[str]:
    """The newest revisions as a left-to-right graph, each environment pointing at its revision."""
    order = graph.linear_order()
    shown = order[-GRAPH_WINDOW:]
    shown_set = set(shown)
    lines = ["```mermaid", "graph LR"]
    if len(order) > len(shown):
        lines.append(f'  older["... {len(order) - len(shown)} older revisions"]')
    for rev in shown:
        message = graph[rev].message.replace('"', "'")[:40]
        lines.append(f'  r{rev}["{rev[:12]}<br/>{message}"]')
        parents = graph[rev].down_revisions
        for parent in parents:
            source = f"r{parent}" if parent in shown_set else "older"
            lines.append(f"  {source} --> r{rev}")
    for env in status.environments:
        node = f"env_{env.name}"
        label = env.name if env.reachable else f"{env.name} (unreachable)"
        lines.append(f'  {node}(("{label}"))')
        for rev in env.current:
            if rev not in graph:
                lines.append(f'  u{rev}["{rev[:12]}<br/>not in this checkout"]')
                lines.append(f"  {node} -.-> u{rev}")
                continue
            target = f"r{rev}" if rev in shown_set else "older"
            lines.append(f"  {node} -.-> {target}")
    lines.append("```")
    return lines

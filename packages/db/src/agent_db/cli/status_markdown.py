"""``db.status --markdown``: a table and a Mermaid graph for a GitHub job summary."""

from __future__ import annotations

from agent_db.commands.status import EnvironmentStatus, Status
from agent_db.revisions.graph import RevisionGraph

GRAPH_WINDOW = 25  # revisions drawn below the newest; older history is summarised


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _state(env: EnvironmentStatus) -> str:
    if not env.reachable:
        return f"unreachable: {_cell(env.problem or 'unknown')}"
    if env.unknown:
        return "ahead of this code"
    return "at head" if env.at_head else f"{len(env.pending)} pending"


def _checksums(env: EnvironmentStatus) -> str:
    if env.checksums is None:
        return "-"
    if env.checksums.mismatches:
        return "MISMATCH: " + ", ".join(m.revision for m in env.checksums.mismatches)
    if env.checksums.unrecorded:
        return f"ok ({len(env.checksums.unrecorded)} unrecorded)"
    return "ok"


def _drift(env: EnvironmentStatus) -> str:
    if env.drift_problem:
        return f"not checked: {_cell(env.drift_problem)}"
    if env.drift is None:
        return "-"
    return "none" if not env.drift else f"DRIFT ({len(env.drift)}): " + _cell("; ".join(env.drift[:3]))


def _deployment(env: EnvironmentStatus) -> str:
    last = env.last_deployment
    if not last:
        return "-"
    when = (last["finished_at"] or last["started_at"])[:19].replace("T", " ")
    return (
        f"{last['direction']} {last['revision'][:12]} {last['outcome']} by {_cell(last['actor'])} at {when}"
    )


def render_markdown(status: Status, graph: RevisionGraph) -> str:
    lines = [
        "## Database environments",
        "",
        f"Head: `{', '.join(status.heads)}` ({status.revision_count} revisions)",
        "",
        "| environment | state | current | checksums | drift | last deployment |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for env in status.environments:
        name = f"{env.name} (protected)" if env.protected else env.name
        current = ", ".join(f"`{c[:12]}`" for c in env.current) or ("base" if env.reachable else "-")
        lines.append(
            f"| {name} | {_state(env)} | {current} | {_checksums(env)} | {_drift(env)} | {_deployment(env)} |"
        )
    lines += ["", *mermaid(status, graph)]
    return "\n".join(lines) + "\n"


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

"""The Dockerfile read as Docker reads it (dockerfile-parse: continuation lines joined, comments
out), one Stage per FROM, for the tests that check its targets and replay its install steps."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

from tests.support.paths import ROOT

DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]

    def env(self) -> dict[str, str]:
        """The stage's own ENV settings (``ENV A=1 B=2``), not its base's."""
        found: dict[str, str] = {}
        for value in self.values("ENV"):
            for word in shlex.split(value):
                key, _, setting = word.partition("=")
                found[key] = setting
        return found


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    found: list[Stage] = []
    for item in DockerfileParser(str(path)).structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "COMMENT":
            continue
        if instruction == "FROM":
            words = value.split()
            assert len(words) == 3, f"every stage is named: FROM {value}"
            assert words[1].upper() == "AS", f"every stage is named: FROM {value}"
            found.append(Stage(words[2], words[0]))
        else:
            assert found, f"{instruction} before the first FROM"
            found[-1].instructions.append((instruction, value))
    return found


def stage(name: str, path: Path = DOCKERFILE) -> Stage:
    by_name = {s.name: s for s in stages(path)}
    assert name in by_name, f"no stage {name}: {list(by_name)}"
    return by_name[name]


def lineage(name: str, path: Path = DOCKERFILE) -> list[Stage]:
    """The stage and the stages it is built FROM, the first ancestor first."""
    chain = [stage(name, path)]
    names = {s.name for s in stages(path)}
    while chain[0].base in names:
        chain.insert(0, stage(chain[0].base, path))
    return chain


def uv_syncs(current: Stage) -> list[list[str]]:
    """The `uv sync` command lines of the stage's RUN instructions (mounts and `&&` split off)."""
    commands = []
    for value in current.values("RUN"):
        words = [w for w in shlex.split(value) if not w.startswith("--mount=")]
        command: list[str] = []
        for word in [*words, "&&"]:
            if word == "&&":
                if command[:2] == ["uv", "sync"]:
                    commands.append(command)
                command = []
            else:
                command.append(word)
    return commands

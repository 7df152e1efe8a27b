"""README's "Command line" section names every command of the CLI, and only commands that exist.

The click tree is walked recursively (groups and their subcommands, at any depth), so a command
added later without its line in README.md fails here, as a route added without its OpenAPI entry
fails `tests/web/test_openapi.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from operator_sim.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
PROGRAM = "operator-sim"


def commands(group: click.Group, prefix: tuple[str, ...] = (PROGRAM,)) -> Iterator[str]:
    """Every visible command under `group`, as typed: "operator-sim pki issue-agent"."""
    for name, command in group.commands.items():
        path = (*prefix, name)
        if not command.hidden:
            yield " ".join(path)
        if isinstance(command, click.Group):
            yield from commands(command, path)


def named_in_readme() -> set[str]:
    """The commands the section names in code spans (`operator-sim …`)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Command line\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    return set(re.findall(rf"`({PROGRAM}(?: [a-z0-9][a-z0-9-]*)+)`", section))


def test_every_cli_command_is_in_the_readme_and_every_one_there_exists():
    cli, named = set(commands(main)), named_in_readme()
    assert f"{PROGRAM} pki issue-agent" in cli and f"{PROGRAM} serve" in cli
    assert cli - named == set(), "commands missing from README.md's Command line section"
    assert named - cli == set(), "README.md's Command line section names commands the CLI lacks"


def test_the_walk_reaches_subcommands_at_any_depth():
    @click.group()
    def root() -> None: ...

    @root.group()
    def outer() -> None: ...

    @outer.group()
    def inner() -> None: ...

    @inner.command("leaf-command")
    def leaf() -> None: ...

    @root.command(hidden=True)
    def secret() -> None: ...

    assert set(commands(root)) == {f"{PROGRAM} outer", f"{PROGRAM} outer inner",
                                   f"{PROGRAM} outer inner leaf-command"}

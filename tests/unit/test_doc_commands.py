"""Commands the docs tell a user to type exist as written: every `mlops` command line in a
shell block or inline code of README.md and docs/ parses with the real `mlops` parser (command,
sub-command, options), and every `make` target named there is in the Makefile.

This checks the command lines, not their effect (the e2e tests run the stack's commands); it
is what catches a renamed option or a removed command before a user does."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from mlops_dev.cli import build_parser

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
DOCS = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_INLINE = re.compile(r"`([^`\n]+)`")


def _shell_lines(text: str) -> list[str]:
    """Command lines of the shell blocks (continuations joined, comments dropped) and of inline
    code that starts with a command."""
    lines: list[str] = []
    for lang, body in _FENCE.findall(text):
        if lang not in ("bash", "sh", "shell", "console", ""):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line and not line.startswith("#"):
                lines.append(line.split(" #", 1)[0])
    # inline code a user copies: the project's command (prose names commands as `mlops x`)
    outside = _FENCE.sub("", text)
    lines += [m.group(1) for m in _INLINE.finditer(outside)
              if re.match(r"\.venv/bin/mlops |make [a-z]", m.group(1))]
    return lines


def _usage_to_example(line: str) -> str:
    """A usage line as a command: `[optional parts]` dropped, `<placeholders>` filled in, any
    output redirection cut."""
    line = re.sub(r"\[[^\]]*\]", " ", line)
    line = re.sub(r"<[^>]*>", "x", line)
    return re.split(r"\s>\s?", line, maxsplit=1)[0]


def _commands(line: str, program: str) -> list[list[str]]:
    """The argument lists of each `program` invocation in a line (pipes, &&, $(...) split)."""
    found = []
    for part in re.split(r"\|\||&&|\||;|\$\(|\)", _usage_to_example(line)):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        for i, word in enumerate(words):
            if word in (program, f".venv/bin/{program}"):
                # a shell expansion stands for a value of the right type: a number parses
                found.append(["1" if "$" in w else w for w in words[i + 1:]])
                break
    return found


def _doc_commands(program: str) -> list[tuple[str, list[str]]]:
    return [(f"{doc.relative_to(REPO)}: {line}", args) for doc in DOCS
            for line in _shell_lines(doc.read_text()) for args in _commands(line, program)]


MLOPS = _doc_commands("mlops")
MAKE = _doc_commands("make")


def test_the_docs_show_commands() -> None:
    assert len(MLOPS) >= 10 and len(MAKE) >= 5, (len(MLOPS), len(MAKE))


@pytest.mark.parametrize(("where", "args"), MLOPS, ids=[" ".join(w.split()) for w, _ in MLOPS])
def test_every_documented_mlops_command_parses(where: str, args: list[str]) -> None:
    args = [a for a in args if a not in ("...", "…")]
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"{where}: `mlops {' '.join(args)}` does not parse (exit {exc.code})")


def test_every_documented_make_target_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (REPO / "Makefile").read_text(), re.M))
    missing = [(where, args[0]) for where, args in MAKE
               if args and not args[0].startswith("-") and "=" not in args[0]
               and args[0] not in targets]
    assert not missing, missing


def _undocumented(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            described = {a.dest for a in action._choices_actions if a.help}
            for name, sub in action.choices.items():
                if name not in described:
                    missing.append(f"{path} {name} (the command)")
                missing += _undocumented(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_command_and_option_says_what_it_does_in_help() -> None:
    assert _undocumented(build_parser(), "mlops") == []

"""The docs tell the truth about the tree: every relative link names a real file (and heading), and every
`kapps ...` command line names a real app, action and flags."""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("*/README.md"), *ROOT.glob("*/*/README.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
INLINE = re.compile(r"`(kapps [^`]+)`")
# Synopsis placeholders: a command holding one is checked flag by flag, not parsed whole.
PLACEHOLDER = re.compile(r"<[^>]+>|\[|\]|\.\.\.|\||\$|\bN\b|\bDIR\b|\bPATH\b|\bURL\b|\bSOURCE\b|\bVALUE\b|\bHOST")


def _slug(heading):
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path):
    return {_slug(line.lstrip("#")) for line in path.read_text().splitlines() if line.startswith("#")}


def _links():
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if not re.match(r"[a-z]+:", target):
                yield doc, target


@pytest.mark.parametrize("doc,target", list(_links()), ids=lambda value: str(value).replace(str(ROOT), ""))
def test_relative_links_name_real_files_and_headings(doc, target):
    file_part, _, anchor = target.partition("#")
    path = (doc.parent / file_part).resolve() if file_part else doc
    assert path.exists(), f"{doc.relative_to(ROOT)} links to {target}, which does not exist"
    if anchor and path.suffix == ".md":
        assert anchor in _anchors(path), f"{doc.relative_to(ROOT)} links to #{anchor}, not a heading of {path.name}"


def _commands(text):
    """`(command, whole)`: the `kapps ...` lines of fenced blocks (continuation lines joined), to run as
    they are, and those named in inline code, which may leave out required arguments."""
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("kapps "):
                yield line.split(" #")[0].split(" && ")[0].strip(), True
    for command in INLINE.findall(text):
        yield command.strip(), False


def _all_commands():
    seen = set()
    for doc in DOCS:
        for command, whole in _commands(doc.read_text()):
            if command not in seen:
                seen.add(command)
                yield doc.relative_to(ROOT), command, whole


@pytest.fixture(scope="module")
def parsers():
    from apps.catalog import load_apps
    from kapps.cli import build_parser
    from serving.server import build_parser as build_serve_parser

    registry = load_apps()
    return registry, build_parser(registry), build_serve_parser()


def _subparser(parser, *names):
    for name in names:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


def _flags(tokens):
    return [token.split("=")[0] for token in tokens if token.startswith("--") and "<" not in token]


@pytest.mark.parametrize("doc,command,whole", list(_all_commands()), ids=lambda value: str(value)[:60])
def test_command_lines_name_real_apps_actions_and_flags(doc, command, whole, parsers):
    registry, kapps, serve = parsers
    from apps.cli import pop_backend
    from kapps.cli import ACTIONS

    # Synopses bracket their optional flags; shell lines may end in `&`.
    words = command.replace("[", " ").replace("]", " ").replace("'", '"').removesuffix("&")
    _, tokens = pop_backend(shlex.split(words, posix=True)[1:])
    if (
        not tokens
        or tokens[0] in ("list", "ACTION")
        or tokens[0].startswith("-")
        or any(token.endswith(":") for token in tokens[:2])
    ):
        return  # `kapps <app> predict: ...` quotes a message, not a command
    if tokens[0] not in registry.names() and not PLACEHOLDER.fullmatch(tokens[0]) and tokens[0] != "serve":
        parser = kapps
        for token in (token for token in tokens if not token.startswith("-")):
            sub = next((a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"), None)
            name = token.split("|")[0]
            if sub is None or name not in sub.choices:
                break
            parser = sub.choices[name]
        assert parser is not kapps, f"{doc}: `{command}` names no command of kapps"
        unknown = [flag for flag in _flags(tokens) if flag not in parser._option_string_actions]
        assert not unknown, f"{doc}: `{command}` names flags that {parser.prog} does not have: {unknown}"
        return
    if tokens[0] == "serve":
        known = set(serve._option_string_actions)
        unknown = [flag for flag in _flags(tokens[1:]) if flag not in known]
        assert not unknown, f"{doc}: `{command}` names serve flags that do not exist: {unknown}"
        return
    app_names = registry.names() if PLACEHOLDER.fullmatch(tokens[0]) else [tokens[0]]
    assert set(app_names) <= set(registry.names()), f"{doc}: `{command}` names no app (apps: {registry.names()})"
    actions = ACTIONS if len(tokens) < 2 or PLACEHOLDER.search(tokens[1]) else [tokens[1].split("|")[0]]
    for action in tokens[1].split("|") if len(tokens) > 1 and "|" in tokens[1] else actions:
        assert action in ACTIONS, f"{doc}: `{command}`: {action!r} is not an action ({', '.join(ACTIONS)})"
    for app_name in app_names:
        for action in actions:
            parser = _subparser(kapps, app_name, action)
            unknown = [flag for flag in _flags(tokens) if flag not in parser._option_string_actions]
            assert not unknown, f"{doc}: `{command}` names flags {app_name} {action} does not have: {unknown}"
    if whole and not PLACEHOLDER.search(command):
        try:
            kapps.parse_args(tokens)
        except SystemExit:
            pytest.fail(f"{doc}: `{command}` does not parse")

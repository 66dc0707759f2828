"""Every shell block of the docs, as a reader types it. README.md, docs/*.md and examples/*/README.md: each fenced
block in sh/bash/shell/console and each indented code block is declared by the HTML comment right before it, and
this test does what the comment says:

    <!-- docs-test: run -->                 run as typed, by bash -e, in a fresh temporary directory, with the
                                            gcevents CLI, python and pip of this venv first on PATH
    <!-- docs-test: run moto genesys -->   ... with a moto server (AWS_ENDPOINT_URL) and/or the Genesys simulator
                                            (GENESYS_API_BASE_URL, GENESYS_LOGIN_BASE_URL) standing in
    <!-- docs-test: run in=examples/X -->   ... in a copy of that folder (a user's project) instead
    <!-- docs-test: run with=myorg -->      ... with fixtures the block presumes: `myorg` (a handler package),
                                            `events.jsonl` (real-shaped events), `crm` (a webhook on 127.0.0.1:8080)
    <!-- docs-test: check -->               what cannot run here (`sam deploy`, `aws ...`, minutes-long `make`
                                            targets) is checked instead, command by command: `gcevents` argv parse
                                            with gcevents' own parser, `sam deploy` overrides name the template's
                                            parameters, `aws` operations and options exist in botocore's models,
                                            `make` targets exist in the Makefile, `python -m` modules exist and
                                            their argv parse, variable assignments are known variables that
                                            gcevents' configuration accepts
    <!-- docs-test: skip: REASON -->        nothing (keep these rare)

`; xfail: REASON` after a declaration marks a block that fails because of a known bug. `<placeholders>` a reader
fills in are replaced from PLACEHOLDERS (an unknown one fails the block). A block without a declaration, with an
unknown one, or a fence without a language (a shell block must not hide as an unlabeled one) fails. The test ids
list every block: `test_doc_block[docs/deploy.md:30]`. Run blocks are slow (subprocesses, servers); checks are
fast."""

from __future__ import annotations

import http.server
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml

from gcevents import variables
from gcevents.config import Config
from gcevents.entrypoints.cli import build_parser
from gcevents.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*/README.md"))]
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console", "zsh"})
BIN = Path(sys.executable).parent  # this venv's gcevents, python, pip
ORG_ID = "7d5c0f31-2b7e-4c8a-9a55-3f1e2d4c6b80"
GENESYS_SECRET = "gcevents-sim-secret"  # SimulatorOptions' default

# What a reader types for each <placeholder>. Queue URLs and ARNs are created (moto) or read where a block runs.
PLACEHOLDERS: dict[str, str] = {
    "<client id>": "gcevents-sim",
    "<client secret>": GENESYS_SECRET,
    "<genesys org id>": ORG_ID,
    "<org id>": ORG_ID,
    "<suffix>": "gcevents-prod",
    "<region>": "eu-west-1",
    "<account>": "123456789012",
    "<topic>": "gcevents-alarms",
    "<crm token>": "dev",
    "<GenesysClientSecretArn output>": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gcevents-genesys-AbCdEf",
    "<ArchiveArn>": "arn:aws:events:eu-west-1:123456789012:archive/gcevents",
    "<RuleArn>": "arn:aws:events:eu-west-1:123456789012:rule/gcevents",
    "<secret of 1111-aaaa>": "s1",
    "<secret of 2222-bbbb>": "s2",
    "<DeadLetterQueueUrl>": "{dlq_url}",
    "<QueueUrl>": "{queue_url}",
    "<version>": "0.1.0",
}
FIXTURE_NAMES = frozenset({"myorg", "events.jsonl", "crm"})  # what `with=` may name (FIXTURES below builds them)
PLACEHOLDER = re.compile(r"<[A-Za-z][A-Za-z0-9 _.-]*>")


# ----------------------------------------------------------------------------------------------- the blocks
@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # 1-based, the opening fence or the first indented line
    text: str
    declaration: str | None  # the text of `<!-- docs-test: ... -->` right before the block

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT).as_posix()}:{self.line}"


FENCE = re.compile(r"^(\s*)(`{3,})(\S*)\s*$")
DECLARATION = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")


def _declaration(lines: list[str], start: int) -> str | None:
    i = start - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    match = DECLARATION.match(lines[i]) if i >= 0 else None
    return match.group(1) if match else None


def blocks_of(doc: Path) -> tuple[list[Block], list[str]]:
    """The shell blocks of a Markdown file, and its problems (unlabeled fences)."""
    return _blocks_of_text(doc.read_text(), doc)


def _blocks_of_text(text: str, doc: Path) -> tuple[list[Block], list[str]]:
    lines = text.split("\n")
    found: list[Block] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence:
            indent, ticks, language = fence.groups()
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(ticks))
            if not language:
                problems.append(f"{doc.relative_to(ROOT)}:{i + 1}: a fence without a language (sh, text, ...)")
            elif language in SHELL_LANGUAGES:
                body = [line.removeprefix(indent) for line in lines[i + 1 : end]]
                if language == "console":
                    body = [line.removeprefix("$ ") for line in body if line.startswith("$ ")]
                found.append(Block(doc, i + 1, "\n".join(body) + "\n", _declaration(lines, i)))
            i = end + 1
            continue
        # An indented code block: four spaces after a blank line, outside a list (list items here indent by 2-3).
        if lines[i].startswith("    ") and lines[i].strip() and (i == 0 or not lines[i - 1].strip()):
            end = i
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            body = [line[4:] for line in lines[i:end]]
            found.append(Block(doc, i + 1, "\n".join(body).strip("\n") + "\n", _declaration(lines, i)))
            i = end
            continue
        i += 1
    return found, problems


ALL = [block for doc in DOCS for block in blocks_of(doc)[0]]


def test_every_fence_says_what_it_holds() -> None:
    problems = [problem for doc in DOCS for problem in blocks_of(doc)[1]]
    assert not problems, "\n".join(problems)


def test_the_blocks_are_found() -> None:
    """The scanner sees the blocks the docs are known to have (a broken scanner would pass every block)."""
    ids = {block.id.split(":")[0] for block in ALL}
    assert {"README.md", "docs/deploy.md", "docs/operations.md", "examples/crm-wrapup/README.md"} <= ids
    assert len(ALL) >= 20


# ----------------------------------------------------------------------------------------------- the test
@dataclass(frozen=True)
class Declaration:
    mode: str  # run | check | skip
    needs: frozenset[str]  # moto, genesys
    directory: str | None  # in=examples/crm-wrapup
    fixtures: frozenset[str]  # with=myorg,events.jsonl,crm
    reason: str  # skip's or xfail's
    xfail: bool


def parse_declaration(text: str | None) -> Declaration:
    if text is None:
        raise AssertionError("no `<!-- docs-test: run|check|skip: reason -->` right before the block")
    main, _, xfail = text.partition("; xfail:")
    if main.startswith("skip:"):
        reason = main.removeprefix("skip:").strip()
        assert reason, "a skip names its reason"
        return Declaration("skip", frozenset(), None, frozenset(), reason, False)
    mode, *words = main.split()
    assert mode in ("run", "check"), f"unknown docs-test mode {mode!r}"
    needs = frozenset(w for w in words if "=" not in w)
    assert needs <= {"moto", "genesys"}, f"unknown needs {sorted(needs - {'moto', 'genesys'})}"
    options = dict(w.split("=", 1) for w in words if "=" in w)
    assert set(options) <= {"in", "with"}, f"unknown options {sorted(options)}"
    fixtures = frozenset(options.get("with", "").split(",")) - {""}
    assert fixtures <= FIXTURE_NAMES, f"unknown fixtures {sorted(fixtures - FIXTURE_NAMES)}"
    assert mode == "run" or not (needs or options), "check takes no servers or folders"
    return Declaration(mode, needs, options.get("in"), fixtures, xfail.strip(), bool(xfail.strip()))


def _params() -> list[Any]:
    params: list[Any] = []
    for block in ALL:
        marks: list[pytest.MarkDecorator] = []
        try:
            declaration = parse_declaration(block.declaration)
        except AssertionError:
            declaration = None
        if declaration is not None and declaration.mode == "run":
            marks.append(pytest.mark.slow)
        if declaration is not None and declaration.xfail:
            marks.append(pytest.mark.xfail(reason=declaration.reason, strict=True))
        params.append(pytest.param(block, id=block.id, marks=marks))
    return params


@pytest.mark.parametrize("block", _params())
def test_doc_block(block: Block, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    declaration = parse_declaration(block.declaration)
    if declaration.mode == "skip":
        pytest.skip(declaration.reason)
    if declaration.mode == "check":
        check_block(block)
    else:
        run_block(block, declaration, request, tmp_path)


def substitute(text: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        placeholder = match.group(0)
        if placeholder not in PLACEHOLDERS:
            raise AssertionError(f"unknown placeholder {placeholder} (add it to PLACEHOLDERS)")
        return PLACEHOLDERS[placeholder].format(**values)

    return PLACEHOLDER.sub(replace, text)


# ----------------------------------------------------------------------------------------------- run
def _myorg(directory: Path, _: Any) -> None:
    package = directory / "myorg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "handlers.py").write_text(
        "from gcevents import Router\n\nrouter = Router()\n\n\n"
        '@router.on("v2.detail.events.conversation.{id}.acw")\n'
        "def on_acw(event, ctx):\n    pass\n"
    )


def _events(directory: Path, _: Any) -> None:
    from gcevents.testing import event, resend

    events = [event("acw", f"c-{n}", wrapupCode="Sale") for n in range(3)]
    lines = [*events, resend(events[0])]
    (directory / "events.jsonl").write_text("".join(f"{__import__('json').dumps(e)}\n" for e in lines))


class _Crm(http.server.BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:
        _Crm.received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _crm(_: Path, request: pytest.FixtureRequest) -> None:
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 8080), _Crm)
    except OSError:
        pytest.skip("127.0.0.1:8080, the CRM the block names, is taken")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(server.shutdown)
    request.addfinalizer(server.server_close)


FIXTURES: dict[str, Callable[[Path, pytest.FixtureRequest], None]] = {
    "myorg": _myorg,
    "events.jsonl": _events,
    "crm": _crm,
}
assert set(FIXTURES) == FIXTURE_NAMES


@pytest.fixture
def genesys_server() -> Iterator[Any]:
    from gcevents.testing.genesys import GenesysSimulator

    with GenesysSimulator() as simulator:
        yield simulator


def _copy_repository(directory: Path) -> None:
    """A fresh clone, as far as `make` can tell: the tracked files, and `.venv` this venv (already set up: the copy's
    pyproject.toml is made older than it, so `make` never reinstalls this venv from the copy)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        if (ROOT / name).is_file():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, directory / name)
    os.utime(directory / "pyproject.toml", (0, 0))
    (directory / ".venv").symlink_to(BIN.parent, target_is_directory=True)


def run_block(block: Block, declaration: Declaration, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    directory = tmp_path / "fresh"
    if declaration.directory == ".":
        _copy_repository(directory)
    elif declaration.directory:
        source = ROOT / declaration.directory
        assert source.is_dir(), f"in={declaration.directory}: no such folder"
        shutil.copytree(source, directory, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "build"))
    else:
        directory.mkdir()
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(tmp_path)),  # pip's configuration (its index) as the reader has it
        **{name: value for name, value in os.environ.items() if name.startswith("PIP_")},
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    values = {"dlq_url": "", "queue_url": ""}
    if "moto" in declaration.needs:
        endpoint = request.getfixturevalue("moto_endpoint")
        env["AWS_ENDPOINT_URL"] = endpoint
        sqs = botocore.session.get_session().create_client(
            "sqs",
            endpoint_url=endpoint,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        name = f"docs-{tmp_path.name}"[:70]
        values["queue_url"] = sqs.create_queue(QueueName=name)["QueueUrl"]
        values["dlq_url"] = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    if "genesys" in declaration.needs:
        env.update(request.getfixturevalue("genesys_server").env())
    for name in sorted(declaration.fixtures):
        FIXTURES[name](directory, request)
    script = substitute(block.text, values)
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{block.id} exited {result.returncode}\n--- block\n{script}--- stdout\n{result.stdout[-4000:]}"
        f"--- stderr\n{result.stderr[-4000:]}"
    )
    if "crm" in declaration.fixtures:
        assert _Crm.received, "the handler posted nothing to the CRM"


# ----------------------------------------------------------------------------------------------- check
def commands_of(text: str) -> list[list[str]]:
    """The simple commands of a block: continuation lines joined, comments dropped, `&&`/`;`/`|` split,
    redirections dropped; a `$(...)` substitution is a command of its own (and `$(...)` stays in the argv)."""
    joined = re.sub(r"\\\n", " ", text)
    commands: list[list[str]] = []
    for inner in re.findall(r"\$\(([^()]*)\)", joined):
        commands += commands_of(inner)
    for line in joined.splitlines():
        lexer = shlex.shlex(re.sub(r"\$\([^()]*\)", "$(...)", line), posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        tokens = list(lexer)
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token in (";", "&&", "||", "|"):
                commands.append(current) if current else None
                current = []
            elif token in (">", ">>", "<", "2>"):
                i += 1  # and its file
            else:
                current.append(token)
            i += 1
        if current:
            commands.append(current)
    return commands


def check_block(block: Block) -> None:
    text = substitute(
        block.text,
        {
            "dlq_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
            "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
        },
    )
    commands = commands_of(text)
    assert commands, "a check block with no command"
    settings: dict[str, str] = {}  # the block's GCEVENTS_*/GENESYS_* settings, bare or exported, checked together
    for argv in commands:
        settings.update(check_command(argv, block.doc.parent))
    if settings:
        Config.from_env(settings)  # raises ConfigError on a value (or a combination) gcevents refuses


ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
KNOWN = {variable.name for variable in variables.VARIABLES}


def check_command(argv: list[str], base: Path) -> dict[str, str]:
    """Checks one command; returns the gcevents settings it assigns. A name gcevents does not know is an error
    where it reaches a process's environment (`export`, `NAME=value command`); a bare `NAME=$(...)` is a shell
    variable of the block."""
    exported = argv[0] == "export"
    assignments: dict[str, str] = {}
    argv = argv[1:] if exported else argv
    while argv and (match := ASSIGNMENT.match(argv[0])):
        assignments[match.group(1)] = match.group(2)
        argv = argv[1:]
    ours = {name: value for name, value in assignments.items() if name.startswith(("GCEVENTS_", "GENESYS_"))}
    if exported or argv:
        assert set(ours) <= KNOWN, f"unknown variables {sorted(set(ours) - KNOWN)}"
    if argv:
        program = Path(argv[0]).name if argv[0].startswith(".venv/") else argv[0]
        checker = CHECKERS.get(program)
        assert checker is not None, f"no check for `{program}` (run the block, or add a checker)"
        checker([a for a in argv[1:] if a != "..."], base)
    return {name: value for name, value in ours.items() if name in KNOWN and "$(" not in value}


def _parses(parse: Callable[[list[str]], object], argv: list[str]) -> bool:
    try:
        parse(argv)
    except SystemExit as exc:
        return exc.code == 0
    return True


def _gcevents(args: list[str], _: Path) -> None:
    argv = [a for a in args if a != "$(...)"]
    assert _parses(build_parser().parse_args, argv), f"gcevents {shlex.join(args)}: does not parse"


def _make(args: list[str], _: Path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = {m.group(1) for m in re.finditer(r"^([A-Za-z][\w-]*):", makefile, flags=re.MULTILINE)}
    for target in [a for a in args if not a.startswith("-") and "=" not in a]:
        assert target in targets, f"make {target}: no such target"


def _template_parameters() -> set[str]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)  # a SafeLoader that drops !Ref, !Sub ...
    return set(template["Parameters"])


def _sam(args: list[str], _: Path) -> None:
    assert args[:1] in (["deploy"], ["build"]), f"sam {args[:1]}: not a command these docs use"
    if "--parameter-overrides" not in args:
        return
    overrides = args[args.index("--parameter-overrides") + 1 :]
    if "$(...)" in overrides:  # the planner's output, as `gcevents plan ... --format sam` prints it today
        plan = subprocess.run(
            [
                str(BIN / "gcevents"),
                "plan",
                "--rate",
                "50",
                "--peak-rate",
                "2000",
                "--duration",
                "600",
                "--format",
                "sam",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        overrides = [o for o in overrides if o != "$(...)"] + plan.stdout.split()
    names = {o.split("=", 1)[0] for o in overrides if "=" in o and not o.startswith("-")}
    unknown = names - _template_parameters()
    assert not unknown, f"sam deploy overrides parameters template.yaml does not have: {sorted(unknown)}"


AWS_GLOBAL = {"--query", "--output", "--region", "--profile", "--endpoint-url", "--no-cli-pager", "--debug"}
AWS_CUSTOM = {("lambda", "publish-layer-version"): {"--zip-file"}}  # awscli's own options beside the API's


def _aws(args: list[str], _: Path) -> None:
    from botocore import xform_name

    service, operation, *options = args
    session = botocore.session.get_session()
    assert service in session.get_available_services(), f"aws {service}: no such service"
    model = session.get_service_model(service)
    names = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in names, f"aws {service} {operation}: no such operation"
    shape = model.operation_model(names[operation]).input_shape
    allowed = {f"--{xform_name(member, '-')}" for member in (shape.members if shape else {})}
    allowed |= AWS_GLOBAL | AWS_CUSTOM.get((service, operation), set())
    given = {option for option in options if option.startswith("--")}
    assert given <= allowed, f"aws {service} {operation}: unknown options {sorted(given - allowed)}"


def _python(args: list[str], _: Path) -> None:
    assert args[:1] == ["-m"], f"python {shlex.join(args)}: only `python -m MODULE` is checked"
    module, *rest = args[1:]
    assert importlib.util.find_spec(module) is not None, f"python -m {module}: no such module"
    parse = MODULE_PARSERS.get(module)
    if parse is not None:
        assert _parses(parse, rest), f"python -m {module} {shlex.join(rest)}: does not parse"


def _bench_run(argv: list[str]) -> None:
    from bench import run

    run._parser(run.Params()).parse_args(argv)


def _bench_budget(argv: list[str]) -> None:
    from bench import budget

    budget.parse(argv)


def _bench_profile(argv: list[str]) -> None:
    assert len(argv) == 2, "python -m bench.profile FILE CPU_MS_PER_EVENT"
    assert float(argv[1]) > 0, "python -m bench.profile FILE CPU_MS_PER_EVENT"


MODULE_PARSERS: dict[str, Callable[[list[str]], None]] = {
    "bench.run": _bench_run,
    "bench.budget": _bench_budget,
    "bench.profile": _bench_profile,
}


def _cp(args: list[str], base: Path) -> None:
    *sources, _ = args
    for source in sources:
        assert (base / source).exists(), f"cp {source}: no such file (from {base.relative_to(ROOT)})"


def _echo(args: list[str], _: Path) -> None:
    pass


CHECKERS: dict[str, Callable[[list[str], Path], None]] = {
    "gcevents": _gcevents,
    "make": _make,
    "sam": _sam,
    "aws": _aws,
    "python": _python,
    "cp": _cp,
    "echo": _echo,
}


# ----------------------------------------------------------------------------------------------- the checks check
def test_a_check_fails_on_what_does_not_exist() -> None:
    """The checkers are not vacuous: a wrong parameter, operation, target, option or value fails."""
    wrong = [
        "sam deploy --parameter-overrides NoSuchParameter=1",
        "aws secretsmanager put-secret --secret-id x",
        "aws secretsmanager put-secret-value --secret x",
        "make no-such-target",
        "gcevents plan --no-such-option",
        "python -m bench.run --no-such-option",
        "GCEVENTS_NO_SUCH=1 gcevents topics",
        "GCEVENTS_CLAIM_MODE=sometimes gcevents topics",
        "cp ../../no-such-file .",
        "terraform apply",
    ]
    for command in wrong:
        with pytest.raises((AssertionError, ConfigError)):
            check_block(Block(ROOT / "examples" / "crm-wrapup" / "README.md", 1, command + "\n", "check"))


def test_commands_split_as_bash_would() -> None:
    text = (
        "echo 'x' >> requirements.txt   # a comment\nsam build && sam deploy ...\nA=$(gcevents topics) b \\\n  --c d\n"
    )
    assert commands_of(text) == [
        ["gcevents", "topics"],  # a substitution first: it runs before its command
        ["echo", "x"],
        ["sam", "build"],
        ["sam", "deploy", "..."],
        ["A=$(...)", "b", "--c", "d"],
    ]


def test_a_block_without_a_declaration_fails() -> None:
    with pytest.raises(AssertionError, match="no `<!-- docs-test"):
        parse_declaration(None)
    with pytest.raises(AssertionError, match="unknown docs-test mode"):
        parse_declaration("runs")


def test_the_scanner_finds_fenced_listed_indented_and_console_blocks() -> None:
    doc = ROOT / "docs" / "scanner-sample.md"  # a name for the ids; never written
    text = (
        "Intro\n\n<!-- docs-test: run -->\n```sh\ngcevents topics\n```\n\n"
        "1. In a list:\n\n   <!-- docs-test: check -->\n   ```bash\n   make test\n   ```\n\n"
        "Indented:\n\n<!-- docs-test: check -->\n\n    make demo\n\n"
        "```console\n$ gcevents --help\nusage: gcevents\n```\n\n```\nno language\n```\n\n```python\nx = 1\n```\n"
    )
    found, problems = _blocks_of_text(text, doc)
    assert [(b.text, b.declaration) for b in found] == [
        ("gcevents topics\n", "run"),
        ("make test\n", "check"),
        ("make demo\n", "check"),
        ("gcevents --help\n", None),  # a console block: the commands, not their output; undeclared here
    ]
    assert len(problems) == 1
    assert "without a language" in problems[0]

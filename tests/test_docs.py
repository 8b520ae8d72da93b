"""The docs run as written (issue 16): every code block of README.md and
docs/*.md (not the ADRs) is executed, in order, against a real server.

A reader's session is reproduced: a fresh directory with the project's venv
linked in as ``.venv`` and on PATH, where the README's own shell lines mint
the dev PKI and start ``dpa-registry serve`` (a fresh SQLite database under
``var/``). Each page's blocks run in order: ```python blocks in one
namespace per page (a reader pasting them into one interpreter), and
```sh / ```bash / ```console blocks with ``bash -e`` in that directory.
```json and ```toml blocks must parse; ```text blocks are prose.

Each guide continues the README's session and starts from the state the
README leaves: a copy of the README's directory (certificates, database,
files) with the README's server command started again on it, and a copy of
the README's Python names. So no guide depends on another.

The only rewriting: the documented port 50051 becomes a free port (other
servers may hold 50051), and HOME is a directory of the run.

A block that cannot run by nature carries a visible marker right before its
fence, ``<!-- docs-test: skip (why) -->``; a server that runs until stopped,
``<!-- docs-test: background (why) -->`` (started, waited for, stopped at the
end). Indented code blocks and fences without a language are refused, so no
code hides from this test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import harness

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"python": "python", "sh": "sh", "bash": "sh", "console": "console"}
DATA = {"json", "toml", "text"}
MARK = re.compile(r"^<!--\s*docs-test:\s*(skip|background)\s*\((.+)\)\s*-->$")
FENCE = re.compile(r"^( *)```(\S*)\s*$")
DOC_PORT = "50051"
BLOCK_SECONDS = 300
"""A block that blocks this long fails (generous: the machine may be loaded)."""


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    """1-based line of the first line of code (after the fence)."""
    lang: str
    code: str
    mark: str = ""
    """"", "skip" or "background"."""
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse(page: Path) -> list[Block]:
    """The page's fenced blocks, in order; refuses code the test could not see."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence is None:
            if re.match(r"^ {4,}\S", line) and i > 0 and not lines[i - 1].strip():
                problems.append(f"{page.name}:{i + 1}: indented code block; fence it")
            i += 1
            continue
        indent, lang = len(fence.group(1)), fence.group(2)
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            problems.append(f"{page.name}:{i + 1}: unclosed fence")
            break
        if lang not in RUN and lang not in DATA:
            problems.append(f"{page.name}:{i + 1}: fence language {lang!r} is not one of "
                            f"{sorted(RUN) + sorted(DATA)}")  # fmt: skip
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.match(prev.strip())
        blocks.append(
            Block(
                page,
                start + 1,
                lang,
                "\n".join(ln[indent:] for ln in lines[start:end]) + "\n",
                mark.group(1) if mark else "",
                mark.group(2) if mark else "",
            )
        )
        i = end + 1
    assert not problems, "\n".join(problems)
    return blocks


def test_every_page_parses_and_marks_are_visible() -> None:
    """Each page's code is fenced with a known language; markers name a reason."""
    for page in PAGES:
        for block in parse(page):
            if block.mark:
                assert block.reason.strip(), f"{block.where}: a marker needs a reason"
                assert block.lang in RUN, f"{block.where}: marker on a {block.lang} block"


class Session:
    """The reader's directory, environment and background server."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = harness.free_port()
        (directory / ".venv").symlink_to(Path(sys.prefix))
        (directory / "home").mkdir()
        self.background: list[subprocess.Popen[bytes]] = []
        self.background_blocks: list[Block] = []

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DPA_", "OTEL_"))}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["HOME"] = str(self.dir / "home")
        env["DPA_LISTEN"] = f"127.0.0.1:{self.port}"
        return env

    def fork(self, source: Path, directory: Path) -> None:
        """Continues in a copy of ``source``, its servers restarted on the copy."""
        self.stop()
        shutil.copytree(source, directory, symlinks=True)
        self.dir = directory
        os.chdir(directory)
        for block in self.background_blocks:
            self.start_background(block, remember=False)

    def localise(self, code: str) -> str:
        return re.sub(rf"\b(localhost|127\.0\.0\.1):{DOC_PORT}\b", rf"\1:{self.port}", code)

    def shell(self, block: Block) -> str:
        code = self.localise(block.code)
        if block.lang == "console":  # only the `$ ` lines are commands
            code = "\n".join(
                ln[2:] for ln in code.splitlines() if ln.startswith("$ ")
            )  # fmt: skip
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", code],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=BLOCK_SECONDS,
            check=False,
        )
        assert result.returncode == 0, (
            f"{block.where}: exit {result.returncode}\n{code}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        return result.stdout

    def start_background(self, block: Block, *, remember: bool = True) -> None:
        if remember:
            self.background_blocks.append(block)
        log = (self.dir / f"background-{len(self.background)}.log").open("wb")
        proc = subprocess.Popen(
            ["bash", "-e", "-c", self.localise(block.code)],
            cwd=self.dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.background.append(proc)
        self._wait_serving(proc, block, Path(log.name))

    def _wait_serving(self, proc: subprocess.Popen[bytes], block: Block, log: Path) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        from dpa_client import RegistryClient

        certs = self.dir / "certs"
        client = RegistryClient(
            f"localhost:{self.port}",
            ca=certs / "ca.crt",
            cert=certs / "staff-admin.crt",
            key=certs / "staff-admin.key",
        )
        deadline = time.monotonic() + 60
        try:
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"{block.where}: exited\n{log.read_text()}")
                try:
                    health_pb2_grpc.HealthStub(client.channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=5
                    )
                    return
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        finally:
            client.close()

    def stop(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.background = []


def run_python(block: Block, namespace: dict[str, object], session: Session) -> str:
    source = "\n" * (block.line - 1) + session.localise(block.code)
    out = io.StringIO()

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {BLOCK_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(BLOCK_SECONDS)
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(source, str(block.page), "exec"), namespace)
        except BaseException as err:
            raise AssertionError(f"{block.where}: {type(err).__name__}: {err}") from err
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    return out.getvalue()


def run_page(page: Path, namespace: dict[str, object], session: Session) -> dict[str, int]:
    counts = {"run": 0, "skip": 0, "background": 0, "data": 0}
    for block in parse(page):
        if block.mark == "skip":
            counts["skip"] += 1
        elif block.mark == "background":
            session.start_background(block)
            counts["background"] += 1
        elif block.lang in RUN:
            if block.lang == "python":
                out = run_python(block, namespace, session)
            else:
                out = session.shell(block)
            print(f"--- {block.where}\n{out}", end="")  # shown with pytest -s
            counts["run"] += 1
        else:
            if block.lang == "json":
                json.loads(block.code)
            elif block.lang == "toml":
                tomllib.loads(block.code)
            counts["data"] += 1
    return counts


def reconnect(namespace: dict[str, object]) -> None:
    """Waits until the session's clients reach the restarted server."""
    import grpc

    from dpa_client import RegistryClient

    for value in namespace.values():
        if isinstance(value, RegistryClient):
            grpc.channel_ready_future(value.channel).result(timeout=60)


def close_clients(namespaces: list[dict[str, object]]) -> None:
    from dpa_client import RegistryClient

    for namespace in namespaces:
        for value in namespace.values():
            if isinstance(value, RegistryClient):
                value.close()


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    (tmp_path / "README").mkdir()
    s = Session(tmp_path / "README")
    monkeypatch.chdir(s.dir)
    try:
        yield s
    finally:
        s.stop()


def test_docs_run_as_written(session: Session) -> None:
    """README first (it sets up the state), then each guide, in one session."""
    assert shutil.which("bash"), "bash is needed to run the docs' shell lines"
    readme: dict[str, object] = {"__name__": "__docs__"}
    report: list[str] = []
    readme_dir = session.dir
    namespaces = []
    try:
        for page in PAGES:
            if page.name == "README.md":
                namespace = readme
            else:
                session.fork(readme_dir, readme_dir.parent / page.stem)
                namespace = dict(readme)
                reconnect(namespace)
            namespaces.append(namespace)
            counts = run_page(page, namespace, session)
            report.append(
                f"{page.relative_to(ROOT)}: {counts['run']} run, {counts['skip']} skipped "
                f"(marked), {counts['background']} background, {counts['data']} data"
            )
    finally:
        close_clients(namespaces)
    print("\n".join(report))


PATH_REF = re.compile(r"(?<![\w~/.-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|json|proto|toml|yaml))\b")
CODE_REF = re.compile(r"`((?:registry|dpa_client)(?:\.\w+)+)")
NOT_CODE = {"registry.requests"}
"""Names in backticks that look like code but are not: a logger name."""


def resolve(dotted: str) -> object:
    """The module or attribute a dotted name refers to, imported."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            found = getattr(found, attr)
        return found
    raise ModuleNotFoundError(dotted)


def test_cited_files_and_names_exist() -> None:
    """A file path or a Python name a page cites is in the repository."""
    missing: list[str] = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in PATH_REF.finditer(text):
            if not (ROOT / m.group(1)).exists():
                missing.append(f"{page.name}: file {m.group(1)}")
        for m in CODE_REF.finditer(text):
            if m.group(1) in NOT_CODE:
                continue
            try:
                resolve(m.group(1))
            except (ImportError, AttributeError):
                missing.append(f"{page.name}: name {m.group(1)}")
    assert not missing, "\n".join(missing)


def test_collector_refuses_hidden_code(tmp_path: Path) -> None:
    """Unfenced code, a fence without a language and an unknown one are refused;
    a marker is read from the line before the fence."""
    page = tmp_path / "page.md"
    for text, problem in (
        ("Run:\n\n    make run\n", "indented code block"),
        ("```\nmake run\n```\n", "fence language ''"),
        ("```ruby\nputs 1\n```\n", "fence language 'ruby'"),
        ("```sh\nmake run\n", "unclosed fence"),
    ):
        page.write_text(text)
        with pytest.raises(AssertionError, match=problem):
            parse(page)
    page.write_text("<!-- docs-test: skip (serves forever) -->\n```sh\nmake run\n```\n\n"
                    "- item\n\n  ```python\n  x = 1\n  ```\n")  # fmt: skip
    skipped, indented = parse(page)
    assert (skipped.mark, skipped.reason, skipped.code) == ("skip", "serves forever", "make run\n")
    assert (indented.mark, indented.lang, indented.code) == ("", "python", "x = 1\n")

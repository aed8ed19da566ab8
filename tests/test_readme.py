"""The README's console examples print what the README shows, to the character.

Every ```console block of README.md is a transcript: each `$ screener …` line
followed by output lines is run from a scratch directory that holds the
checkout's `examples/` and `docs/` (so outputs it writes land there), at the
default width (80: not a terminal, no $COLUMNS) and without colour; its stdout
then its stderr must be exactly the lines shown. Only the timing at the end of
a batch summary ("0.1 s, 47 patients/s") is compared as a pattern, since no
two runs take the same time. Commands shown without output, and other
programs (pip, curl), are not run. Excerpts and files are in ```text blocks,
which are not transcripts.

After a deliberate change to the report or the knowledge (the knowledge
version is part of every report), rewrite the outputs with
`SCREENER_UPDATE_README=1 python -m pytest tests/test_readme.py` and read the
diff before committing it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from screener.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
UPDATE_ENV = "SCREENER_UPDATE_README"
TIMING = re.compile(r"\d+(?:\.\d+)? s, [\d,]+ patients/s\.$")
BLOCK = re.compile(r"^```console\n(.*?)^```$", re.S | re.M)


def transcripts(text: str) -> list[tuple[int, str, list[str]]]:
    """(line number, command, output lines) for each `$ screener …` with output in the console blocks."""
    found = []
    for block in BLOCK.finditer(text):
        first = text[:block.start(1)].count("\n") + 1
        lines = block.group(1).splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            command = lines[i][2:].split("  #")[0].strip()
            j = i + 1
            while command.endswith("\\") and j < len(lines):  # a command continued on the next line
                command = command[:-1].rstrip() + " " + lines[j].strip()
                j += 1
            start = j
            while j < len(lines) and not lines[j].startswith("$ "):
                j += 1
            if command.startswith("screener ") and j > start:
                found.append((first + i, command, lines[start:j]))
            i = j
    return found


def run(command: str, cwd: Path) -> list[str]:
    """What `command` prints (stdout, then stderr), run in-process from `cwd`."""
    args = shlex.split(command)[1:]
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, args, env={"COLUMNS": None, "NO_COLOR": None, "SCREENER_DATA": None})
    finally:
        os.chdir(previous)
    return (result.stdout + result.stderr).splitlines()


def same(shown: list[str], printed: list[str]) -> bool:
    if len(shown) != len(printed):
        return False
    return all(a == b or (TIMING.search(a) and TIMING.sub("", a) == TIMING.sub("", b)) for a, b in zip(shown, printed))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("readme")
    for name in ("examples", "docs"):
        shutil.copytree(ROOT / name, where / name)
    return where


EXAMPLES = transcripts(README.read_text(encoding="utf-8"))


def test_the_readme_has_transcripts_to_check():
    commands = [command for _, command, _ in EXAMPLES]
    assert any(c.startswith("screener check ") for c in commands)
    assert any(c.startswith("screener batch ") for c in commands)


@pytest.mark.parametrize("line, command, shown", EXAMPLES, ids=[f"README.md:{n}" for n, _, _ in EXAMPLES])
def test_a_readme_example_prints_what_the_readme_shows(scratch, line, command, shown):
    if re.search(r"\.(svg|png)\b|-f (svg|png)", command) and shutil.which("dot") is None:
        pytest.skip("needs Graphviz's dot")
    printed = run(command, scratch)
    if os.environ.get(UPDATE_ENV) and not same(shown, printed):
        text = README.read_text(encoding="utf-8").split("\n")
        start = line  # the output starts on the line after the command (line numbers are 1-based)
        assert text[line - 1].startswith(f"$ {command}")
        text[start:start + len(shown)] = printed
        README.write_text("\n".join(text), encoding="utf-8")
        pytest.skip("README.md rewritten: run the tests again")
    assert same(shown, printed), (f"README.md:{line}: `{command}` prints\n" + "\n".join(printed)
                                  + "\n(see the module docstring to update it)")

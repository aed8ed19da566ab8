"""The text report at the counter: sized to the terminal, short by default, colour and symbols the console can
show, and display options that never change the status or the exit code.

The golden files under tests/golden/ are the exact default report of one long screen at 80 and 120 columns
(the knowledge version stands as {knowledge_version}). After a deliberate change to the report or the
bundled knowledge, rewrite them with `SCREENER_UPDATE_GOLDEN=1 python -m pytest tests/test_text_display.py`
and read the diff before committing it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import screener
from screener.cli import cli, output
from screener.formats import Display
from screener.formats.text_format import SourceList, fit, render_report, split_sources

GOLDEN = Path(__file__).parent / "golden"
UPDATE_ENV = "SCREENER_UPDATE_GOLDEN"
LONG = ["check", "Soma 350 mg qid", "Norco", "Xanax", "xyzzymab", "-c", "pregnancy"]
"""A long screen: four major findings, a moderate one, eleven counselling points, an unrecognised input."""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def golden(name: str, text: str) -> None:
    """Compare `text` with tests/golden/`name` (or rewrite the file when $SCREENER_UPDATE_GOLDEN is set)."""
    path = GOLDEN / name
    if os.environ.get(UPDATE_ENV):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs: see the module docstring to update it"


@pytest.mark.parametrize("width", [80, 120])
def test_the_default_report_is_golden_at_80_and_120_columns(runner, kb, width):
    result = runner.invoke(cli, [*LONG, "--width", str(width)])
    assert result.exit_code == 1
    golden(f"check-soma-norco-xanax-w{width}.txt", result.stdout.replace(kb.version, "{knowledge_version}"))
    lines = result.stdout.splitlines()
    assert all(len(line) <= width or " " not in line.strip() for line in lines)  # but an unbreakable address
    # Everything but the list of sources fits a 50-row terminal; the whole report was 232 rows at 80 columns.
    assert lines.index("SOURCES") < 50 and len(lines) < 100


def test_the_width_comes_from_columns_then_80(runner):
    default = runner.invoke(cli, LONG)
    assert default.stdout == runner.invoke(cli, [*LONG, "--width", "80"]).stdout  # not a terminal, no $COLUMNS
    wide = runner.invoke(cli, LONG, env={"COLUMNS": "120"})
    assert wide.stdout == runner.invoke(cli, [*LONG, "--width", "120"]).stdout
    assert runner.invoke(cli, LONG, env={"COLUMNS": "wide"}).stdout == default.stdout  # not a number: ignored
    too_narrow = runner.invoke(cli, [*LONG, "--width", "20"])
    assert too_narrow.exit_code == 2 and "20 is not in the range x>=40" in too_narrow.stderr


def test_each_finding_takes_three_lines_and_each_counselling_point_one(runner, kb):
    report = kb.screen(["Soma 350 mg qid", "Norco", "Xanax"], conditions=["pregnancy"])
    text = render_report(report)
    heads = [i for i, line in enumerate(text.splitlines()) if line.startswith("  ● ")]
    assert len(heads) == len(report.findings)
    lines = text.splitlines()
    for finding, i in zip(report.findings, heads, strict=True):
        assert lines[i].startswith(f"  ● {finding.kind.value} · {finding.title} [")
        assert lines[i + 1].startswith("    ") and lines[i + 2].startswith("    Do: ")
        assert not lines[i + 3].startswith("    ")  # the next finding, a blank line, or the next section
    counsel = lines[lines.index("COUNSEL THE PATIENT (one line each; --counsel for the full text)") + 1:]
    assert [line.startswith("  - ") for line in counsel[:len(report.counselling)]] == [True] * len(report.counselling)
    assert counsel[len(report.counselling)] == ""


def test_details_and_counsel_show_everything_the_short_form_leaves_out(runner, kb):
    report = kb.screen(["Soma 350 mg qid", "Norco", "Xanax"])
    short = render_report(report)
    details = render_report(report, display=Display(details=True))
    counsel = render_report(report, display=Display(counsel=True))
    flat = " ".join(details.split())
    for finding in report.findings:
        for text in (finding.summary, finding.mechanism, finding.advice, finding.plain):
            assert " ".join(text.split()) in flat
        assert f"Rule: {finding.rule_id} (" in flat
    for point in report.counselling:
        assert " ".join(point.text.split()) in " ".join(counsel.split())
        assert " ".join(point.text.split()) not in " ".join(short.split()) or len(point.text) < 40
    assert "Why:" not in short and "Path:" not in short and "Why:" in details
    # The sources are the same list, with the same numbers, in every form.
    assert short[short.index("\nSOURCES\n"):].split("\n\nMore:")[0] == details[details.index("\nSOURCES\n"):]


def test_display_options_never_change_the_status_line_or_the_exit_code(runner):
    base = runner.invoke(cli, LONG)
    for extra in (["--details"], ["--counsel"], ["--width", "200"], ["--color"], ["--no-color"]):
        result = runner.invoke(cli, [*LONG, *extra])
        assert (result.exit_code, result.stderr) == (base.exit_code, base.stderr), extra
        assert 'NOT RECOGNISED OR NOT CHECKED: this screen is incomplete\n  ? "xyzzymab" (medication)' \
            in ANSI.sub("", result.stdout), extra


def test_what_makes_a_screen_incomplete_is_never_shortened(runner):
    # A not-covered medication's whole line, at the narrowest width, in the default form.
    result = runner.invoke(cli, ["check", "Soma", "lisinopril", "--width", "40"])
    assert result.exit_code == 3
    block = result.stdout.split("NOT RECOGNISED OR NOT CHECKED: this screen is incomplete\n")[1].split("\n\n")[0]
    assert " ".join(block.split()) == ('? "lisinopril" (medication): lisinopril is a recognised FDA substance, but '
                                       "this knowledge base does not classify it: its interactions were not checked")
    assert "…" not in block


def test_a_source_cited_at_several_sections_is_listed_once_with_them_all():
    sources = SourceList()
    first = sources.cite(["SOMA label §5.1, §7.1 (DailyMed setid x, rev 5/2023); Wang 2019 (p; q)"])
    second = sources.cite(["SOMA label §2, §10 (DailyMed setid x, rev 5/2023)", "Wang 2019 (p; q)"])
    assert first == [(1, "§5.1, §7.1"), (2, "")]
    assert second == [(1, "§2, §10"), (2, "")]
    assert sources.entries() == [(1, "SOMA label §2, §5.1, §7.1, §10 (DailyMed setid x, rev 5/2023)"),
                                 (2, "Wang 2019 (p; q)")]
    assert split_sources("A (x; y); B [c; d]; C") == ["A (x; y)", "B [c; d]", "C"]


def test_the_long_screen_lists_its_label_once(runner):
    result = runner.invoke(cli, ["check", "Soma 350 mg qid", "Norco", "Xanax"])
    assert result.stdout.count("6297cf20-830a-11dc-94c8-0002a5d5c51b") == 1  # seven times before


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.sampled_from("ab cd, ef; §1.2 …"), max_size=120), width=st.integers(1, 60))
def test_fit_keeps_to_the_width_and_says_when_it_cut(text, width):
    out = fit(text, width)
    normal = " ".join(text.split())
    if len(normal) <= width:
        assert out == normal
    else:
        assert out.endswith("…") and (len(out) <= width or " " not in normal[1:width])
        assert normal.startswith(out[:-1].rstrip(" ,;:."))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(width=st.integers(40, 160))
def test_no_line_is_wider_than_asked_except_an_unbreakable_word(kb, width):
    report = kb.screen(["Soma 350 mg qid", "Norco", "Xanax", "alcohol"], conditions=["cirrhosis"], age=70)
    for details in (False, True):
        for line in render_report(report, display=Display(width=width, details=details)).splitlines():
            assert len(line) <= width or max(map(len, line.split())) > width - 16, line


def test_color_flags_win_and_no_color_is_honoured(runner, monkeypatch):
    coloured = runner.invoke(cli, [*LONG, "--color"])
    assert ANSI.search(coloured.stdout)
    assert ANSI.search(runner.invoke(cli, [*LONG, "--color"], env={"NO_COLOR": "1"}).stdout)  # the flag wins
    assert not ANSI.search(runner.invoke(cli, [*LONG, "--no-color"]).stdout)
    assert not ANSI.search(runner.invoke(cli, LONG).stdout)  # not a terminal
    assert ANSI.search(runner.invoke(cli, ["explain", "Soma", "--color"]).stdout)
    # The same text once the styles are taken off, and the same status.
    plain = runner.invoke(cli, LONG)
    assert (ANSI.sub("", coloured.stdout), coloured.stderr, coloured.exit_code) == \
        (plain.stdout, plain.stderr, plain.exit_code)
    # On a terminal: colour, unless $NO_COLOR is set (to anything but "").
    monkeypatch.setattr(output, "_isatty", lambda stream: True)
    ctx = click.Context(cli)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert output.use_color(ctx) is True
    monkeypatch.setenv("NO_COLOR", "")
    assert output.use_color(ctx) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert output.use_color(ctx) is False
    assert output.use_color(ctx, True) is True


def _run(args, **env):
    return subprocess.run([sys.executable, "-m", "screener", *args], capture_output=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env})


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"PYTHONIOENCODING": "cp1252"},
                                 {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}])
def test_a_console_that_cannot_print_the_symbols_gets_ascii_ones(env):
    result = _run(["check", "Soma 350 mg qid", "Xanax", "-c", "pregnancy"], **env)
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1, err
    assert "Traceback" not in err and "Error" not in err
    encoding = env.get("PYTHONIOENCODING", "ascii")
    out = result.stdout.decode(encoding)
    assert "  * drug-drug - carisoprodol + alprazolam [" in out or "  * drug-drug · carisoprodol + alprazolam [" in out
    assert '"Soma 350 mg qid" -> carisoprodol' in out
    explain = _run(["explain", "alprazolam"], **env)
    assert explain.returncode == 0 and explain.stderr == b""
    assert b"alprazolam -> benzodiazepines" in explain.stdout
    assert (b"sec. 5.1" if encoding == "ascii" else "§5.1".encode(encoding)) in explain.stdout


def test_binary_pictures_refuse_a_terminal_in_one_line(tmp_path):
    pty = pytest.importorskip("pty")
    primary, secondary = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "screener", "graph", "carisoprodol", "-f", "png"],
                                stdout=secondary, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    finally:
        os.close(secondary)
        os.close(primary)
    assert result.returncode == 2
    assert result.stderr.decode() == ("Error: --format png is binary and stdout is a terminal: write it to a file "
                                      "with -o FILE (or redirect stdout)\n")


def test_the_library_default_is_the_short_form_at_80(kb):
    report = screener.screen(["Soma", "Xanax"], knowledge=kb)
    assert render_report(report) == render_report(report, display=Display(width=80))

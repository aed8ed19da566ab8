"""One error path: a crash, Ctrl-C or a failed write is one line and its own exit code, never 1 (findings)."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import screener.api
import screener.validate
from screener import cli as cli_package
from screener.cli import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BOOM = "screener: internal error: RuntimeError: boom (please report this; SCREENER_DEBUG=1 shows the traceback)\n"


def raiser(exc: BaseException):
    def fail(*args, **kwargs):
        raise exc
    return fail


@pytest.fixture
def crash(monkeypatch):
    """Make loading the knowledge (which every command but data validate does) raise `exc`."""
    def make(exc: BaseException):
        monkeypatch.setattr(screener.api, "default_knowledge", raiser(exc))
        monkeypatch.setattr(screener.validate, "validate", raiser(exc))
    return make


COMMANDS = [["check", "Soma"], ["explain", "Soma"], ["graph", "Soma"], ["batch", str(EXAMPLES / "patients.csv")],
            ["serve"], ["data", "info"], ["data", "validate"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]).split("/")[0].strip())
def test_an_unexpected_exception_is_one_line_and_exit_4(runner, crash, args):
    crash(RuntimeError("boom"))
    result = runner.invoke(cli, args)
    assert (result.exit_code, result.stdout, result.stderr) == (EXIT_INTERNAL, "", BOOM)


def test_the_message_stays_on_one_line(runner, crash):
    crash(ValueError("first line\n  second line\n"))
    result = runner.invoke(cli, ["check", "Soma"])
    assert result.stderr == ("screener: internal error: ValueError: first line second line (please report this; "
                             "SCREENER_DEBUG=1 shows the traceback)\n")
    crash(KeyError())
    assert runner.invoke(cli, ["check", "Soma"]).stderr == ("screener: internal error: KeyError (please report this; "
                                                            "SCREENER_DEBUG=1 shows the traceback)\n")


def test_screener_debug_adds_the_traceback_and_keeps_the_exit_code(runner, crash, monkeypatch):
    crash(RuntimeError("boom"))
    monkeypatch.setenv("SCREENER_DEBUG", "1")
    result = runner.invoke(cli, ["check", "Soma"])
    assert result.exit_code == EXIT_INTERNAL
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert result.stderr.endswith("RuntimeError: boom\n" + BOOM)


def test_ctrl_c_exits_130(runner, crash):
    crash(KeyboardInterrupt())
    result = runner.invoke(cli, ["check", "Soma"])
    assert (result.exit_code, result.stdout, result.stderr) == (EXIT_INTERRUPTED, "", "screener: interrupted\n")


def test_ctrl_c_while_the_process_is_set_up_exits_130(monkeypatch, capsys):
    from screener.batch import process_setup

    monkeypatch.setattr(process_setup, "prepare", raiser(KeyboardInterrupt()))
    monkeypatch.setattr(sys, "argv", ["screener", "batch", "x.csv"])
    with pytest.raises(SystemExit) as exited:
        cli_package.main()
    assert exited.value.code == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "screener: interrupted\n"


def test_without_standalone_mode_the_code_is_returned(crash):
    crash(RuntimeError("boom"))
    assert cli.main(["check", "Soma"], standalone_mode=False, prog_name="screener") == EXIT_INTERNAL


def test_the_other_codes_are_unchanged(runner, tmp_path):
    assert runner.invoke(cli, ["check", "Soma", "Xanax"]).exit_code == 1
    assert runner.invoke(cli, ["check", "gabapentin"]).exit_code == 0
    assert runner.invoke(cli, ["check", "ibuprofen"]).exit_code == 3  # recognised, not covered
    assert runner.invoke(cli, ["check", "xyzzymab"]).exit_code == 3
    assert runner.invoke(cli, ["check", "--no-such-option"]).exit_code == EXIT_USAGE
    assert runner.invoke(cli, ["check", "Soma", "--knowledge", str(tmp_path / "nope")]).exit_code == EXIT_USAGE
    assert runner.invoke(cli, ["explain", "xyzzymab"]).exit_code == 1


class FullDevice(io.StringIO):
    """A text stream whose writes fail as on a full disk."""

    def write(self, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_report_that_cannot_be_written_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", FullDevice())
    with pytest.raises(SystemExit) as exited:
        cli.main(["check", "Soma", "Xanax", "-f", "json"], prog_name="screener")
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err == "screener: cannot write the report: No space left on device\n"


def run(args, **streams) -> subprocess.CompletedProcess:
    streams.setdefault("stdout", subprocess.PIPE)
    streams.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "screener", *args], text=True, timeout=120, **streams)


full_device = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


@full_device
@pytest.mark.parametrize("args, what", [(["check", "Soma", "Xanax", "-f", "json"], "the report"),
                                        (["batch", str(EXAMPLES / "patients.csv")], "the output"),
                                        (["graph", "Soma"], "the picture")])
def test_writing_to_a_full_device_is_one_line_without_a_traceback(args, what):
    with open("/dev/full", "w") as full:
        proc = run(args, stdout=full)
    assert (proc.returncode, proc.stderr) == (EXIT_USAGE, f"screener: cannot write {what}: No space left on device\n")


@full_device
def test_a_summary_that_cannot_be_written_does_not_change_the_exit_code():
    with open("/dev/full", "w") as full:
        proc = run(["check", "Soma", "Xanax"], stderr=full)
    assert proc.returncode == 1
    assert "carisoprodol + alprazolam" in proc.stdout


@pytest.mark.parametrize("args", [["check", "Soma", "Xanax"], ["batch", str(EXAMPLES / "patients.csv")]])
def test_a_closed_pipe_exits_141_quietly(args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: the first write gets EPIPE
    try:
        proc = run(args, stdout=write_end)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (EXIT_BROKEN_PIPE, "")


def test_two_different_ages_are_refused_not_one_chosen():
    from click.testing import CliRunner

    from screener.cli import cli

    result = CliRunner().invoke(cli, ["check", "Soma", "--age", "70", "--age", "71"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == ("Error: --age is given 2 times with different values (70, 71); "
                                              "give the patient's age once")
    assert CliRunner().invoke(cli, ["check", "Soma", "--age", "70", "--age", "70"]).exit_code == 1


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_age_is_refused_not_read_as_no_age(blank):
    # `--age "$AGE"` with AGE unset would otherwise skip every age rule (codeine under 12, carisoprodol over 65).
    from click.testing import CliRunner

    from screener.cli import cli

    result = CliRunner().invoke(cli, ["check", "Soma", "--age", blank])
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        2, "Error: Invalid value for '--age': the age given is blank; give the patient's age in years, "
           "or leave --age out")


def test_a_usage_error_is_one_line():
    from click.testing import CliRunner

    from screener.cli import cli

    for args, message in ((["check", "Soma", "--nosuch"], "Error: No such option '--nosuch'."),
                          (["batch", "x.csv", "-o", "out.xlsx"], "Error: cannot write 'out.xlsx': '.xlsx' is not an "
                           "output format; name the file with one of .csv, .csv.gz, .parquet, .pq, .jsonl, .ndjson, "
                           ".jsonl.gz, .ndjson.gz (or give --output-format)")):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert result.stderr == message + "\n"
    # A group without a command still shows its help.
    shown = CliRunner().invoke(cli, ["data"]).output
    assert shown.startswith("Usage: ") and " data [OPTIONS] COMMAND [ARGS]..." in shown.splitlines()[0]

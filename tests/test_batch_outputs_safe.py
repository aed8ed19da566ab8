"""Batch outputs never destroy an input and never look complete when the run was not (issue 14, point 2)."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time

import pytest

from screener.cli import cli

PATIENTS = "patient_id,medications\n1,Soma 350 mg qid; Xanax\n2,Norco\n"


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "in.csv").write_text(PATIENTS, encoding="utf-8")
    return tmp_path


def _leftovers(folder):
    """Outputs under their temporary names, and folders of workers' blocks (`batch._spooled`), left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial")
                  or p.name.startswith(".screener-blocks-"))


@pytest.mark.parametrize("output", ["in.csv", "./in.csv", "link.csv"])
def test_an_output_that_is_the_input_is_refused_before_anything_is_written(runner, folder, output, monkeypatch):
    monkeypatch.chdir(folder)
    os.symlink("in.csv", "link.csv")
    result = runner.invoke(cli, ["batch", "in.csv", "-o", output])
    assert result.exit_code == 2
    assert f"the output {output} is the input in.csv: it would be overwritten while it is read" in result.stderr
    assert (folder / "in.csv").read_text(encoding="utf-8") == PATIENTS


@pytest.mark.parametrize("patients", ["same.csv", "./same.csv", "sub/../same.csv"])
def test_two_outputs_that_are_one_file_are_refused_before_it_exists(runner, folder, patients, monkeypatch):
    # Not there yet, by two paths: both would be written under one temporary name and the findings lost.
    monkeypatch.chdir(folder)
    (folder / "sub").mkdir()
    result = runner.invoke(cli, ["batch", "in.csv", "-o", "same.csv", "--patients", patients])
    assert result.exit_code == 2
    assert "-o and --patients name the same file; give two files" in result.stderr
    assert not (folder / "same.csv").exists() and _leftovers(folder) == []


def test_a_failed_run_leaves_no_output_and_keeps_an_older_one(runner, folder):
    (folder / "bad.csv").write_text("patient_id,medications,age\n1,Soma,34\n2,Soma,old\n", encoding="utf-8")
    (folder / "f.csv").write_text("an older run\n", encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(folder / "bad.csv"), "-o", str(folder / "f.csv"), "--patients",
                                 str(folder / "p.csv"), "--strict"])
    assert result.exit_code == 2
    assert (folder / "f.csv").read_text(encoding="utf-8") == "an older run\n"
    assert not (folder / "p.csv").exists() and _leftovers(folder) == []


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_gzip_input_is_one_line_and_exit_2(runner, folder, damage):
    packed = gzip.compress(PATIENTS.encode() * 5000)
    data = packed[: len(packed) // 2] if damage == "truncated" else packed[:40] + b"\x00" * 64 + packed[104:]
    (folder / "in.csv.gz").write_bytes(data)
    result = runner.invoke(cli, ["batch", str(folder / "in.csv.gz"), "-o", str(folder / "f.csv")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {folder / 'in.csv.gz'}: ") and result.stderr.count("\n") == 1
    assert not (folder / "f.csv").exists() and _leftovers(folder) == []


def test_a_link_output_keeps_the_link_and_a_device_is_written_through(runner, folder):
    (folder / "target.csv").write_text("old\n", encoding="utf-8")
    os.symlink(folder / "target.csv", folder / "link.csv")
    result = runner.invoke(cli, ["batch", str(folder / "in.csv"), "-o", str(folder / "link.csv"),
                                 "--patients", os.devnull])
    assert result.exit_code == 0, result.output
    assert (folder / "link.csv").is_symlink()
    assert (folder / "target.csv").read_text(encoding="utf-8").startswith('"patient_id","kind"')
    assert not os.path.isfile(os.devnull) and _leftovers(folder) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_exits_with_the_signal_code_and_leaves_no_output(folder, sig, code):
    rows = "".join(f"{i},Soma 350 mg qid; Xanax; Norco\n" for i in range(400_000))
    (folder / "big.csv").write_text("patient_id,medications\n" + rows, encoding="utf-8")
    # As at a terminal: a shell starts a background job with SIGINT ignored, and Python keeps an inherited
    # SIG_IGN (so Ctrl-C never reaches the run); the test must not depend on how it was itself started.
    proc = subprocess.Popen([sys.executable, "-m", "screener", "batch", str(folder / "big.csv"), "-o",
                             str(folder / "f.csv"), "--patients", str(folder / "p.csv"), "--progress"],
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Wait until the run is under way (its first progress line), then interrupt it.
    assert proc.stderr is not None
    proc.stderr.read(1)
    time.sleep(0.5)
    proc.send_signal(sig)
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == code, stderr
    assert "no output was written" in stderr and "Traceback" not in stderr
    assert not (folder / "f.csv").exists() and not (folder / "p.csv").exists() and _leftovers(folder) == []


def _children(pid: int) -> list[int]:
    """The process ids of `pid`'s children (from /proc: every Linux this runs on has it)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers through /proc")
@pytest.mark.parametrize("layout", ["patients", "claims"])
def test_a_worker_killed_mid_run_ends_the_run_with_one_line_and_no_output(folder, layout):
    # The pool starts another worker in place of one that dies, and its block was lost: the run waited for it
    # for ever, with its outputs half written under temporary names.
    if layout == "patients":
        rows = "".join(f"{i},Soma 350 mg qid; Xanax; Norco {i % 97} mg\n" for i in range(300_000))
        (folder / "big.csv").write_text("patient_id,medications\n" + rows, encoding="utf-8")
    else:
        rows = "".join(f"m{i % 60_000},Soma 350 mg,2024-01-{1 + i % 28:02d},30,{90 + i % 7}\n" for i in range(300_000))
        (folder / "big.csv").write_text("patient_id,drug,fill_date,days_supply,quantity\n" + rows, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "screener", "batch", str(folder / "big.csv"), "-o",
                             str(folder / "f.csv"), "--patients", str(folder / "p.csv"), "--block-size", "1",
                             "--jobs", "2"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers, "the run started no worker"
    os.kill(workers[0], signal.SIGKILL)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 2, stderr
    assert "a worker process of this run ended before it gave its result" in stderr, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not (folder / "f.csv").exists() and not (folder / "p.csv").exists() and _leftovers(folder) == []

"""Optional extras explain themselves: a feature whose package is missing says which `pip install
'screener[…]'` brings it, in one line, exit 2; the base install runs check, explain and data validate.

Each case runs in a fresh interpreter where the extras' packages cannot be imported (`sys.modules[name] = None`
makes `import name` fail as if it were not installed), so the packages this test environment has do not hide
a missing hint.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from screener.errors import MissingExtraError
from screener.extras import EXTRAS, extra_for_name, require

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "docs" / "fhir-example-bundle.json"
EXTRA_PACKAGES = ["fhir", "fhir.resources", "fastapi", "starlette", "uvicorn", "dask", "distributed", "pandera"]
"""What the base install does not have (pandera is no longer used at all, and stays blocked to show it)."""


def base_install(*args: str, blocked=EXTRA_PACKAGES) -> subprocess.CompletedProcess:
    """`screener ARGS` in a process where none of `blocked` can be imported."""
    code = ("import sys\n"
            f"for name in {list(blocked)!r}:\n"
            "    sys.modules[name] = None\n"
            "from screener.cli import main\n"
            f"sys.argv = ['screener', *{list(args)!r}]\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


@pytest.mark.parametrize("args, message", [
    (["check", "--fhir", str(BUNDLE)],
     "screener: reading a FHIR Bundle (check --fhir) needs fhir.resources, which is not installed: "
     "pip install 'screener[fhir]'\n"),
    (["serve"],
     "screener: the CDS Hooks service (screener serve) needs uvicorn, which is not installed: "
     "pip install 'screener[service]'\n"),
    (["batch", str(ROOT / "examples" / "patients.csv"), "--engine", "dask"],
     "Error: batch --engine dask needs dask, which is not installed: pip install 'screener[dask]'\n"),
])
def test_a_missing_extra_is_named_in_one_line_with_exit_2(args, message):
    result = base_install(*args)
    assert (result.returncode, result.stderr) == (2, message)
    assert result.stdout == ""


def test_the_base_install_runs_check_explain_and_data_validate():
    check = base_install("check", "Soma 350 mg qid", "Xanax", "-c", "pregnancy")
    assert check.returncode == 1 and check.stderr == "screener: 2 findings (1 major, 1 moderate).\n"
    assert base_install("check", "Soma", "Xanax", "-f", "fhir").returncode == 1  # FHIR out needs no extra
    explain = base_install("explain", "lisinopril")
    assert explain.returncode == 0, explain.stderr
    assert "coverage: not covered: this knowledge base does not classify it" in explain.stdout
    validate = base_install("data", "validate")
    assert validate.returncode == 0 and validate.stderr.endswith(" is valid.\n"), validate.stderr
    # pandas is not needed for it either.
    assert base_install("data", "validate", blocked=[*EXTRA_PACKAGES, "pandas"]).returncode == 0


def test_an_import_error_from_anywhere_names_its_extra():
    # A package of an extra imported on a path that does not ask for it by name still gets the hint.
    code = ("import sys\nsys.modules['fhir'] = None\n"
            "import screener.cli as c\n"
            "try:\n    import fhir.resources\nexcept ImportError as e:\n    sys.exit(c.failure_exit_code(e))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert (result.returncode, result.stderr) == (2, "screener: this command needs fhir.resources, which is not "
                                                     "installed: pip install 'screener[fhir]'\n")


def test_every_extra_named_is_declared_in_pyproject(monkeypatch):
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra, _ in EXTRAS.values():
        assert extra in declared
    assert extra_for_name("json", "x") is None
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError,
                       match=r"^x needs distributed, which is not installed: pip install 'screener\[dask\]'$"):
        require("distributed", "x")

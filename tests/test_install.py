"""Build the wheel, install it into a fresh virtual environment, and run `screener` from outside the checkout.

This catches packaging mistakes an editable install hides: the knowledge CSVs
missing from the wheel, a module left out, a broken console script. Slow
(it installs click, networkx and pandas from the package index): skip locally
with `-m 'not slow'`.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE_CSVS = (
    "concepts.csv",
    "relations.csv",
    "interactions.csv",
    "conditions.csv",
    "dosing.csv",
    "counselling.csv",
)
BUILT_TABLES = ("vocabulary/manifest.json", "ndc/manifest.json", "icd10cm/manifest.json", "icd10cm/codes.tsv.gz")
"""Built tables the wheel must carry (their manifests, and the ICD-10-CM table itself)."""


def run(args, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("timeout", 300)
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from the checkout."""
    out = tmp_path_factory.mktemp("dist")
    if importlib.util.find_spec("build") is not None:
        ok(run([sys.executable, "-m", "build", "--wheel", "--outdir", out, REPO], cwd=out))
    else:
        ok(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, REPO], cwd=out))
    (built,) = out.glob("screener-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh virtual environment with the wheel (and its dependencies) installed; returns its bin dir."""
    root = tmp_path_factory.mktemp("venv") / "env"
    ok(run([sys.executable, "-m", "venv", root]))
    bin_dir = root / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    ok(run([python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", wheel], cwd=root))
    return bin_dir


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The environment for running the installed screener: own cache, nothing from the checkout."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    environ["SCREENER_CACHE_DIR"] = str(tmp_path / "cache")
    return environ


def test_wheel_carries_the_knowledge_files(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for csv_name in KNOWLEDGE_CSVS:
            member = f"screener/data/{csv_name}"
            assert member in names, f"{member} missing from {wheel.name}"
            assert archive.read(member) == (REPO / "data" / csv_name).read_bytes()
        for table in BUILT_TABLES:
            member = f"screener/data/{table}"
            assert member in names, f"{member} missing from {wheel.name}"
            assert archive.read(member) == (REPO / "data" / table).read_bytes()
        static = REPO / "src" / "screener" / "web" / "static"
        for path in sorted(p for p in static.rglob("*") if p.is_file()):
            member = "screener/web/" + path.relative_to(static.parent).as_posix()
            assert member in names, f"{member} missing from {wheel.name}"  # the page and /docs need no CDN
            assert archive.read(member) == path.read_bytes()
    assert "screener/__init__.py" in names
    assert "screener/knowledge/loader.py" in names
    assert "screener/cli/__init__.py" in names and "screener/cli/check.py" in names
    assert not any(name.startswith(("tests/", "data/", "src/")) for name in names), sorted(names)


def test_installed_check_runs_outside_the_checkout(venv, tmp_path, env):
    proc = run(
        [venv / "screener", "check", "Soma 350 mg qid", "Xanax", "--condition", "pregnancy"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "carisoprodol + alprazolam" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("screener: ")
    assert list((tmp_path / "cache").glob("index-*.pickle")), "the compiled index is cached"

    # Second run: from the cache, same answer.
    again = run(
        [venv / "screener", "check", "Soma 350 mg qid", "Xanax", "--condition", "pregnancy"],
        cwd=tmp_path,
        env=env,
    )
    assert (again.returncode, again.stdout) == (1, proc.stdout)


def test_the_base_install_validates_and_names_each_missing_extra(venv, tmp_path, env):
    # What the README's quick start installs: no extras. validate runs; FHIR in and the service say what to install.
    validate = run([venv / "screener", "data", "validate"], cwd=tmp_path, env=env)
    assert validate.returncode == 0 and validate.stderr.endswith(" is valid.\n"), validate.stderr
    fhir = run([venv / "screener", "check", "--fhir", REPO / "docs" / "fhir-example-bundle.json"], cwd=tmp_path, env=env)
    assert (fhir.returncode, fhir.stderr) == (2, "screener: reading a FHIR Bundle (check --fhir) needs fhir.resources, "
                                                 "which is not installed: pip install 'screener[fhir]'\n")
    serve = run([venv / "screener", "serve"], cwd=tmp_path, env=env)
    assert serve.returncode == 2 and serve.stderr.endswith("pip install 'screener[service]'\n"), serve.stderr


def test_installed_package_is_the_wheel_not_the_checkout(venv, tmp_path, env):
    code = "import screener, screener.paths as k; print(screener.__file__); print(k.bundled_data_dir())"
    proc = ok(run([venv / "python", "-c", code], cwd=tmp_path, env=env))
    module_file, data_dir = (Path(line) for line in proc.stdout.splitlines())
    assert REPO not in module_file.parents, module_file
    assert REPO not in data_dir.parents, data_dir
    assert data_dir.name == "data" and data_dir.parent == module_file.parent
    assert (data_dir / "concepts.csv").is_file()


def test_python_m_screener_version(venv, tmp_path, env):
    from screener import __version__

    proc = ok(run([venv / "python", "-m", "screener", "--version"], cwd=tmp_path, env=env))
    assert proc.stdout.strip() == f"screener, version {__version__}"


def test_installed_icd10cm_table_is_looked_up_without_its_build_dependency(venv, tmp_path, env):
    code = ("import sys; from screener.icd10cm import load_icd10cm; from screener.paths import bundled_data_dir; "
            "icd = load_icd10cm(str(bundled_data_dir())); c = icd.get('E119'); print(c.code, c.title); "
            "print('simple_icd_10_cm' in sys.modules)")
    proc = ok(run([venv / "python", "-c", code], cwd=tmp_path, env=env))
    assert proc.stdout.splitlines() == ["E11.9 Type 2 diabetes mellitus without complications", "False"]

"""The on-disk caches cannot run someone else's code, are keyed by the compiler's code, prune
themselves, check the expanded vocabulary, and never turn an unusable directory into a traceback.

Each test points SCREENER_CACHE_DIR at a temporary directory of its own.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import screener
from conftest import TINY, write_knowledge
from screener import paths
from screener.knowledge import cache, content_key
from screener.knowledge.index import Index
from screener.model import Severity
from screener.paths import bundled_data_dir
from screener.vocabulary import EXPANDED, STAMP, VOCABULARY_DIR, Vocabulary, load_vocabulary, prepare

POSIX = hasattr(os, "getuid")
posix_only = pytest.mark.skipif(not POSIX, reason="ownership and mode checks are POSIX-only")
CHECK = ["check", "Zestril 10 mg", "Soma", "Xanax"]
"""Zestril is known only to the FDA vocabulary; Soma + Xanax is a major finding (exit 1)."""


@pytest.fixture
def cache_home(tmp_path, monkeypatch) -> Path:
    """An empty cache directory of this test's own, and a fresh 'one note per process' allowance."""
    home = tmp_path / "cache"
    monkeypatch.setenv("SCREENER_CACHE_DIR", str(home))
    monkeypatch.setattr(paths, "_noted", False)
    return home


def bundled_slot() -> Path:
    """The file load_knowledge() reads for the bundled knowledge, named the way the code names it."""
    directory = bundled_data_dir()
    return paths.cache_dir() / cache.slot(content_key(directory), directory)


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("screener: note:")]


def env_with_cache(directory) -> dict:
    return {**os.environ, "SCREENER_CACHE_DIR": str(directory), "PYTHONPATH": str(Path(screener.__file__).parents[1])}


def run_cli(args: list[str], cache_directory, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "screener", *args], env=env_with_cache(cache_directory),
                          capture_output=True, text=True, **kwargs)


# --- a planted pickle cannot run code -------------------------------------------------------------


class _Shell:
    """Pickles as a call of `function(*args)`: what an attacker would plant."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def plant(path: Path, payload) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    path.chmod(0o600)  # passes the ownership checks: only the unpickler stands in the way


@pytest.mark.parametrize("make_payload", [
    lambda marker: _Shell(os.system, f"touch {marker}"),
    lambda marker: _Shell(eval, f"open({str(marker)!r}, 'w').close()"),
    lambda marker: {"nested": [1, _Shell(os.system, f"touch {marker}")]},
], ids=["os.system", "builtins.eval", "nested"])
def test_a_planted_pickle_in_the_slot_runs_nothing_and_is_replaced(cache_home, tmp_path, make_payload):
    marker = tmp_path / "PWNED"
    slot = bundled_slot()
    plant(slot, make_payload(marker))
    planted = slot.read_bytes()

    knowledge = screener.load_knowledge()

    assert not marker.exists(), "the planted pickle ran"
    report = screener.screen(["Soma", "Xanax"], knowledge=knowledge)
    assert any(f.severity is Severity.MAJOR for f in report.findings)
    assert slot.read_bytes() != planted, "the untrusted file was rebuilt over"
    assert isinstance(cache.read(slot.name), Index)


def load_with_safe_unpickler(data: bytes):
    import io

    return cache.SafeUnpickler(io.BytesIO(data)).load()


@pytest.mark.parametrize("payload", [
    _Shell(os.system, "true"),
    _Shell(eval, "1"),
    _Shell(getattr, "x", "upper"),
    _Shell(paths.cache_dir),  # a function of screener's own: still a function
    _Shell(Path, "/etc/passwd"),  # a harmless class, but not screener's
])
def test_the_unpickler_refuses_every_callable_but_plain_classes(payload):
    with pytest.raises(pickle.UnpicklingError):
        load_with_safe_unpickler(pickle.dumps(payload))


@pytest.mark.parametrize("module, name", [
    ("screener.api", "Path"),  # a foreign class re-exported by a screener module
    ("screener.paths", "os.system"),  # a dotted walk from a screener module to anything
    ("screener.__main__", "main"),  # importing it would run the command line
    ("screener", "load_knowledge"),
    ("builtins", "eval"),
    ("builtins", "getattr"),
    ("os", "system"),
])
def test_find_class_refuses_names_that_reach_beyond_plain_data(module, name):
    with pytest.raises(pickle.UnpicklingError):
        cache.SafeUnpickler(__import__("io").BytesIO(b"")).find_class(module, name)


@pytest.fixture
def fake_screener_module(monkeypatch):
    """A module named like one in screener (e.g. the coming screener.rules) with assorted classes."""
    module = types.ModuleType("screener._cache_test_classes")
    module.ran = []
    monkeypatch.setitem(sys.modules, module.__name__, module)

    def define(cls):
        cls.__module__, cls.__qualname__ = module.__name__, cls.__name__
        setattr(module, cls.__name__, cls)
        return cls

    @define
    @dataclasses.dataclass(frozen=True, slots=True)
    class Plain:
        a: str
        b: tuple = ()

    @define
    @dataclasses.dataclass
    class PostInit:
        a: str

        def __post_init__(self):
            module.ran.append(self.a)

    @define
    @dataclasses.dataclass(init=False)
    class HandInit:
        a: str

        def __init__(self, a):
            raise AssertionError("ran")

    @define
    @dataclasses.dataclass
    class Reduces:
        a: str

        def __reduce__(self):
            return (print, ("ran",))

    @define
    @dataclasses.dataclass
    class SetsState:
        a: str

        def __setstate__(self, state):
            raise AssertionError("ran")

    @define
    class Kind(str, enum.Enum):
        X = "x"

    @define
    class Missing(str, enum.Enum):
        X = "x"

        @classmethod
        def _missing_(cls, value):
            raise AssertionError("ran")

    @define
    class NotADataclass:
        pass

    return module


def test_the_allow_list_is_a_rule_not_a_list_of_names(fake_screener_module):
    allowed = {name for name in ("Plain", "PostInit", "HandInit", "Reduces", "SetsState", "Kind", "Missing",
                                 "NotADataclass")
               if cache.plain_class(getattr(fake_screener_module, name))}
    assert allowed == {"Plain", "Kind"}
    # The classes the real index holds pass the same rule.
    assert cache.plain_class(Index) and cache.plain_class(Severity)
    from screener.knowledge.index import CompiledRule
    from screener.model import Counselling, FindingKind

    assert all(cache.plain_class(c) for c in (CompiledRule, Counselling, FindingKind))


def test_a_new_screener_dataclass_round_trips_and_a_forbidden_one_does_not(fake_screener_module):
    value = {"rule": fake_screener_module.Plain("a", (frozenset({1}), {2})), "kind": fake_screener_module.Kind.X}
    assert load_with_safe_unpickler(pickle.dumps(value, protocol=2)) == value  # protocol 2: frozenset by name
    data = pickle.dumps(fake_screener_module.PostInit("made here"))
    with pytest.raises(pickle.UnpicklingError):
        load_with_safe_unpickler(data)
    assert fake_screener_module.ran == ["made here"], "__post_init__ ran only when the test built it"
    assert pickle.loads(data) == fake_screener_module.PostInit("made here")  # plain pickle would accept it


def test_the_real_index_round_trips_through_the_allow_list(kb):
    again = load_with_safe_unpickler(pickle.dumps(kb.index, protocol=pickle.HIGHEST_PROTOCOL))
    assert isinstance(again, Index)
    assert again.rules == kb.index.rules and again.families == kb.index.families and again.counselling == kb.index.counselling


def test_a_warm_cache_is_read_back(cache_home):
    screener.load_knowledge()
    assert isinstance(cache.read(bundled_slot().name), Index), "a cache miss on every run would be silent"


# --- ownership and permissions --------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o222])
def test_the_cache_directory_is_created_0700_and_files_0600(cache_home, umask):
    previous = os.umask(umask)  # whatever the umask, the directory ends up exactly 0700
    try:
        screener.load_knowledge()
    finally:
        os.umask(previous)
    assert cache_home.stat().st_mode & 0o777 == 0o700
    if umask & 0o200:
        return  # the umask also strips the owner's write bit from the file: fine, it is never rewritten in place
    assert bundled_slot().stat().st_mode & 0o777 == 0o600


@posix_only
@pytest.mark.parametrize("target, mode", [("directory", 0o777), ("directory", 0o770), ("file", 0o666),
                                          ("file", 0o620)])
def test_a_cache_writable_by_others_is_ignored_with_one_note(cache_home, capsys, target, mode):
    screener.load_knowledge()
    slot = bundled_slot()
    (cache_home if target == "directory" else slot).chmod(mode)
    capsys.readouterr()

    assert cache.read(slot.name) is None
    knowledge = screener.load_knowledge()  # compiled in memory, still right
    assert any(f.severity is Severity.MAJOR for f in knowledge.screen(["Soma", "Xanax"]).findings)

    err = capsys.readouterr().err
    assert notes(err) == list(err.splitlines()), "nothing but the note"
    assert len(notes(err)) == 1
    assert str(cache_home) in err and "writable by other users" in err


@posix_only
def test_a_cache_owned_by_someone_else_is_ignored(cache_home, capsys, monkeypatch):
    screener.load_knowledge()
    capsys.readouterr()
    monkeypatch.setattr(os, "getuid", lambda: os.stat(cache_home).st_uid + 1)
    assert cache.read(bundled_slot().name) is None
    screener.load_knowledge()
    assert len(notes(capsys.readouterr().err)) == 1


def test_a_trusted_cache_prints_nothing(cache_home, capsys):
    screener.load_knowledge()
    screener.load_knowledge()
    assert capsys.readouterr().err == ""


@posix_only
def test_a_symlinked_slot_is_not_followed(cache_home, tmp_path):
    screener.load_knowledge()
    slot = bundled_slot()
    real = tmp_path / "elsewhere.pickle"
    shutil.move(slot, real)
    slot.symlink_to(real)
    assert cache.read(slot.name) is None


# --- an unusable cache directory: rebuild in memory, one note, no traceback -----------------------


def unusable_directories(tmp_path) -> dict[str, Path]:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # a team-wide or world-writable cache directory
    found = {"under a regular file": blocker / "cache", "shared": shared}
    if Path("/proc/self").exists():
        found["under /proc"] = Path("/proc/nope/screener")
    return found


@pytest.fixture(scope="module")
def normal_output(tmp_path_factory):
    """What `screener check CHECK` prints with a working cache."""
    proc = run_cli(CHECK, tmp_path_factory.mktemp("working-cache"))
    assert proc.returncode == 1, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("where", ["under a regular file", "under /proc", pytest.param("shared", marks=posix_only)])
def test_an_unwritable_cache_directory_means_in_memory_with_one_note(tmp_path, where, normal_output):
    directories = unusable_directories(tmp_path)
    if where not in directories:
        pytest.skip("no /proc here")
    proc = run_cli(CHECK, directories[where])
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == normal_output
    assert 'medication "Zestril 10 mg" → lisinopril' in proc.stdout  # found in the FDA vocabulary, in memory
    assert len(notes(proc.stderr)) == 1, proc.stderr
    assert f"not using the cache directory {directories[where]}" in proc.stderr
    if where == "shared":
        assert not any(directories[where].iterdir()), "nothing is written where others could swap it"


@pytest.mark.skipif(importlib.util.find_spec("resource") is None, reason="needs resource.setrlimit")
def test_a_full_disk_means_in_memory_with_one_note_and_no_leftovers(tmp_path, normal_output):
    import resource
    import signal

    def small_files():
        # Writes beyond 64 KiB fail with EFBIG, as on a full disk (the index is ~150 KiB, names.tsv ~10 MB).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    home = tmp_path / "cache"
    proc = run_cli(CHECK, home, preexec_fn=small_files)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == normal_output
    assert len(notes(proc.stderr)) == 1, proc.stderr
    assert "cannot be written" in proc.stderr
    left = sorted(p.name for p in home.rglob("*") if p.is_file())
    assert left == [], f"temporary files left behind: {left}"


# --- the expanded vocabulary ----------------------------------------------------------------------


@pytest.fixture
def vocabulary_dir() -> Path:
    return bundled_data_dir() / VOCABULARY_DIR


def manifest_hash(directory: Path) -> str:
    return json.loads((directory / "manifest.json").read_text(encoding="utf-8"))["sha256"]


def flip_a_byte(path: Path, restore_mtime: bool) -> bytes:
    """Change one byte in the middle of `path`, keeping its size; return the original bytes."""
    before = path.stat()
    data = path.read_bytes()
    middle = len(data) // 2
    with open(path, "r+b") as handle:
        handle.seek(middle)
        handle.write(b"Z" if data[middle:middle + 1] != b"Z" else b"Y")
    if restore_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == before.st_size
    return data


def test_expanded_vocabulary_is_private_and_stamped(cache_home, vocabulary_dir):
    names, uniis, prepared = prepare(vocabulary_dir, manifest_hash(vocabulary_dir))
    assert prepared is not None and [names, uniis] == [prepared / n for n in EXPANDED]
    assert prepared.stat().st_mode & 0o777 == 0o700 and cache_home.stat().st_mode & 0o777 == 0o700
    for name in (*EXPANDED, STAMP):
        assert (prepared / name).stat().st_mode & 0o777 == 0o600
    assert manifest_hash(vocabulary_dir) in (prepared / STAMP).read_text()


def test_a_tampered_expanded_file_is_detected_and_re_expanded(cache_home, vocabulary_dir):
    sha = manifest_hash(vocabulary_dir)
    names, _, _prepared = prepare(vocabulary_dir, sha)
    original = flip_a_byte(names, restore_mtime=False)

    prepare(vocabulary_dir, sha)
    assert names.read_bytes() == original
    assert Vocabulary(vocabulary_dir).lookup("lisinopril") is not None


def test_a_same_size_edit_with_the_mtime_restored_is_not_detected(cache_home, vocabulary_dir):
    """The threat model: only the owner can write in the 0700 directory, so the stamp catches accidents,
    not an owner who forges an mtime (hashing 13 MB on every check to catch that would cost ~17 ms)."""
    sha = manifest_hash(vocabulary_dir)
    names, _, _ = prepare(vocabulary_dir, sha)
    original = flip_a_byte(names, restore_mtime=True)
    prepare(vocabulary_dir, sha)
    assert names.read_bytes() != original


def test_expanded_files_without_a_stamp_are_verified_not_re_expanded(cache_home, vocabulary_dir):
    sha = manifest_hash(vocabulary_dir)
    names, _, prepared = prepare(vocabulary_dir, sha)
    (prepared / STAMP).unlink()  # as left by a screener before stamps
    inode = names.stat().st_ino
    prepare(vocabulary_dir, sha)
    assert names.stat().st_ino == inode and (prepared / STAMP).exists()


@posix_only
def test_a_vocabulary_directory_writable_by_others_is_not_used(cache_home, vocabulary_dir, capsys):
    sha = manifest_hash(vocabulary_dir)
    _, _, prepared = prepare(vocabulary_dir, sha)
    prepared.chmod(0o777)
    names, _uniis, where = prepare(vocabulary_dir, sha)
    assert where is None and isinstance(names, bytes)
    err = capsys.readouterr().err
    assert len(notes(err)) == 1 and "FDA vocabulary is expanded in memory" in err


def test_the_vocabulary_works_from_memory(cache_home, vocabulary_dir, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SCREENER_CACHE_DIR", str(blocker / "cache"))
    vocabulary = Vocabulary(vocabulary_dir)
    entry = vocabulary.lookup("lisinopril")
    assert entry is not None and vocabulary.display(entry.ingredients[0][0]) is not None
    assert "zestril" in vocabulary.suggestion_names()


def test_gzip_files_that_do_not_match_the_manifest_are_not_used(cache_home, tmp_path, capsys):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(bundled_data_dir() / VOCABULARY_DIR, knowledge / VOCABULARY_DIR)
    manifest = knowledge / VOCABULARY_DIR / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(screener.KnowledgeError, match="manifest"):
        Vocabulary(knowledge / VOCABULARY_DIR)
    assert load_vocabulary(str(knowledge)) is None
    assert "FDA vocabulary is not used" in capsys.readouterr().err
    assert not [p for p in cache_home.rglob("*") if p.is_file()], "nothing unverified is left in the cache"


# --- the key covers the compiler's code -----------------------------------------------------------


@pytest.fixture
def source_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the fingerprinted sources, which the key is then computed from."""
    root = Path(cache._SOURCE_ROOT)
    copy = tmp_path / "screener"
    for path in cache.code_files():
        target = copy / Path(path).relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    monkeypatch.setattr(cache, "_SOURCE_ROOT", str(copy))
    cache.code_fingerprint.cache_clear()
    yield copy
    cache.code_fingerprint.cache_clear()


def test_the_fingerprint_covers_the_compiler_and_the_model():
    names = {os.path.relpath(p, cache._SOURCE_ROOT).replace(os.sep, "/") for p in cache.code_files()}
    assert {"knowledge/compile.py", "knowledge/loader.py", "knowledge/index.py", "knowledge/cache.py",
            "model.py", "text.py"} <= names
    assert not any("__pycache__" in n for n in names)


def test_editing_a_compiler_source_changes_the_key_without_a_version_bump(source_copy):
    directory = bundled_data_dir()
    before = content_key(directory)
    compile_py = source_copy / "knowledge" / "compile.py"
    compile_py.write_text(compile_py.read_text(encoding="utf-8") + "\n# a change in what is compiled\n",
                          encoding="utf-8")
    cache.code_fingerprint.cache_clear()
    edited = content_key(directory)
    assert edited != before
    assert cache.slot(edited, directory) != cache.slot(before, directory)

    # A new module of a rule family counts as soon as it appears.
    (source_copy / "rules" / "new_family.py").write_text('"""a new rule family"""\n', encoding="utf-8")
    cache.code_fingerprint.cache_clear()
    assert content_key(directory) not in (before, edited)
    assert screener.__version__ == screener.load_knowledge().version.split("+")[0]


# --- pruning --------------------------------------------------------------------------------------


def test_pruning_keeps_the_newest_slots_and_removes_stale_temporaries(cache_home, kb):
    cache_home.mkdir(mode=0o700)
    now = time.time()
    for n in range(cache.KEEP_SLOTS + 5):
        old = cache_home / f"index-{n:032x}.pickle"
        old.write_bytes(b"old")
        os.utime(old, (now - 1000 + n, now - 1000 + n))
    stale, fresh = cache_home / ".index-stale.tmp", cache_home / ".index-busy.tmp"
    stale.write_bytes(b"")
    fresh.write_bytes(b"")
    os.utime(stale, (now - 2 * cache.STALE_TMP_SECONDS,) * 2)

    cache.write("index-new.pickle", kb.index)

    slots = sorted(p.name for p in cache_home.glob("index-*.pickle"))
    assert len(slots) == cache.KEEP_SLOTS
    assert "index-new.pickle" in slots
    newest = [f"index-{n:032x}.pickle" for n in range(cache.KEEP_SLOTS + 5)][-(cache.KEEP_SLOTS - 1):]
    assert set(newest) <= set(slots)
    assert not stale.exists() and fresh.exists()


def test_pruning_never_fails(tmp_path):
    cache.prune(tmp_path / "missing")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache.prune(blocker)


# --- the _blake2 speed trick ----------------------------------------------------------------------


def test_the_fast_blake2_is_used_where_it_exists():
    """Importing hashlib costs ~2.4 ms (OpenSSL) on every check; _blake2 ~0.2 ms. If this fails, the
    fast path silently stopped working: fix the import rather than delete the test."""
    fast = pytest.importorskip("_blake2")
    assert cache.blake2b is fast.blake2b


def test_the_hashlib_fallback_gives_the_same_key():
    script = (
        "import sys; sys.modules['_blake2'] = None\n"
        "from screener.knowledge import cache, content_key\n"
        "from screener.paths import bundled_data_dir\n"
        "assert cache.blake2b.__module__ == 'screener.knowledge.cache', cache.blake2b\n"
        "print(content_key(bundled_data_dir()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env_with_cache(Path("/nonexistent")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == content_key(bundled_data_dir())


def test_a_tables_folder_built_after_a_load_is_used_by_the_next_load(tmp_path, monkeypatch):
    # Where a knowledge directory's FDA tables live is decided once per directory, until the next load.
    from screener.paths import tables_home

    knowledge = tmp_path / "kb"
    write_knowledge(knowledge, TINY)
    monkeypatch.chdir(tmp_path)
    assert tables_home("kb", "ndc") == str(bundled_data_dir())
    (knowledge / "ndc").mkdir()
    screener.load_knowledge(knowledge)
    assert tables_home("kb", "ndc") == "kb"

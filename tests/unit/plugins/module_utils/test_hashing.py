import errno
import hashlib
import json
import os
import signal

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError, DependencyError, SourceError
from ansible_collections.ainative.security.plugins.module_utils.integrity import digests, engine, manifest, paths, tree

H = hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize("name, message", [
    ("/etc/passwd", "absolute path"),
    ("../x", "climbs out"),
    ("a/../../b", "climbs out"),
    ("a//b", "not a normalized"),
    ("./a", "not a normalized"),
    ("a/", "not a normalized"),
    ("a\x00b", "NUL byte"),
    ("", "empty file name"),
    (b"\xff\xfe", "not valid UTF-8"),
])
def test_check_relpath_refuses_hostile_names(name, message):
    with pytest.raises(ControlError, match=message):
        paths.check_relpath(name)


@pytest.mark.parametrize("name", ["a", "a/b.csv", ".git/config", "dir/.hidden", "x..y", "ünï code/ü"])
def test_check_relpath_accepts_normal_names(name):
    assert paths.check_relpath(name) == name


@pytest.mark.parametrize("value, algorithm, expected", [
    ("sha256:" + H, None, ("sha256", H)),
    (H.upper(), None, ("sha256", H)),
    (H, "sha256", ("sha256", H)),
    ("SHA512:" + "a" * 128, None, ("sha512", "a" * 128)),
])
def test_parse_digest(value, algorithm, expected):
    assert digests.parse_digest(value, algorithm) == expected


@pytest.mark.parametrize("value, algorithm, message", [
    ("sha256:abc", None, "expected 64 hex"),
    ("md5:" + "a" * 32, None, "unknown algorithm 'md5'"),
    ("sha256:" + H, "sha512", "make them agree"),
    ("zz" * 32, None, "malformed"),
])
def test_parse_digest_errors(value, algorithm, message):
    with pytest.raises(ControlError, match=message):
        digests.parse_digest(value, algorithm)


def test_text_manifest_coreutils_forms():
    text = ("%s  plain.txt\n%s *binary.bin\n\\%s  back\\\\slash\\nnew\n"
            "SHA256 (tagged.txt) = %s\n# comment\n\n") % (H, H, H, H)
    algo, entries = manifest.parse_text_manifest(text.encode())
    assert algo == "sha256"
    assert sorted(entries) == ["back\\slash\nnew", "binary.bin", "plain.txt", "tagged.txt"]


def test_text_manifest_round_trip_escapes():
    entries = {"a b.txt": (H, 1), "c\\d": (H, 1), "e\nf": (H, 1)}
    data = manifest.render_text_manifest("sha256", entries)
    assert manifest.parse_text_manifest(data) == ("sha256", dict((k, H) for k in entries))


@pytest.mark.parametrize("text, message", [
    ("%s  ../etc/passwd\n" % H, "climbs out"),
    ("%s  a\n%s  a\n" % (H, H), "lists 'a' twice"),
    ("nonsense\n", "line 1 is not"),
    ("%s  a\n%s  b\n" % (H, "b" * 128), "malformed sha256 digest"),
    ("", "no checksum lines"),
    ("abc  a\n", "matches no supported algorithm"),
])
def test_text_manifest_errors(text, message):
    with pytest.raises(ControlError, match=message):
        manifest.parse_text_manifest(text.encode())


def test_json_manifest_digest_pins_entries_and_formats_agree():
    entries = {"b": (H, 1), "a": (hashlib.sha256(b"y").hexdigest(), 1)}
    doc = json.loads(manifest.render_json_manifest("sha256", entries))
    assert [item["path"] for item in doc["files"]] == ["a", "b"]
    algo, digests, sizes = manifest.parse_json_manifest(json.dumps(doc).encode())
    assert doc["dataset_digest"] == manifest.dataset_digest(algo, digests)
    text_algo, text_digests = manifest.parse_text_manifest(manifest.render_text_manifest("sha256", entries))
    assert manifest.dataset_digest(text_algo, text_digests) == doc["dataset_digest"]
    doc["files"][0]["digest"] = H
    with pytest.raises(ControlError, match="does not match its entries"):
        manifest.parse_json_manifest(json.dumps(doc).encode())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="other"), "wrong 'format'"),
    (lambda d: d.update(version=9), "has version 9"),
    (lambda d: d.update(algorithm="md5"), "unknown algorithm"),
    (lambda d: d.update(files=[]), "no 'files'"),
    (lambda d: d["files"][0].update(size=-1), "non-negative"),
    (lambda d: d["files"][0].update(path="/abs"), "absolute path"),
])
def test_json_manifest_errors(mutate, message):
    doc = json.loads(manifest.render_json_manifest("sha256", {"a": (H, 1)}))
    doc.pop("dataset_digest")
    mutate(doc)
    with pytest.raises(ControlError, match=message):
        manifest.parse_json_manifest(json.dumps(doc).encode())


@pytest.mark.parametrize("pattern, path, ignored", [
    (".git/**", ".git/config", True),
    (".git/**", ".git", True),
    (".git/**", "sub/.git/config", False),
    ("*.tmp", "a/b/c.tmp", True),
    ("*.tmp", "a/b/c.tmpx", False),
    ("cache/*", "cache/a", True),
    ("cache/*", "cache/a/b", False),
    ("**/__pycache__/**", "x/__pycache__/m.pyc", True),
    ("data/?.csv", "data/1.csv", True),
    ("data/[ab].csv", "data/c.csv", False),
])
def test_ignore_globs(pattern, path, ignored):
    assert paths.IgnoreRules([pattern])(path) is ignored


def _tree(tmp_path, files):
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return str(tmp_path)


@pytest.mark.parametrize("workers", [1, 2])
def test_build_and_verify_round_trip(tmp_path, workers):
    files = dict(("d%d/f%03d" % (i % 3, i), os.urandom(i * 97)) for i in range(150))
    files["big.bin"] = os.urandom(3 * digests.BUFFER_SIZE + 5)
    root = _tree(tmp_path, files)
    entries, stats = engine.build_entries(root, paths.IgnoreRules([]), "sha256", workers=workers)
    assert stats["files"] == len(files) and stats["bytes"] == sum(len(v) for v in files.values())
    for name, data in files.items():
        assert entries[name] == (hashlib.sha256(data).hexdigest(), len(data))
    listed = dict((k, v[0]) for k, v in entries.items())
    result = engine.verify_tree(root, listed, {}, "sha256", paths.IgnoreRules([]), workers=workers)
    assert result["ok"] == len(files) and not any(result[k] for k in ("mismatched", "missing", "extra", "unsafe"))


def test_verify_size_precheck_and_missing_directory(tmp_path):
    root = _tree(tmp_path, {"a/x": b"1", "b/y": b"22"})
    listed = {"a/x": hashlib.sha256(b"1").hexdigest(), "b/y": hashlib.sha256(b"22").hexdigest(),
              "gone/z": H}
    result = engine.verify_tree(root, listed, {"a/x": 5}, "sha256", paths.IgnoreRules([]), workers=1)
    assert result["mismatched"] == [{"path": "a/x", "reason": "size", "expected_size": 5, "actual_size": 1}]
    assert result["missing"] == ["gone/z"]
    assert result["ok"] == 1


def test_unreadable_file_is_reported_not_raised(tmp_path, monkeypatch):
    root = _tree(tmp_path, {"a": b"1", "b": b"2"})
    real_open = os.open

    def deny(path, flags, *args, **kwargs):
        if path == "b":
            raise OSError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args, **kwargs)
    monkeypatch.setattr(engine.os, "open", deny)
    listed = {"a": hashlib.sha256(b"1").hexdigest(), "b": hashlib.sha256(b"2").hexdigest()}
    result = engine.verify_tree(root, listed, {}, "sha256", paths.IgnoreRules([]), workers=1)
    assert result["unreadable"] == [{"path": "b", "reason": "b cannot open: Permission denied"}]


def test_file_replaced_by_directory_is_unsafe(tmp_path):
    root = _tree(tmp_path, {"a": b"1", "dir/inner": b"2"})
    result = engine.verify_tree(root, {"a": hashlib.sha256(b"1").hexdigest(), "dir": H}, {}, "sha256",
                                paths.IgnoreRules([]), workers=1)
    assert result["unsafe"][0]["path"] == "dir" and "not a regular file" in result["unsafe"][0]["reason"]
    assert result["extra"] == []


def test_symlinked_directory_component_is_refused_without_follow(tmp_path):
    root = _tree(tmp_path, {"real/x": b"1"})
    os.symlink("real", os.path.join(root, "alias"))
    with pytest.raises(ControlError, match="alias is a symlink"):
        engine.verify_tree(root, {"alias/x": hashlib.sha256(b"1").hexdigest()}, {}, "sha256",
                           paths.IgnoreRules([]), workers=1)
    entries = engine.build_entries(root, paths.IgnoreRules([]), "sha256", follow_symlinks=True, workers=1)[0]
    assert sorted(entries) == ["alias/x", "real/x"]


def test_symlink_loop_is_refused(tmp_path):
    root = _tree(tmp_path, {"d/x": b"1"})
    os.symlink("..", os.path.join(root, "d", "up"))
    with pytest.raises(ControlError, match="loop"):
        engine.build_entries(root, paths.IgnoreRules([]), "sha256", follow_symlinks=True, workers=1)


def test_blake3_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(digests, "HAS_BLAKE3", False)
    with pytest.raises(DependencyError, match="pip install blake3"):
        digests.hasher("blake3")


def test_open_beneath_follows_links_inside_the_root_only(tmp_path):
    root = _tree(tmp_path / "root", {"d/x": b"1"})
    (tmp_path / "out").write_bytes(b"secret")
    os.symlink("d/x", os.path.join(root, "rel"))
    os.symlink(os.path.join(os.path.realpath(root), "d", "x"), os.path.join(root, "abs"))
    os.symlink("../rel", os.path.join(root, "d", "up"))
    os.symlink("../out", os.path.join(root, "escape"))
    os.symlink(str(tmp_path / "out"), os.path.join(root, "abs-out"))
    os.symlink("loop", os.path.join(root, "loop"))
    root_fd = os.open(root, os.O_RDONLY)
    try:
        for name in ("rel", "abs", "d/up", "d/../rel"):
            fd = tree.open_beneath(root_fd, os.path.realpath(root), name)
            assert os.read(fd, 10) == b"1", name
            os.close(fd)
        for name, code in (("escape", errno.EXDEV), ("abs-out", errno.EXDEV), ("../out", errno.EXDEV),
                           ("loop", errno.ELOOP)):
            with pytest.raises(OSError) as info:
                tree.open_beneath(root_fd, os.path.realpath(root), name)
            assert info.value.errno == code, name
    finally:
        os.close(root_fd)


def _die(task):
    os._exit(9)


def test_a_dying_worker_fails_the_run_instead_of_hanging(tmp_path, monkeypatch):
    """multiprocessing.Pool waited forever for the task of a dead worker (futex wait, no CPU)."""
    files = dict(("f%03d" % index, b"%d" % index) for index in range(80))
    root = _tree(tmp_path, files)
    listed = dict((name, hashlib.sha256(data).hexdigest()) for name, data in files.items())
    monkeypatch.setattr(engine, "_run_task", _die)  # the forked workers run it
    signal.signal(signal.SIGALRM, lambda *args: pytest.fail("the engine hung on a dead worker"))
    signal.alarm(60)
    try:
        with pytest.raises(SourceError, match="worker process died"):
            engine.verify_tree(root, listed, {}, "sha256", paths.IgnoreRules([]), workers=2)
    finally:
        signal.alarm(0)


def test_manifest_names_with_dot_slash_and_bytes(tmp_path):
    text = ("%s  ./a\n%s  ./sub/b\n" % (H, H)).encode()
    assert sorted(manifest.parse_text_manifest(text)[1]) == ["a", "sub/b"]
    assert sorted(manifest.parse_text_manifest(text + b"\\" + ("%s  ./c\\\\d\n" % H).encode())[1]) == ["a", "c\\d", "sub/b"]
    with pytest.raises(ControlError, match="lists 'a' twice"):
        manifest.parse_text_manifest(("%s  ./a\n%s  a\n" % (H, H)).encode() + b"\r\n")
    raw = manifest.parse_text_manifest(("%s  caf" % H).encode() + b"\xe9\n")[1]
    name = list(raw)[0]
    assert os.fsencode(name) == b"caf\xe9"
    entries = {name: (H, 1)}
    assert manifest.render_text_manifest("sha256", entries) == ("%s  caf" % H).encode() + b"\xe9\n"
    doc = manifest.render_json_manifest("sha256", entries)
    doc.decode("utf-8")
    assert manifest.parse_json_manifest(doc)[1] == {name: H}
    assert manifest.dataset_digest("sha256", {name: H}) == json.loads(doc)["dataset_digest"]
    assert paths.display_name(name) == "caf\\xe9"


def _reference_digest(algorithm, digests_by_name):
    """The definition of the dataset digest (json.dumps of the sorted pairs), to hold the fast one to."""
    canonical = json.dumps([algorithm, [[name, digests_by_name[name]] for name in sorted(digests_by_name, key=paths.sort_key)]],
                           ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()


@pytest.mark.parametrize("names", [
    [],
    ["a"],
    ["b/c", "a", "a/b", "B"],
    ['quo"te', "back\\slash", "tab\there", "new\nline", "\x01ctl"],
    ["caf\xe9", "\udce9raw", "z", "\u2028sep", "\U0001f600"],
])
def test_dataset_digest_is_the_json_definition(names):
    listed = dict((name, hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()) for name in names)
    assert manifest.dataset_digest("sha256", listed) == _reference_digest("sha256", listed)


@pytest.mark.parametrize("text", [
    "%s  a\n%s *sub/b\n" % (H, H.upper()),  # upper case: the line parser lowers it
    "%s  ./a\n%s  b" % (H, H),  # no final newline
    "%s  a\n%s  .hidden\n" % (H, H),  # a leading dot is fine for the line parser
    "%s  a\n\n%s  b\n" % (H, H),  # an empty line
])
def test_plain_fast_path_and_line_parser_agree(text):
    data = text.encode()
    lines = manifest._parse_text_lines(data.decode(), None, "manifest")
    assert manifest.parse_text_manifest(data) == lines


@pytest.mark.parametrize("text, message", [
    ("%s  a\n%s  a\n", "twice"),
    ("%s  a\n%s  /etc/passwd\n", "absolute path"),
    ("%s  a\n%s  x/../../y\n", "climbs out"),
    ("%s  a\n%s  x//y\n", "not a normalized"),
    ("%s  a\n%s  x/\n", "not a normalized"),
])
def test_plain_manifests_with_one_hostile_name_are_refused(text, message):
    with pytest.raises(ControlError, match=message):
        manifest.parse_text_manifest((text % (H, H)).encode())


def test_plain_manifest_with_a_name_longer_than_any_path_is_refused():
    with pytest.raises(ControlError, match="longer than any path"):
        manifest.parse_text_manifest(("%s  a\n%s  %s\n" % (H, H, "x" * (paths.MAX_NAME + 1))).encode())


@pytest.mark.parametrize("names, plain", [
    (["a", "b/c"], True),
    ([""], False),
    (["a", ""], False),
    (["a", "", "b"], False),
    ([".a"], False),
    (["a", "/b"], False),
    (["a/", "b"], False),
    (["a/.b"], False),
    (["a\x00"], False),
    (["x" * (paths.MAX_NAME + 1)], False),
])
def test_all_plain_relpaths_is_check_relpaths_fast_path_on_every_name(names, plain):
    assert paths.all_plain_relpaths(names) is plain

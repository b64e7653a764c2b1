"""fileio.publish_set: a set of files replaced as one unit, recovery of a killed run's journal, and the
strict rules on what recovery may remove or rename (never a user's file)."""

import json
import os

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core import fileio

TOKEN = "0123456789abcdef" * 2


def _set(directory, text, names=("a.json", "b.sarif", "c.html")):
    return [(os.path.join(directory, name), lambda out, name=name: out.write(("%s %s\n" % (name, text)).encode()))
            for name in names]


def _content(directory, names=("a.json", "b.sarif", "c.html")):
    return [open(os.path.join(directory, name)).read() for name in names]


def test_publish_writes_only_changed_files_and_check_mode_writes_nothing(tmp_path):
    directory = str(tmp_path)
    written = fileio.publish_set(_set(directory, "one"), mode=0o640)
    assert all(written.values()) and _content(directory) == ["a.json one\n", "b.sarif one\n", "c.html one\n"]
    assert os.stat(os.path.join(directory, "a.json")).st_mode & 0o777 == 0o640
    inode = os.stat(os.path.join(directory, "a.json")).st_ino
    files = _set(directory, "one")[:1] + _set(directory, "two")[1:]
    assert fileio.publish_set(files, check_mode=True) == {
        os.path.join(directory, "a.json"): False, os.path.join(directory, "b.sarif"): True,
        os.path.join(directory, "c.html"): True}
    assert _content(directory)[1] == "b.sarif one\n"
    written = fileio.publish_set(files)
    assert list(written.values()) == [False, True, True]
    assert os.stat(os.path.join(directory, "a.json")).st_ino == inode  # unchanged: never replaced
    assert sorted(os.listdir(directory)) == ["a.json", "b.sarif", "c.html"]


def test_an_error_in_one_file_leaves_the_whole_old_set_and_nothing_of_ours(tmp_path):
    directory = str(tmp_path)
    fileio.publish_set(_set(directory, "old"))

    def disk_full(out):
        out.write(b"x" * (3 << 20))
        raise OSError(28, "No space left on device")

    files = _set(directory, "new")
    files[2] = (files[2][0], disk_full)
    with pytest.raises(OSError):
        fileio.publish_set(files)
    assert _content(directory) == ["a.json old\n", "b.sarif old\n", "c.html old\n"]
    assert sorted(os.listdir(directory)) == ["a.json", "b.sarif", "c.html"]


def _journal(directory, token=TOKEN, pairs=None, commit=None, mode=0o600):
    pairs = pairs or [[os.path.join(directory, ".ainative-%s.%d.tmp" % (token, n)), os.path.join(directory, name)]
                      for n, name in enumerate(("a.json", "b.sarif"))]
    for name, record in (("journal", pairs), ("commit", commit)):
        if record is None:
            continue
        path = os.path.join(directory, ".ainative-%s.%s" % (token, name))
        with open(path, "w") as handle:
            json.dump({"schema": "ainative.security/publish/1", "token": token, "files": record, "complete": True},
                      handle)
        os.chmod(path, mode)
    return pairs


def _temps(pairs, text):
    for tmp, final in pairs:
        with open(tmp, "w") as handle:
            handle.write("%s %s\n" % (os.path.basename(final), text))


def test_recovery_rolls_a_committed_set_forward_and_an_uncommitted_one_back(tmp_path):
    directory = str(tmp_path)
    names = ("a.json", "b.sarif")
    fileio.publish_set(_set(directory, "old", names))
    pairs = _journal(directory)
    _temps(pairs, "killed")
    fileio.publish_set(_set(str(tmp_path), "probe", ("probe.txt",)))  # any next set in the directory recovers
    assert _content(directory, names) == ["a.json old\n", "b.sarif old\n"]  # no commit record: rolled back
    assert sorted(os.listdir(directory)) == ["a.json", "b.sarif", "probe.txt"]
    pairs = _journal(directory, commit=None)
    _temps(pairs, "killed")
    _journal(directory, commit=pairs)
    os.rename(pairs[0][0], pairs[0][1])  # killed after the first rename
    fileio.publish_set(_set(str(tmp_path), "probe2", ("probe.txt",)))
    assert _content(directory, names) == ["a.json killed\n", "b.sarif killed\n"]  # rolled forward
    assert sorted(os.listdir(directory)) == ["a.json", "b.sarif", "probe.txt"]


def test_recovery_never_touches_what_is_not_provably_ours(tmp_path):
    directory = str(tmp_path / "reports")
    outside = str(tmp_path / "elsewhere")
    os.makedirs(directory)
    os.makedirs(outside)
    with open(os.path.join(outside, "precious"), "w") as handle:
        handle.write("keep\n")
    user = [".ainative-%s.0.tmp" % ("ab" * 16), ".findings-report.json.k3j2_x9a.tmp", ".ainative-x.0.tmp"]
    for name in user:
        with open(os.path.join(directory, name), "w") as handle:
            handle.write("user\n")
    # A committed journal whose pair renames into another directory, one naming a user's file as a temp,
    # one that is group-writable, and one that does not parse: none is acted on.
    _journal(directory, token="1" * 32, pairs=[[os.path.join(directory, ".ainative-%s.0.tmp" % ("1" * 32)),
                                                os.path.join(outside, "precious")]],
             commit=[[os.path.join(directory, ".ainative-%s.0.tmp" % ("1" * 32)), os.path.join(outside, "precious")]])
    _temps([[os.path.join(directory, ".ainative-%s.0.tmp" % ("1" * 32)), "x"]], "attack")
    _journal(directory, token="2" * 32, pairs=[[os.path.join(directory, user[1]), os.path.join(directory, "a")]])
    _journal(directory, token="3" * 32, mode=0o620)
    _temps(_journal(directory, token="3" * 32, mode=0o620), "group-writable journal")
    with open(os.path.join(directory, ".ainative-%s.journal" % ("4" * 32)), "w") as handle:
        handle.write('{"schema": "ainative.security/publish/1", "tok')
    fileio.publish_set(_set(directory, "run", ("a.json",)))
    with open(os.path.join(outside, "precious")) as handle:
        assert handle.read() == "keep\n"
    for name in user:
        with open(os.path.join(directory, name)) as handle:
            assert handle.read() == "user\n"
    left = sorted(os.listdir(directory))
    # The journal whose pair renames outside its directory is ours but lists nothing valid: it goes, the
    # file it named stays (only a valid pair's temporary file is provably ours).
    assert ".ainative-%s.journal" % ("1" * 32) not in left and ".ainative-%s.0.tmp" % ("1" * 32) in left
    assert ".ainative-%s.journal" % ("2" * 32) not in left
    assert ".ainative-%s.journal" % ("3" * 32) in left and ".ainative-%s.0.tmp" % ("3" * 32) in left
    assert ".ainative-%s.journal" % ("4" * 32) in left


def test_a_journal_of_another_user_is_left_alone(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to create a file owned by another user")
    directory = str(tmp_path)
    pairs = _journal(directory, commit=None)
    _temps(pairs, "other user")
    for path in [p for p, dummy in pairs] + [os.path.join(directory, ".ainative-%s.journal" % TOKEN)]:
        os.chown(path, 65534, 65534)
    fileio.publish_set(_set(directory, "run", ("c.html",)))
    assert all(os.path.exists(tmp) for tmp, dummy in pairs)
    assert os.path.exists(os.path.join(directory, ".ainative-%s.journal" % TOKEN))


def test_two_writer_processes_publish_the_same_set_as_one(tmp_path):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    names = ("a.json", "b.sarif", "c.html", "d.xml")
    assert all(fileio.publish_set(_set(one, "x", names), make_dirs=True).values())
    written = fileio.publish_set(_set(two, "x", names), make_dirs=True, workers=2)
    assert all(written.values()) and _content(two, names) == _content(one, names)
    # Unchanged files stay untouched in the forked writer too.
    files = _set(two, "x", names)[:2] + _set(two, "y", names)[2:]
    assert list(fileio.publish_set(files, workers=2).values()) == [False, False, True, True]
    assert sorted(os.listdir(two)) == sorted(names)


@pytest.mark.parametrize("failure", ["raises", "exits"])
def test_a_failing_forked_writer_rolls_the_whole_set_back(tmp_path, failure):
    directory = str(tmp_path)
    names = ("a.json", "b.sarif", "c.html", "d.xml")
    fileio.publish_set(_set(directory, "old", names))

    def broken(out):  # b.sarif: files 1::2 are the forked writer's
        out.write(b"partial")
        if failure == "exits":
            os._exit(3)
        raise fileio.InputError("the writer of b.sarif failed")

    files = _set(directory, "new", names)
    files[1] = (files[1][0], broken)
    with pytest.raises((fileio.InputError, OSError)) as caught:
        fileio.publish_set(files, workers=2)
    if failure == "raises":  # the child's own error, with its message, reaches the caller
        assert isinstance(caught.value, fileio.InputError) and "b.sarif failed" in str(caught.value)
    else:
        assert "ended with status 3" in str(caught.value)
    assert _content(directory, names) == ["%s old\n" % name for name in names]
    assert sorted(os.listdir(directory)) == sorted(names)

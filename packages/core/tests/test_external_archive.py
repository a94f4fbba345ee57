"""extract_archive: tar/zip extraction that is atomic and refuses members landing outside the target."""

import io
import os
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from lamina.core.data.archive import (
    ArchiveError,
    CorruptArchiveError,
    UnsafeArchiveError,
    archive_stem,
    extract_archive,
)
from lamina.core.data.download import staging_path

# ------------------------------------------------------------------------------------------ builders


def file_entry(name, data=b"", mode=0o644):
    return ("file", name, data, mode)


def tar_bytes(entries, compression="gz"):
    """A tar archive of `entries`: ("file", name, bytes, mode), ("dir", name), ("sym"/"hard", name, target),
    ("chr"/"fifo", name)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}" if compression else "w") as tar:
        for kind, name, *rest in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            if kind == "file":
                data, mode = rest
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "sym": tarfile.SYMTYPE,
                "hard": tarfile.LNKTYPE,
                "chr": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("sym", "hard"):
                info.linkname = rest[0]
            tar.addfile(info)
    return buffer.getvalue()


def zip_bytes(entries):
    """A zip archive of `entries`: ("file", name, bytes, mode), ("sym", name, target), ("chr", name)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for kind, name, *rest in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 9, 13, 12, 26, 40))
            info.compress_type = zipfile.ZIP_DEFLATED
            if kind == "file":
                data, mode = rest
                info.external_attr = (stat.S_IFREG | mode) << 16
                zf.writestr(info, data)
            elif kind == "sym":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, rest[0])
            elif kind == "chr":
                info.external_attr = (stat.S_IFCHR | 0o644) << 16
                zf.writestr(info, b"")
    return buffer.getvalue()


DATASET = [
    ("dir", "mnist_tiny"),
    file_entry("mnist_tiny/labels.csv", b"name,label\ntrain/3/1.png,3\n"),
    file_entry("mnist_tiny/train/3/1.png", b"\x89PNG three"),
    file_entry("mnist_tiny/train/7/2.png", b"\x89PNG seven"),
    file_entry("mnist_tiny/run.sh", b"#!/bin/sh\n", 0o4777),
]


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def leftovers(folder):
    """Staging files and folders (their names start with a dot) left in `folder`."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def check_dataset(dest):
    assert (dest / "labels.csv").read_bytes() == b"name,label\ntrain/3/1.png,3\n"
    assert (dest / "train" / "3" / "1.png").read_bytes() == b"\x89PNG three"
    assert (dest / "train" / "7" / "2.png").read_bytes() == b"\x89PNG seven"


# ---------------------------------------------------------------------------------------- extraction


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz", ""])
def test_tar_with_one_top_folder_becomes_the_target(tmp_path, compression):
    archive = write(tmp_path / "mnist_tiny.tgz", tar_bytes(DATASET, compression))
    dest = tmp_path / "data" / "mnist_tiny"
    assert extract_archive(archive, dest) == dest
    check_dataset(dest)
    assert sorted(p.name for p in dest.iterdir()) == ["labels.csv", "run.sh", "train"]
    assert leftovers(dest.parent) == []


def test_zip_with_one_top_folder_becomes_the_target(tmp_path):
    archive = write(tmp_path / "mnist_tiny.zip", zip_bytes([e for e in DATASET if e[0] == "file"]))
    dest = tmp_path / "data" / "mnist_tiny"
    extract_archive(archive, dest)
    check_dataset(dest)
    assert leftovers(dest.parent) == []


def test_format_is_read_from_the_content_not_the_name(tmp_path):
    zipped = write(tmp_path / "looks_like.tgz", zip_bytes([file_entry("a.txt", b"zip inside")]))
    extract_archive(zipped, tmp_path / "z")
    assert (tmp_path / "z" / "a.txt").read_bytes() == b"zip inside"
    tarred = write(tmp_path / "download", tar_bytes([file_entry("b.txt", b"tar inside")]))
    extract_archive(tarred, tmp_path / "t")
    assert (tmp_path / "t" / "b.txt").read_bytes() == b"tar inside"


def test_several_top_level_entries_keep_their_layout(tmp_path):
    entries = [
        file_entry("./train/a.txt", b"a"),
        file_entry("./valid/b.txt", b"b"),
        file_entry("./README", b"r"),
    ]
    archive = write(tmp_path / "x.tar.gz", tar_bytes([("dir", "."), *entries]))
    dest = tmp_path / "x"
    extract_archive(archive, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["README", "train", "valid"]
    assert (dest / "valid" / "b.txt").read_bytes() == b"b"


def test_file_modes_keep_exec_bits_but_drop_setuid_and_others_write(tmp_path):
    archive = write(tmp_path / "m.tgz", tar_bytes(DATASET))
    dest = tmp_path / "m"
    extract_archive(archive, dest)
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "labels.csv").stat().st_mode) == 0o644
    assert (dest / "labels.csv").stat().st_mtime == 1_600_000_000


def test_links_that_stay_inside_are_extracted(tmp_path):
    entries = [
        file_entry("d/images/a.png", b"pixels"),
        ("sym", "d/latest", "images/a.png"),
        ("sym", "d/images/up", "../images"),
        ("hard", "d/copy.png", "d/images/a.png"),
    ]
    archive = write(tmp_path / "d.tgz", tar_bytes(entries))
    dest = tmp_path / "d"
    extract_archive(archive, dest)
    assert (dest / "latest").is_symlink() and (dest / "latest").read_bytes() == b"pixels"
    assert (dest / "images" / "up" / "a.png").read_bytes() == b"pixels"
    assert (dest / "copy.png").read_bytes() == b"pixels" and not (dest / "copy.png").is_symlink()


def test_zip_symlinks_inside_are_made_as_links(tmp_path):
    archive = write(tmp_path / "z.zip", zip_bytes([file_entry("z/a.txt", b"A"), ("sym", "z/b.txt", "a.txt")]))
    dest = tmp_path / "z"
    extract_archive(archive, dest)
    assert os.readlink(dest / "b.txt") == "a.txt" and (dest / "b.txt").read_bytes() == b"A"


def test_archive_stem():
    assert archive_stem("mnist_tiny.tgz") == "mnist_tiny"
    assert archive_stem("wikitext-103.tar.gz") == "wikitext-103"
    assert archive_stem("ml-100k.zip") == "ml-100k"
    assert archive_stem("data.TAR.XZ") == "data"
    assert archive_stem("notes.txt") == "notes.txt"


# -------------------------------------------------------------------------------------------- safety

UNSAFE_TAR = {
    "dotdot": ([file_entry("ok.txt", b"fine"), file_entry("../evil", b"pwned")], "../evil", "'..'"),
    "nested-dotdot": ([file_entry("a/../../evil", b"pwned")], "a/../../evil", "'..'"),
    "absolute": ([file_entry("/tmp/lamina-test-evil", b"pwned")], "/tmp/lamina-test-evil", "absolute path"),
    "symlink-out": ([("sym", "evil", "../../evil")], "evil", "outside the target folder"),
    "symlink-absolute": ([("sym", "evil", "/etc/passwd")], "evil", "absolute path"),
    "hardlink-out": ([("hard", "evil", "../evil")], "evil", "hardlink"),
    "hardlink-absolute": ([("hard", "evil", "/etc/passwd")], "evil", "hardlink"),
    "device": ([("chr", "dev/null")], "dev/null", "device file"),
    "fifo": ([("fifo", "pipe")], "pipe", "fifo"),
    # each link points inside when made; together they climb out
    "symlink-chain": ([("sym", "s", "."), ("sym", "t", "s/..")], "t", "outside the target folder"),
    # `a` points inside until `b` becomes a link to the root; then writing through `a` escapes
    "write-through-link": (
        [("sym", "a", "b/.."), ("sym", "b", "."), file_entry("a/evil", b"pwned")],
        "a/evil",
        "through a symlink",
    ),
    # the same without a write: the final check finds `a` pointing out
    "link-changed-later": ([("sym", "a", "b/.."), ("sym", "b", ".")], "a", "resolves outside"),
}


@pytest.mark.parametrize("case", list(UNSAFE_TAR))
def test_unsafe_tar_members_are_refused_by_name(tmp_path, case):
    entries, member, why = UNSAFE_TAR[case]
    archive = write(tmp_path / "work" / "bad.tgz", tar_bytes(entries))
    dest = tmp_path / "work" / "out" / "bad"
    with pytest.raises(UnsafeArchiveError) as info:
        extract_archive(archive, dest)
    assert info.value.member == member
    assert repr(member) in str(info.value) and why in str(info.value) and str(archive) in str(info.value)
    assert not dest.exists() and leftovers(dest.parent) == []
    assert [p.name for p in tmp_path.rglob("*evil*")] == []
    assert not Path("/tmp/lamina-test-evil").exists()


UNSAFE_ZIP = {
    "dotdot": ([file_entry("../evil", b"pwned")], "../evil", "'..'"),
    "backslash-dotdot": ([file_entry("a\\..\\..\\evil", b"pwned")], "a\\..\\..\\evil", "'..'"),
    "absolute": ([file_entry("/tmp/lamina-test-evil", b"pwned")], "/tmp/lamina-test-evil", "absolute path"),
    "drive": ([file_entry("C:/evil", b"pwned")], "C:/evil", "absolute path"),
    "symlink-out": ([("sym", "evil", "../../evil")], "evil", "outside the target folder"),
    "device": ([("chr", "dev")], "dev", "device file"),
}


@pytest.mark.parametrize("case", list(UNSAFE_ZIP))
def test_unsafe_zip_members_are_refused_by_name(tmp_path, case):
    entries, member, why = UNSAFE_ZIP[case]
    archive = write(tmp_path / "work" / "bad.zip", zip_bytes(entries))
    dest = tmp_path / "work" / "out" / "bad"
    with pytest.raises(UnsafeArchiveError) as info:
        extract_archive(archive, dest)
    assert info.value.member == member and repr(member) in str(info.value) and why in str(info.value)
    assert not dest.exists() and leftovers(dest.parent) == []
    assert [p.name for p in tmp_path.rglob("*evil*")] == []


def test_an_unsafe_member_after_good_ones_leaves_nothing(tmp_path):
    archive = write(tmp_path / "late.tgz", tar_bytes([*DATASET, file_entry("mnist_tiny/../../late", b"x")]))
    with pytest.raises(UnsafeArchiveError, match="mnist_tiny/../../late"):
        extract_archive(archive, tmp_path / "late")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.tgz"]


# ------------------------------------------------------------------------------------ corrupt input


def test_a_file_that_is_not_an_archive(tmp_path):
    archive = write(tmp_path / "fake.tgz", b"<html>Access denied</html>" * 40)
    with pytest.raises(CorruptArchiveError, match="not a valid tar or zip archive") as info:
        extract_archive(archive, tmp_path / "fake")
    assert info.value.archive == archive and str(archive) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.tgz"]


@pytest.mark.parametrize("kind", ["tgz", "zip", "gz-of-text"])
def test_truncated_or_broken_archives(tmp_path, kind):
    big = [file_entry(f"d/{i}.bin", os.urandom(20_000)) for i in range(5)]
    if kind == "tgz":
        data = tar_bytes(big)[:40_000]
    elif kind == "zip":
        data = zip_bytes(big)[:-30]  # the central directory's end is missing
    else:
        import gzip

        data = gzip.compress(b"just a csv file, not a tar\n" * 100)
    archive = write(tmp_path / f"broken.{kind}", data)
    with pytest.raises(CorruptArchiveError, match="damaged or truncated"):
        extract_archive(archive, tmp_path / "broken")
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]


def test_a_gzip_missing_its_checksum_trailer(tmp_path):
    archive = write(tmp_path / "m.tgz", tar_bytes(DATASET)[:-8])  # every member is intact, the CRC is gone
    with pytest.raises(CorruptArchiveError, match="damaged or truncated"):
        extract_archive(archive, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_zip_member_with_a_bad_checksum(tmp_path):
    data = bytearray(zip_bytes([file_entry("d/a.bin", b"0123456789" * 1000)]))
    start = data.index(b"d/a.bin") + len(b"d/a.bin") + 10  # inside the first member's compressed bytes
    data[start] ^= 0xFF
    archive = write(tmp_path / "crc.zip", bytes(data))
    with pytest.raises(CorruptArchiveError, match="d/a.bin"):
        extract_archive(archive, tmp_path / "crc")
    assert not (tmp_path / "crc").exists()


def test_missing_archive_and_existing_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="no archive file"):
        extract_archive(tmp_path / "nope.tgz", tmp_path / "nope")
    archive = write(tmp_path / "m.tgz", tar_bytes(DATASET))
    (tmp_path / "m").mkdir()
    with pytest.raises(FileExistsError, match="replace=True"):
        extract_archive(archive, tmp_path / "m")


def test_encrypted_zip_member_is_reported(tmp_path):
    data = bytearray(zip_bytes([file_entry("secret.txt", b"hidden")]))
    # set the "encrypted" flag bit in the local header and the central directory entry
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= 0x01
    archive = write(tmp_path / "enc.zip", bytes(data))
    with pytest.raises(ArchiveError, match="secret.txt"):
        extract_archive(archive, tmp_path / "enc")
    assert not (tmp_path / "enc").exists()


# -------------------------------------------------------------------------------- replace, interrupt


def test_replace_swaps_in_the_new_copy(tmp_path):
    dest = tmp_path / "m"
    extract_archive(write(tmp_path / "v1.tgz", tar_bytes([file_entry("m/v.txt", b"one")])), dest)
    extract_archive(
        write(tmp_path / "v2.tgz", tar_bytes([file_entry("m/v.txt", b"two")])), dest, replace=True
    )
    assert (dest / "v.txt").read_bytes() == b"two"
    assert leftovers(tmp_path) == []


def test_a_failed_replace_keeps_the_old_copy(tmp_path):
    dest = tmp_path / "m"
    extract_archive(write(tmp_path / "v1.tgz", tar_bytes([file_entry("m/v.txt", b"one")])), dest)
    broken = write(tmp_path / "v2.tgz", tar_bytes([file_entry("m/v.txt", os.urandom(50_000))])[:20_000])
    with pytest.raises(CorruptArchiveError):
        extract_archive(broken, dest, replace=True)
    assert (dest / "v.txt").read_bytes() == b"one"
    assert leftovers(tmp_path) == []


KILLED_EXTRACTION = textwrap.dedent(
    """
    import sys, time
    import lamina.core.data.archive as archive

    copy = archive._copy

    def copy_then_hang(*args):
        copy(*args)
        print("one member written", flush=True)
        time.sleep(60)

    archive._copy = copy_then_hang
    archive.extract_archive(sys.argv[1], sys.argv[2])
    """
)


@pytest.mark.skipif(os.name != "posix", reason="kills a child process with SIGKILL")
def test_a_killed_extraction_leaves_no_target_and_the_next_call_cleans_up(tmp_path):
    archive = write(tmp_path / "mnist_tiny.tgz", tar_bytes(DATASET))
    dest = tmp_path / "data" / "mnist_tiny"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXTRACTION, str(archive), str(dest)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "one member written"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    debris = leftovers(dest.parent)
    assert len(debris) == 1 and debris[0].startswith(".mnist_tiny.")  # the killed run's staging folder
    assert not dest.exists()
    extract_archive(archive, dest)
    check_dataset(dest)
    assert leftovers(dest.parent) == []


def test_staging_of_a_live_process_is_left_alone(tmp_path):
    dest = tmp_path / "m"
    live = staging_path(dest, directory=True)  # this process is alive: a concurrent extraction
    started = time.time()
    extract_archive(write(tmp_path / "m.tgz", tar_bytes(DATASET)), dest)
    assert live.is_dir() and time.time() - started < 10
    check_dataset(dest)

"""URLs, the home folder, download_url and untar_data, against archives served from 127.0.0.1."""

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lamina.core.data.archive import CorruptArchiveError, UnsafeArchiveError
from lamina.core.data.download import DownloadError, DownloadUnreachableError, VerificationError, download_url
from lamina.core.data.external import (
    UnverifiedDownloadWarning,
    URLs,
    archive_path,
    data_path,
    lamina_home,
    untar_data,
)
from lamina.core.plugins import AUTOLOAD_ENV, DatasetSpec, hookimpl, register, reset_plugins
from lamina.core.plugins.registry import RegistryKeyError

# ------------------------------------------------------------------------------------ test archives


def tgz(files, top="ds"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zipped(files, top="ds"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"{top}/{name}", data)
    return buffer.getvalue()


FILES = {"train/3/a.png": b"three", "train/7/b.png": b"seven", "labels.csv": b"name,label\n"}
GOOD_TGZ = tgz(FILES)
GOOD_ZIP = zipped(FILES)
BIG_TGZ = tgz({f"blob{i}.bin": os.urandom(60_000) for i in range(4)})


def sha(data):
    return hashlib.sha256(data).hexdigest()


def check_extracted(path):
    assert (path / "train" / "3" / "a.png").read_bytes() == b"three"
    assert (path / "train" / "7" / "b.png").read_bytes() == b"seven"
    assert sorted(p.name for p in path.iterdir()) == ["labels.csv", "train"]


def all_files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ------------------------------------------------------------------------------------- local server


@dataclass
class Route:
    body: bytes
    announce: int | None = None  # Content-Length to send, if not len(body): more means a broken transfer
    stall_after: int | None = None  # send this many bytes, then wait until `release` is set
    status: int = 200


class LocalServer:
    """An HTTP server on 127.0.0.1 (only) serving `routes`; `hits` counts requests per path."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.release = threading.Event()
        self.sent_stalled = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(route.status)
                self.send_header("Content-Length", str(route.announce or len(route.body)))
                self.end_headers()
                if route.stall_after is not None:
                    self.wfile.write(route.body[: route.stall_after])
                    self.wfile.flush()
                    server.sent_stalled.set()
                    server.release.wait(timeout=30)
                    self.wfile.write(route.body[route.stall_after :])
                else:
                    self.wfile.write(route.body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.running = True

    def serve(self, path, body, **options):
        self.routes[path] = Route(body, **options)
        return f"{self.base}{path}"

    def stop(self):
        if self.running:
            self.release.set()
            self.httpd.shutdown()
            self.httpd.server_close()
            self.running = False


@pytest.fixture
def server():
    local = LocalServer()
    yield local
    local.stop()


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 that nothing listens on (connecting is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def datasets(monkeypatch):
    """Register DatasetSpecs through a test plugin (installed plugins off); restore the registry after."""
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    reset_plugins()

    def _register(*specs):
        class TestDatasets:
            @hookimpl
            def lamina_datasets(self):
                return specs

        register(TestDatasets(), name="test_datasets")
        return specs

    yield _register
    reset_plugins()


@pytest.fixture
def no_unverified_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedDownloadWarning)
        yield


def left_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------------------------ home and URLs


def test_home_comes_from_the_environment(home, monkeypatch):
    assert lamina_home() == home
    assert archive_path() == home / "archive" and data_path() == home / "data"
    monkeypatch.delenv("LAMINA_HOME")
    assert lamina_home() == Path("~/.lamina").expanduser()


def test_urls_lists_and_resolves_registered_datasets(datasets, home):
    datasets(
        DatasetSpec("LAMINA_TINY", "https://example.org/sets/lamina_tiny.tgz", size=10),
        DatasetSpec("LAMINA_ZIP", "https://example.org/sets/lamina-zip.zip"),
    )
    assert URLs.LAMINA_TINY == "https://example.org/sets/lamina_tiny.tgz"
    assert {"LAMINA_TINY", "LAMINA_ZIP", "path"} <= set(dir(URLs))
    assert URLs.path(URLs.LAMINA_TINY) == home / "archive" / "lamina_tiny.tgz"
    assert URLs.path("LAMINA_ZIP", c_key="data") == home / "data" / "lamina-zip"
    assert URLs.path("https://example.org/other.tar.gz", "data") == home / "data" / "other"
    with pytest.raises(ValueError, match="c_key"):
        URLs.path(URLs.LAMINA_TINY, c_key="models")


def test_unknown_name_lists_close_matches_and_the_providing_package(datasets):
    datasets(DatasetSpec("LAMINA_TINY", "https://example.org/lamina_tiny.tgz"))
    with pytest.raises(AttributeError) as info:
        _ = URLs.LAMINA_TINNY
    message = str(info.value)
    assert "LAMINA_TINNY" in message and "LAMINA_TINY (from plugin 'test_datasets')" in message
    with pytest.raises(AttributeError) as info:
        _ = URLs.PETS  # a fastai name whose plugin is not loaded
    assert "lamina-vision" in str(info.value) and "pip install lamina-vision" in str(info.value)
    with pytest.raises(AttributeError) as info:
        _ = URLs.mnist_tiny
    assert "MNIST_TINY (from lamina-vision, not loaded)" in str(info.value)
    with pytest.raises(AttributeError):
        _ = URLs.__wrapped__
    with pytest.raises(RegistryKeyError, match="LAMINA_TINY"):
        untar_data("LAMINA_TINNY")


# -------------------------------------------------------------------------------------- download_url


def test_download_url_writes_the_file(server, tmp_path, capsys):
    url = server.serve("/d/data.tgz", GOOD_TGZ)
    dest = download_url(url, tmp_path / "out" / "saved.tgz", sha256=sha(GOOD_TGZ), size=len(GOOD_TGZ))
    assert dest == tmp_path / "out" / "saved.tgz" and dest.read_bytes() == GOOD_TGZ
    assert "data.tgz" in capsys.readouterr().err  # the progress bar
    assert download_url(url, tmp_path / "out", show_progress=False) == tmp_path / "out" / "data.tgz"
    assert capsys.readouterr().err == ""
    assert left_in(tmp_path / "out") == ["data.tgz", "saved.tgz"]


def test_download_is_written_beside_dest_and_renamed_when_complete(server, tmp_path):
    url = server.serve("/slow.tgz", BIG_TGZ, stall_after=100_000)
    dest = tmp_path / "slow.tgz"
    worker = threading.Thread(target=download_url, args=(url, dest), kwargs={"show_progress": False})
    worker.start()
    try:
        assert server.sent_stalled.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(p.stat().st_size for p in tmp_path.iterdir()):
            time.sleep(0.01)
        (partial,) = tmp_path.iterdir()
        assert partial.name.startswith(".slow.tgz.") and partial.stat().st_size > 0
        assert not dest.exists()
    finally:
        server.release.set()
        worker.join(timeout=10)
    assert dest.read_bytes() == BIG_TGZ and left_in(tmp_path) == ["slow.tgz"]


@pytest.mark.parametrize(
    "case, check, expected, actual",
    [
        ("bad-sha256", "sha256", sha(GOOD_TGZ), sha(GOOD_ZIP)),
        ("short", "size", len(GOOD_TGZ) + 5, len(GOOD_TGZ)),
    ],
)
def test_a_mismatch_deletes_the_download_and_names_url_expected_actual(
    server, tmp_path, case, check, expected, actual
):
    body = GOOD_ZIP if check == "sha256" else GOOD_TGZ
    url = server.serve(f"/{case}.tgz", body)
    with pytest.raises(VerificationError) as info:
        download_url(url, tmp_path / "x.tgz", **{check: expected})
    message = str(info.value)
    assert url in message and str(expected) in message and str(actual) in message
    assert (info.value.url, info.value.what, info.value.expected, info.value.actual) == (
        url,
        check,
        expected,
        actual,
    )
    assert left_in(tmp_path) == []


def test_a_transfer_cut_short_is_an_error_and_leaves_nothing(server, tmp_path):
    url = server.serve("/cut.tgz", GOOD_TGZ[:100], announce=len(GOOD_TGZ))
    with pytest.raises(
        DownloadError, match=rf"cut short: the server announced {len(GOOD_TGZ)} bytes but sent 100"
    ):
        download_url(url, tmp_path / "cut.tgz")
    assert left_in(tmp_path) == []


def test_http_errors_and_unreachable_servers(server, tmp_path, closed_port):
    missing = f"{server.base}/missing.tgz"
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        download_url(missing, tmp_path / "m.tgz")
    assert missing in str(info.value) and not isinstance(info.value, DownloadUnreachableError)
    refused = f"http://127.0.0.1:{closed_port}/x.tgz"
    with pytest.raises(DownloadUnreachableError, match="connection was refused") as info:
        download_url(refused, tmp_path / "x.tgz")
    assert refused in str(info.value) and isinstance(info.value, ConnectionError)
    assert left_in(tmp_path) == []


def test_a_server_that_never_answers_times_out(tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x.tgz"
        with pytest.raises(DownloadUnreachableError, match="timed out"):
            download_url(url, tmp_path / "x.tgz", timeout=0.3)
    assert left_in(tmp_path) == []


def test_download_url_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="sha256 must be 64 hexadecimal digits"):
        download_url("http://127.0.0.1:9/x.tgz", tmp_path / "x", sha256="abc")
    with pytest.raises(ValueError, match="size must be a positive"):
        download_url("http://127.0.0.1:9/x.tgz", tmp_path / "x", size=0)
    with pytest.raises(ValueError, match="timeout"):
        download_url("http://127.0.0.1:9/x.tgz", tmp_path / "x", timeout=0)
    with pytest.raises(ValueError, match="expected an http/https/file url"):
        download_url("ftp://127.0.0.1/x.tgz", tmp_path / "x")
    with pytest.raises(ValueError, match="does not end in a file name"):
        download_url("http://127.0.0.1:9/a/..%2F..%2Fevil", tmp_path / "x")
    assert left_in(tmp_path) == []


# --------------------------------------------------------------------------------------- untar_data


def test_registered_tgz_and_zip_are_downloaded_verified_and_extracted(
    server, datasets, home, no_unverified_warning
):
    tiny = server.serve("/sets/lamina_tiny.tgz", GOOD_TGZ)
    as_zip = server.serve("/sets/lamina_zip.zip", GOOD_ZIP)
    datasets(
        DatasetSpec("LAMINA_TINY", tiny, size=len(GOOD_TGZ), sha256=sha(GOOD_TGZ)),
        DatasetSpec("LAMINA_ZIP", as_zip, sha256=sha(GOOD_ZIP)),
    )
    path = untar_data(URLs.LAMINA_TINY)
    assert path == home / "data" / "lamina_tiny" == URLs.path(tiny, "data")
    check_extracted(path)
    assert (home / "archive" / "lamina_tiny.tgz").read_bytes() == GOOD_TGZ
    by_name = untar_data("LAMINA_ZIP")
    assert by_name == home / "data" / "lamina_zip"
    check_extracted(by_name)
    assert left_in(home / "archive") == ["lamina_tiny.tgz", "lamina_zip.zip"]
    assert left_in(home / "data") == ["lamina_tiny", "lamina_zip"]


def test_archive_and_data_folders_can_be_chosen(server, tmp_path):
    url = server.serve("/x.tgz", GOOD_TGZ)
    path = untar_data(url, archive=tmp_path / "a", data=tmp_path / "d", sha256=sha(GOOD_TGZ))
    assert path == tmp_path / "d" / "x" and (tmp_path / "a" / "x.tgz").is_file()
    check_extracted(path)


def test_extracted_data_is_reused_without_the_network(server, datasets, home):
    url = server.serve("/r.tgz", GOOD_TGZ)
    datasets(DatasetSpec("LAMINA_R", url, sha256=sha(GOOD_TGZ)))
    first = untar_data(url)
    server.stop()
    (home / "archive" / "r.tgz").unlink()  # not even the archive is needed
    assert untar_data(url) == first and untar_data("LAMINA_R") == first
    assert server.hits == {"/r.tgz": 1}
    check_extracted(first)


def test_force_download_fetches_and_replaces(server, home):
    url = server.serve("/v.tgz", tgz({"v.txt": b"one"}))
    path = untar_data(url, sha256=sha(tgz({"v.txt": b"one"})))
    version_two = tgz({"v.txt": b"two"})
    server.serve("/v.tgz", version_two)
    assert (untar_data(url, sha256=sha(version_two)) / "v.txt").read_bytes() == b"one"  # reused
    assert untar_data(url, force_download=True, sha256=sha(version_two)) == path
    assert (path / "v.txt").read_bytes() == b"two"
    assert (home / "archive" / "v.tgz").read_bytes() == version_two
    assert server.hits == {"/v.tgz": 2}
    assert left_in(home / "data") == ["v"]


def test_force_download_while_offline_keeps_the_old_copy(server, home):
    url = server.serve("/keep.tgz", GOOD_TGZ)
    path = untar_data(url, sha256=sha(GOOD_TGZ))
    server.stop()
    with pytest.raises(DownloadUnreachableError):
        untar_data(url, force_download=True, sha256=sha(GOOD_TGZ))
    check_extracted(path)
    assert (home / "archive" / "keep.tgz").read_bytes() == GOOD_TGZ


def test_offline_error_says_where_to_put_the_archive_and_that_placement_works(datasets, closed_port, home):
    url = f"http://127.0.0.1:{closed_port}/sets/manual.tgz"
    datasets(DatasetSpec("LAMINA_MANUAL", url, size=len(GOOD_TGZ), sha256=sha(GOOD_TGZ)))
    with pytest.raises(DownloadUnreachableError) as info:
        untar_data(URLs.LAMINA_MANUAL)
    message = str(info.value)
    where = home / "archive" / "manual.tgz"
    assert f"could not reach {url}" in message and str(where) in message and sha(GOOD_TGZ) in message
    assert all_files(home) == ["archive"]
    where.write_bytes(GOOD_TGZ)  # the user puts the archive there by hand
    path = untar_data(URLs.LAMINA_MANUAL)
    check_extracted(path)


def test_a_wrong_archive_put_by_hand_is_refused_and_kept(datasets, closed_port, home):
    url = f"http://127.0.0.1:{closed_port}/sets/manual.tgz"
    datasets(DatasetSpec("LAMINA_MANUAL", url, sha256=sha(GOOD_TGZ)))
    where = home / "archive" / "manual.tgz"
    where.parent.mkdir(parents=True)
    where.write_bytes(GOOD_ZIP)
    with pytest.raises(VerificationError) as info:
        untar_data(url)
    assert (
        str(where) in str(info.value)
        and sha(GOOD_TGZ) in str(info.value)
        and sha(GOOD_ZIP) in str(info.value)
    )
    assert where.read_bytes() == GOOD_ZIP and not (home / "data" / "manual").exists()


def test_a_corrupt_download_is_deleted(server, datasets, home):
    url = server.serve("/bad.tgz", GOOD_ZIP)  # the registered sha256 is that of GOOD_TGZ
    datasets(DatasetSpec("LAMINA_BAD", url, sha256=sha(GOOD_TGZ)))
    with pytest.raises(VerificationError) as info:
        untar_data(URLs.LAMINA_BAD)
    message = str(info.value)
    assert url in message and sha(GOOD_TGZ) in message and sha(GOOD_ZIP) in message
    assert all_files(home) == ["archive"]


def test_a_truncated_download_fails_its_registered_size(server, datasets, home):
    url = server.serve("/short.tgz", GOOD_TGZ[: len(GOOD_TGZ) // 2])
    datasets(DatasetSpec("LAMINA_SHORT", url, size=len(GOOD_TGZ)))
    with pytest.raises(
        VerificationError, match=rf"expected size {len(GOOD_TGZ)} bytes, got {len(GOOD_TGZ) // 2}"
    ):
        untar_data(url)
    assert all_files(home) == ["archive"]


def test_a_truncated_gzip_is_a_clear_error_and_leaves_nothing(server, home):
    broken = BIG_TGZ[: len(BIG_TGZ) // 2]
    url = server.serve("/half.tgz", broken)
    with pytest.raises(CorruptArchiveError, match="damaged or truncated") as info:
        untar_data(url, sha256=sha(broken))
    assert "half.tgz" in str(info.value) and "was deleted" in str(info.value)
    assert all_files(home) == ["archive", "data"]


def test_a_download_that_is_not_an_archive_leaves_nothing(server, home):
    page = b"<html>Sign in to continue</html>"
    url = server.serve("/login.zip", page)
    with pytest.raises(CorruptArchiveError, match="not a valid tar or zip archive"):
        untar_data(url, sha256=sha(page))
    assert all_files(home) == ["archive", "data"]


@pytest.mark.parametrize(
    "files, member",
    [
        ({"../evil": b"x"}, "../evil"),
        ({"/tmp/lamina-untar-evil": b"x"}, "/tmp/lamina-untar-evil"),
    ],
)
def test_a_malicious_archive_is_refused_naming_the_member(server, home, files, member):
    body = tgz(files, top=None)
    url = server.serve("/evil.tgz", body)
    with pytest.raises(UnsafeArchiveError) as info:
        untar_data(url, sha256=sha(body))
    assert info.value.member == member and repr(member) in str(info.value)
    assert all_files(home) == ["archive", "data"]
    assert not Path("/tmp/lamina-untar-evil").exists()


def test_a_malicious_symlink_is_refused(server, home):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("ds/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../outside"
        tar.addfile(link)
    url = server.serve("/link.tgz", buffer.getvalue())
    with pytest.raises(UnsafeArchiveError, match="ds/escape"):
        untar_data(url, sha256=sha(buffer.getvalue()))
    assert all_files(home) == ["archive", "data"]


def test_an_unregistered_url_with_sha256_is_verified(server, home, no_unverified_warning):
    url = server.serve("/plain.tgz", GOOD_TGZ)
    check_extracted(untar_data(url, sha256=sha(GOOD_TGZ).upper()))
    other = server.serve("/other.tgz", GOOD_TGZ)
    with pytest.raises(VerificationError, match="sha256"):
        untar_data(other, sha256=sha(GOOD_ZIP))
    assert left_in(home / "archive") == ["plain.tgz"]


def test_an_unregistered_url_without_sha256_warns_with_the_digest(server):
    url = server.serve("/unverified.tgz", GOOD_TGZ)
    with pytest.warns(UnverifiedDownloadWarning, match="not a registered dataset") as record:
        path = untar_data(url)
    check_extracted(path)
    assert sha(GOOD_TGZ) in str(record[0].message) and url in str(record[0].message)


def test_a_registered_dataset_with_only_a_size_warns_its_content_is_unverified(server, datasets):
    url = server.serve("/sized.tgz", GOOD_TGZ)
    datasets(DatasetSpec("LAMINA_SIZED", url, size=len(GOOD_TGZ)))
    with pytest.warns(UnverifiedDownloadWarning, match="only its size was checked"):
        untar_data(URLs.LAMINA_SIZED)


def test_a_sha256_contradicting_the_registry_is_refused_before_downloading(server, datasets):
    url = server.serve("/reg.tgz", GOOD_TGZ)
    datasets(DatasetSpec("LAMINA_REG", url, sha256=sha(GOOD_TGZ)))
    with pytest.raises(ValueError, match="contradicts"):
        untar_data(url, sha256=sha(GOOD_ZIP))
    assert server.hits == {}


KILLED_DOWNLOAD = textwrap.dedent(
    """
    import sys
    from lamina.core.data.external import untar_data
    untar_data(sys.argv[1], sha256=sys.argv[2])
    """
)


@pytest.mark.skipif(os.name != "posix", reason="kills a child process with SIGKILL")
def test_a_killed_download_leaves_no_archive_and_the_next_call_cleans_up(server, home):
    url = server.serve("/killed.tgz", BIG_TGZ, stall_after=50_000)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_DOWNLOAD, url, sha(BIG_TGZ)], stderr=subprocess.DEVNULL
    )
    try:
        assert server.sent_stalled.wait(timeout=20)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            p.stat().st_size for p in (home / "archive").glob(".*")
        ):
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    (debris,) = left_in(home / "archive")
    assert debris.startswith(".killed.tgz.")  # half a download, under a staging name only
    server.routes["/killed.tgz"] = Route(BIG_TGZ)
    path = untar_data(url, sha256=sha(BIG_TGZ))
    assert left_in(home / "archive") == ["killed.tgz"] and left_in(home / "data") == ["killed"]
    assert len(list(path.iterdir())) == 4


def test_a_file_url_works_like_any_other(tmp_path, home, no_unverified_warning):
    local = tmp_path / "local.tgz"
    local.write_bytes(GOOD_TGZ)
    path = untar_data(local.as_uri(), sha256=sha(GOOD_TGZ))
    assert path == home / "data" / "local"
    check_extracted(path)


def test_concurrent_calls_for_one_dataset_agree(server, home):
    url = server.serve("/both.tgz", BIG_TGZ, stall_after=10_000)
    results, errors = [], []

    def call():
        try:
            results.append(untar_data(url, sha256=sha(BIG_TGZ)))
        except Exception as exc:  # collected and reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    server.sent_stalled.wait(timeout=10)
    time.sleep(0.05)  # let both requests reach the server
    server.release.set()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == [] and results == [home / "data" / "both"] * 2
    assert len(list(results[0].iterdir())) == 4
    assert left_in(home / "archive") == ["both.tgz"] and left_in(home / "data") == ["both"]

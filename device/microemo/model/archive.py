"""Update archives: fetched over HTTP(S) into memory within a size and time limit, and
unpacked (top-level regular files only) for the store to verify.

Nothing here is trusted: the caller pins the archive's sha256 from a signed command before
unpacking, and the store verifies the bundle's own signature and hashes afterwards.
"""

from __future__ import annotations

import http.client
import io
import logging
import socket
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from microemo.model.bundle import BundleError

logger = logging.getLogger(__name__)

TOTAL_TIMEOUTS = 10  # the whole transfer may take this many ``download_timeout_s``


class DownloadError(BundleError):
    """The archive could not be fetched (network, server, time limit): nothing was checked or
    changed, and the same command may be tried again."""


class _Deadline:
    """Shuts down every socket of one download when its time is up, so that a read blocked
    on a server that trickles a byte now and then returns at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.expired = False

    def track(self, sock: socket.socket | None) -> None:
        with self._lock:
            if sock is not None:
                self._socks.append(sock)
            if self.expired:
                self._shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket | None) -> None:
        try:  # the plain socket's shutdown, also under TLS: a blocked read sees EOF
            if sock is not None:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    def tracked(cls: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
        class Tracked(cls):  # type: ignore[valid-type,misc]
            def connect(self) -> None:
                super().connect()
                deadline.track(self.sock)

        return Tracked

    class Http(urllib.request.HTTPHandler):
        def do_open(self, http_class: Any, req: Any, **kw: Any) -> Any:
            return super().do_open(tracked(http_class), req, **kw)

    class Https(urllib.request.HTTPSHandler):
        def do_open(self, http_class: Any, req: Any, **kw: Any) -> Any:
            return super().do_open(tracked(http_class), req, **kw)

    return urllib.request.build_opener(Http(), Https())


def download(url: str, limit: int, timeout_s: float) -> bytes:
    """GET ``url`` (http or https) into memory; refuse past ``limit`` bytes. Each connect and
    read waits at most ``timeout_s``, and the whole transfer (redirects, headers, body) ends
    after ``TOTAL_TIMEOUTS`` x ``timeout_s`` whatever the server does: a server that trickles
    a byte every few seconds cannot hold the update worker. Failures raise ``DownloadError``."""
    if not url.startswith(("https://", "http://")):
        raise BundleError(f"url {url!r}: only http:// and https:// are fetched")
    total_s = TOTAL_TIMEOUTS * timeout_s
    deadline = _Deadline()
    timer = threading.Timer(total_s, deadline.expire)
    timer.daemon = True
    timer.start()
    too_slow = DownloadError(
        f"{url}: not complete after {total_s:g} s ({TOTAL_TIMEOUTS} x "
        "model.download_timeout_s): aborted; the running model is kept"
    )
    try:
        data = _fetch(_opener(deadline), url, limit, timeout_s)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        if deadline.expired:
            raise too_slow from None
        reason = getattr(exc, "reason", exc)
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP {exc.code} {exc.reason}"
        failed = f"{url}: download failed ({reason}); the running model is kept"
        raise DownloadError(failed) from exc
    finally:
        timer.cancel()
    if deadline.expired:  # the body ended because its socket was shut: it is partial
        raise too_slow
    return data


def _fetch(opener: urllib.request.OpenerDirector, url: str, limit: int, timeout_s: float) -> bytes:
    with opener.open(url, timeout=timeout_s) as resp:
        length = resp.headers.get("Content-Length")
        if length is not None and int(length) > limit:
            raise BundleError(f"{url}: {length} bytes, over model.max_bundle_bytes={limit}")
        buf = io.BytesIO()
        while block := resp.read1(65536):  # returns what one recv brought
            buf.write(block)
            if buf.tell() > limit:
                raise BundleError(f"{url}: more than model.max_bundle_bytes={limit} bytes")
        if length is not None and buf.tell() < int(length):
            raise http.client.IncompleteRead(buf.getvalue(), int(length) - buf.tell())
        return buf.getvalue()


def unpack(archive: bytes, dest: Path, limit: int) -> Path:
    """Extract the top-level regular files of a tar(.gz) into ``dest``; anything else (links,
    devices, paths) is refused, and the unpacked total is bounded by ``limit``."""
    dest.mkdir(parents=True)
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if member.isdir() and name in ("", "."):
                    continue
                if not member.isfile() or "/" in name or name in ("", ".", ".."):
                    raise BundleError(f"archive member {member.name!r}: only top-level files")
                total += member.size
                if total > limit:
                    raise BundleError(f"archive unpacks past model.max_bundle_bytes={limit}")
                src = tar.extractfile(member)
                assert src is not None
                (dest / name).write_bytes(src.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"archive is not a readable tar(.gz): {exc}") from exc
    return dest

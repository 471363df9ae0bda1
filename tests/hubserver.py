"""A tiny HTTP server on 127.0.0.1 that answers like the Hugging Face Hub for ``hf_hub_download``.

``HEAD/GET /{repo_id}/resolve/{revision}/{filename}`` with the headers huggingface_hub reads
(``file_download.get_hf_file_metadata`` and ``http_get``): ``X-Repo-Commit``, ``ETag`` and, for "LFS" files,
``X-Linked-Etag`` (the sha256) + ``X-Linked-Size``, ``Content-Length``, ``Accept-Ranges``; ``Range`` requests
get ``206`` with ``Content-Range``.  Unknown repos/files get 404 with ``X-Error-Code`` (``RepoNotFound`` /
``EntryNotFound``) like the Hub.  Plain files (for ``url`` sources) are served under ``/raw/<path>``.

Test hooks: :attr:`HubServer.requests` logs (method, path, Range header); :meth:`HubServer.interrupt_next`
makes the next full GET of a path send only part of the body and then drop the connection;
:attr:`HubServer.gated` answers a repo's files with 401 or 403 and ``X-Error-Code: GatedRepo`` like a gated
repo for a visitor without access; :attr:`HubServer.delay` sleeps that many seconds per 64 KiB sent (slow
downloads, to watch progress and cancel); :attr:`HubServer.redirect_host` answers file GETs with a 302 to
``/raw/lfs/<sha256>`` on that host name (e.g. ``localhost`` for a server bound to 127.0.0.1), as the Hub
sends LFS files to its CDN; :attr:`HubServer.auth` logs each request's Authorization header.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubServer:
    """Files by repo id and filename, plus plain files by path; start with :meth:`start`."""

    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    gated: dict[str, int] = field(default_factory=dict)  # repo id -> 401 | 403
    delay: float = 0.0  # seconds per 64 KiB of body sent
    redirect_host: str | None = None  # GET of a repo file -> 302 to http://<host>:<port>/raw/lfs/<sha256>
    auth: list[str | None] = field(default_factory=list)  # Authorization header per request
    _interrupt: dict[str, int] = field(default_factory=dict)

    def add(self, repo_id: str, filename: str, data: bytes) -> None:
        self.repos.setdefault(repo_id, {})[filename] = data

    def interrupt_next(self, path: str, after: int) -> None:
        """The next GET of ``path`` without Range sends ``after`` bytes, then closes the connection."""
        self._interrupt[path] = after

    def start(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                path = unquote(self.path.split("?")[0])
                rng = self.headers.get("Range")
                server.requests.append((self.command, path, rng))
                server.auth.append(self.headers.get("Authorization"))
                data, headers = server._lookup(path)
                if data is not None and server.redirect_host and self.command == "GET" and "/resolve/" in path:
                    lfs = f"lfs/{hashlib.sha256(data).hexdigest()}"
                    server.raw[lfs] = data
                    self.send_response(302)
                    self.send_header("Location", f"http://{server.redirect_host}:{server._httpd.server_address[1]}/raw/{lfs}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if data is None:
                    self.send_response(int(headers.pop("_status", 404)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, status = 0, 200
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                cut = server._interrupt.pop(path, None) if not rng else None
                if cut is not None:
                    self.wfile.write(data[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if not server.delay:
                    self.wfile.write(data[start:])
                    return
                try:
                    for i in range(start, len(data), 1 << 16):
                        self.wfile.write(data[i : i + (1 << 16)])
                        self.wfile.flush()
                        time.sleep(server.delay)
                except OSError:  # the client went away (a cancelled download)
                    self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _lookup(self, path: str) -> tuple[bytes | None, dict[str, str]]:
        if path.startswith("/raw/"):
            data = self.raw.get(path[len("/raw/") :])
            return data, ({} if data is not None else {"X-Error-Message": "not found"})
        if "/resolve/" not in path:
            return None, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}
        repo_id, rest = path.lstrip("/").split("/resolve/", 1)
        _revision, _, filename = rest.partition("/")
        if repo_id in self.gated:
            msg = f"Access to model {repo_id} is restricted. You must have access to it and be authenticated."
            return None, {"_status": str(self.gated[repo_id]), "X-Error-Code": "GatedRepo", "X-Error-Message": msg}
        if repo_id not in self.repos:
            return None, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}
        data = self.repos[repo_id].get(filename)
        if data is None:
            headers = {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found", "X-Repo-Commit": COMMIT}
            return None, headers
        sha = hashlib.sha256(data).hexdigest()
        headers = {
            "X-Repo-Commit": COMMIT,
            "ETag": f'"{hashlib.sha1(data).hexdigest()}"',  # noqa: S324 - a git-style blob id, not security
            "X-Linked-Etag": f'"{sha}"',
            "X-Linked-Size": str(len(data)),
            "Content-Type": "application/octet-stream",
        }
        return data, headers

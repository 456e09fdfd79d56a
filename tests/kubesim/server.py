"""HTTP/1.1 plumbing: a threading server (one thread per connection,
keep-alive), optional TLS with the handshake done in the connection's own
thread, plain responses written in one send, and chunked watch streams.
"""

import http.server
import socket
import ssl
import sys
import traceback
import urllib.parse

import apierrors
from api import Request, Response, WatchPlan
from apierrors import ApiError
from watchhub import error_event, run_stream


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    sys_version = ""

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("kubesim: %s %s\n" % (self.address_string(), fmt % args))

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        body = self._read_body()
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(
            url.query, keep_blank_values=True).items()}
        req = Request(self.command, urllib.parse.unquote(url.path), query, self.headers, body)
        try:
            result = self.server.cluster.api.handle(req)
        except ApiError as exc:
            result = Response(exc.code, exc.body(), exc.headers,
                              getattr(exc, "content_type", "application/json"))
        except Exception as exc:  # noqa: BLE001 - answer 500 like the apiserver would
            traceback.print_exc()
            result = Response(500, apierrors.status_body(500, "InternalError", repr(exc)))
        if isinstance(result, WatchPlan):
            self._stream(result)
        else:
            self._send(result)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _send(self, resp):
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        # Headers and body in one write: no Nagle/delayed-ACK stalls.
        self._headers_buffer.append(b"\r\n" + resp.body)
        self.flush_headers()

    def _write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _stream(self, plan):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        cluster = self.server.cluster
        if plan.error is not None:
            ok = True
            try:
                self._write_chunk(error_event(plan.error))
            except OSError:
                ok = False
        else:
            plan.watcher.sock = self.connection
            ok = run_stream(self._write_chunk, cluster.store, plan.watcher, plan.initial,
                            plan.timeout, plan.bookmarks, cluster.bookmark_interval)
        if ok:
            try:
                self.wfile.write(b"0\r\n\r\n")
                return
            except OSError:
                pass
        self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    # Connection threads (idle keep-alives, long watches) must not delay exit.
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port, cluster, verbose=False, ssl_context=None):
        self.cluster = cluster
        self.verbose = verbose
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", port), Handler)

    def finish_request(self, request, client_address):
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        # Runs in the connection's thread, so a slow handshake blocks nobody.
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        tls.settimeout(None)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def tls_context(cert_file, key_file):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx

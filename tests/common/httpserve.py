"""The serving side every test HTTP server shares (githttp, mock_anthropic,
the forge doubles): a threading server on loopback that prints
"listening on URL" once it serves and exits 0 on SIGTERM or SIGINT, the
line tests/common/servers.py waits for. Standard library only."""
import http.server
import signal
import threading


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


def serve(srv, url=None):
    """Announces srv (url, else its http://127.0.0.1:PORT) and serves it
    until SIGTERM or SIGINT. Returns 0, the exit status."""
    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening on %s" % (url or "http://127.0.0.1:%d" % srv.server_address[1]), flush=True)
    srv.serve_forever(poll_interval=0.1)
    srv.server_close()
    return 0

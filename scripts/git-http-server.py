#!/usr/bin/env python3
"""A git server for tests, benchmarks and the demo: `git http-backend` (smart HTTP) behind
Python's CGI HTTP server, on 127.0.0.1 and a free port.

Usage: git-http-server.py ROOT   (serves ROOT/repos/*.git as /git/http/<name>.git; ROOT/git/http
must be the CGI wrapper that runs git http-backend). Writes ROOT/port and ROOT/pid once
listening. With GIT_SERVER_TOKEN set, requests need x-access-token:<token> basic auth; with
GIT_SERVER_PORT set, it listens on that port (a server brought up again where it was).
"""
import base64, io, os, sys, http.server, socketserver
root, token = sys.argv[1], os.environ.get("GIT_SERVER_TOKEN")
class Handler(http.server.CGIHTTPRequestHandler):
    cgi_directories = ["/git"]
    have_fork = False  # run the CGI through subprocess, as this user (forking would setuid nobody)
    def log_message(self, *args): pass
    def authorized(self):
        if not token:
            return True
        expected = "Basic " + base64.b64encode(("x-access-token:" + token).encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False
    def do_GET(self):
        if self.authorized(): super().do_GET()
    def do_POST(self):
        if not self.authorized():
            return
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            # libgit2 pushes with a chunked body; the CGI handler reads Content-Length only.
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
            original = self.rfile
            class Body(io.BytesIO):
                _sock = original._sock
            self.rfile = Body(bytes(body))
            del self.headers["Transfer-Encoding"]
            del self.headers["Content-Length"]
            self.headers["Content-Length"] = str(len(body))
        super().do_POST()
os.chdir(root)
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
server = Server(("127.0.0.1", int(os.environ.get("GIT_SERVER_PORT", "0"))), Handler)
if os.path.exists(os.path.join(root, "port")):
    os.remove(os.path.join(root, "port"))
with open(os.path.join(root, "pid"), "w") as f:
    f.write(str(os.getpid()))
with open(os.path.join(root, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(root, "port.tmp"), os.path.join(root, "port"))
server.serve_forever()

#!/usr/bin/env python3
"""A minimal terraform HTTP state backend for scripts/bench-migrate.sh (not a test helper: the
tests use tests/it/http_state.rs). GET/POST/DELETE /state/<name>, LOCK/UNLOCK /state/<name>
(423 when locked), basic auth USER:PASSWORD from the environment. In memory; a thread per
connection (clients keep connections alive).

Usage: HTTP_STATE_USER=u HTTP_STATE_PASSWORD=p http-state-server.py PORT
"""
import base64
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUTH = "Basic " + base64.b64encode(
    f"{os.environ['HTTP_STATE_USER']}:{os.environ['HTTP_STATE_PASSWORD']}".encode()
).decode()
STATES, LOCKS = {}, {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Authorization") != AUTH:
            return self.reply(401)
        name = self.path.split("?")[0].removeprefix("/state/")
        if self.command == "GET":
            return self.reply(200, STATES[name]) if name in STATES else self.reply(204)
        if self.command == "POST":
            STATES[name] = body
            return self.reply(200)
        if self.command == "DELETE":
            STATES.pop(name, None)
            return self.reply(200)
        if self.command == "LOCK":
            if name in LOCKS:
                return self.reply(423, LOCKS[name])
            LOCKS[name] = body
            return self.reply(200, body)
        if self.command == "UNLOCK":
            held = LOCKS.get(name)
            if held is not None and json.loads(held).get("ID") != json.loads(body or b"{}").get("ID"):
                return self.reply(423, held)
            LOCKS.pop(name, None)
            return self.reply(200)
        return self.reply(405)

    do_GET = do_POST = do_DELETE = do_LOCK = do_UNLOCK = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client closing its keep-alive connection is no error


Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

#!/usr/bin/python3
# vulnerable.py: a deliberately injectable JSON service for scan.py's self-test, which must see sqlmap
# find the injection here before its "not injectable" verdicts on aspida can mean anything. It answers
# like aspida does (JSON, errors masked: no SQL text, no 5xx), so sqlmap has to find the injection the
# way it would have to find one in aspida: by the answers' status and content, not by error messages.
#
#   vulnerable.py PORT      listens on 127.0.0.1:PORT until killed
#
# POST /buy {"asset_id": ...} builds its SQL by pasting asset_id into a string (the bug under test);
# every request needs "X-API-Key: good", else 401.

import json
import sqlite3
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

db = sqlite3.connect(":memory:", check_same_thread=False)
db.execute("CREATE TABLE assets (id TEXT, price TEXT)")
db.executemany("INSERT INTO assets VALUES (?, ?)", [("BTC", "64000"), ("ETH", "3000")])


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:
            pass    # sqlmap hangs up once it has what it needs

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        if self.headers.get("X-API-Key") != "good":
            return self.reply(401, {"error": "unauthorized"})
        try:
            asset = json.loads(raw)["asset_id"]
            rows = db.execute("SELECT price FROM assets WHERE id = '%s'" % asset).fetchall()
        except Exception:
            return self.reply(400, {"error": "invalid_input"})
        if not rows:
            return self.reply(404, {"error": "unknown_asset"})
        return self.reply(200, {"asset_id": "BTC", "price": rows[0][0]})

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

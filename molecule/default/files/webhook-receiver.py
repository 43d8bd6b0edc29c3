#!/usr/bin/python3
# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Molecule scenario's alert receiver: every POST body (Alertmanager's webhook JSON) becomes one line of
/var/lib/webhook/received.jsonl, which the verify tests read. Test tooling, never installed by the role."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

OUT = "/var/lib/webhook/received.jsonl"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            document = json.loads(body)
        except ValueError:
            document = {"unparsed": body.decode("utf-8", "replace")}
        with open(OUT, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(document, sort_keys=True) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    HTTPServer(("", int(sys.argv[1]) if len(sys.argv) > 1 else 9099), Handler).serve_forever()

#!/usr/bin/env python3
"""Fault-injecting HTTP(S) server for tests/net, loopback only.

URLs: /s/<id>/<fault>/<file>?<params>
  <id>     a name the test picks; request counters and the log are per id
  <fault>  what goes wrong (below); "ok" for nothing
  <file>   a file in --www; served with Range (206), ETag and Last-Modified

Every request is appended to <logdir>/<id> as one line:
  "<n> <status> <range-start or -> <bytes of body sent> <if-range or ->"
so tests can count what the server really sent (resume proof).

Faults (params in the query; n = bytes, k = count):
  ok            plain file server (Range, If-Range, If-None-Match)
  cut           first k (1) responses close cleanly after n body bytes
  reset         first response sends n bytes then a TCP reset
  stall         first response sends n bytes then stalls for s (30) seconds
  drip          every response sends `rate` (50) bytes/s, at most s (30) seconds
  fail500       first k (1) requests get 500, then the file
  status        always answers `code` (404) with a small body
  retryafter    first k (1) requests get `code` (429) with Retry-After: `ra` (1)
                seconds, or with date=1 the HTTP date `ra` seconds from now
  longer        Content-Length says the file's size, the body has `extra` more bytes
  nolength      no Content-Length, connection-delimited body of the file
  etag          ETag/Last-Modified/content change after the first request, which
                is cut at n; later requests ignore If-Range (206 of the new one)
  etagifrange   the same, but If-Range is honoured (200 with the new content)
  norange       Range is ignored (always 200); the first response is cut at n
  novalidator   no ETag, no Last-Modified, and the content changes after the first
                request, which is cut at n: resuming it would splice two files
  badrange      the first response is cut at n; later 206s carry a Content-Range that
                does not match the body: bad=end (one byte short) or bad=total (one
                byte more than the file)
  redirect      302 to `to` (a full URL)
  hold          a pause point: sends n bytes, then waits while <logdir>/hold-<id>
                exists (at most 300 s), then sends the rest
The "new" content of etag* is the file with every byte inverted.
Plain HTTP on a second port serves the same URLs (for --allow-http tests).
A third port is an HTTP CONNECT proxy (to 127.0.0.1 only) that logs each
tunnel as "CONNECT host:port" to <logdir>/proxy.
"""
import argparse
import email.utils
import hashlib
import os
import select
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse

MAX_HEADER = 16384
MAX_LIFETIME = 900  # the server exits by itself after this many seconds

state_lock = threading.Lock()
counters = {}


def next_count(ident):
    with state_lock:
        counters[ident] = counters.get(ident, 0) + 1
        return counters[ident]


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.settimeout(20)
        ctx = getattr(self.server, "ctx", None)
        if ctx:
            self.request = ctx.wrap_socket(self.request, server_side=True)

    def read_request(self):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(4096)
            if not chunk:
                return None
            data += chunk
            if len(data) > MAX_HEADER:
                return None
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return method, target, headers

    def send(self, data):
        self.request.sendall(data)

    def head(self, status, reason, fields):
        out = "HTTP/1.1 %d %s\r\n" % (status, reason)
        for k, v in fields:
            out += "%s: %s\r\n" % (k, v)
        out += "Connection: close\r\n\r\n"
        self.send(out.encode("latin-1"))

    def log(self, status, start, sent, if_range):
        path = os.path.join(self.server.logdir, self.ident)
        with state_lock:
            with open(path, "a") as f:
                f.write("%d %d %s %d %s\n" % (self.count, status,
                                              "-" if start is None else start, sent,
                                              if_range or "-"))

    def body(self, data, limit=None):
        """Send data (at most limit bytes) in writes of at most 16 KiB (one TLS
        record each); returns the bytes that went out before the client hung
        up, if it did."""
        if limit is not None:
            data = data[:limit]
        view = memoryview(data)
        sent = 0
        try:
            while sent < len(view):
                sent += self.request.send(view[sent:sent + 16384])
        except OSError:
            pass
        return sent

    def close_clean(self):
        try:
            if isinstance(self.request, ssl.SSLSocket):
                self.request.unwrap()  # TLS close_notify: a clean end of stream
            else:
                self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset(self):
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def handle(self):
        try:
            req = self.read_request()
        except (OSError, ValueError, ssl.SSLError):
            return
        if not req:
            return
        method, target, headers = req
        url = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.split("/")
        if len(parts) != 5 or parts[1] != "s" or "/" in parts[4] or parts[4].startswith("."):
            self.head(400, "Bad Request", [("Content-Length", "0")])
            return
        self.ident, fault, name = parts[2], parts[3], parts[4]
        self.count = next_count(self.ident)
        try:
            self.serve(method, fault, name, q, headers)
        except (OSError, ssl.SSLError):
            pass

    def serve(self, method, fault, name, q, headers):
        n = int(q.get("n", "0"))
        k = int(q.get("k", "1"))
        first = self.count <= k
        path = os.path.join(self.server.www, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            self.head(404, "Not Found", [("Content-Length", "0")])
            self.log(404, None, 0, None)
            return
        mtime = int(os.stat(path).st_mtime)
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        if fault in ("etag", "etagifrange", "novalidator") and self.count > 1:
            data = bytes(b ^ 0xFF for b in data)
            etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
            mtime += 3600
        last_modified = email.utils.formatdate(mtime, usegmt=True)
        if_range = headers.get("if-range")

        if fault == "status":
            code = int(q.get("code", "404"))
            msg = b"no such thing here\n"
            self.head(code, "Error", [("Content-Length", str(len(msg)))])
            self.log(code, None, self.body(msg), if_range)
            return
        if fault == "retryafter" and first:
            code = int(q.get("code", "429"))
            ra = q.get("ra", "1")
            if q.get("date"):  # the HTTP-date form, ra seconds from now
                ra = email.utils.formatdate(time.time() + int(ra), usegmt=True)
            self.head(code, "Slow Down", [("Retry-After", ra), ("Content-Length", "0")])
            self.log(code, None, 0, if_range)
            return
        if fault == "fail500" and first:
            msg = b"internal error\n"
            self.head(500, "Internal Server Error", [("Content-Length", str(len(msg)))])
            self.log(500, None, self.body(msg), if_range)
            return
        if fault == "redirect":
            self.head(302, "Found", [("Location", q["to"]), ("Content-Length", "0")])
            self.log(302, None, 0, if_range)
            return

        # conditional GET
        inm = headers.get("if-none-match")
        if inm is not None and inm == etag:
            self.head(304, "Not Modified", [("ETag", etag), ("Last-Modified", last_modified)])
            self.log(304, None, 0, if_range)
            return

        # Range
        start = None
        rng = headers.get("range")
        if rng and rng.startswith("bytes=") and fault != "norange":
            honour = True
            if if_range is not None and fault != "etag":
                honour = if_range in (etag, last_modified)
            if honour:
                spec = rng[6:].split("-", 1)
                start = int(spec[0])
        fields = [("ETag", etag), ("Last-Modified", last_modified),
                  ("Accept-Ranges", "bytes" if fault != "norange" else "none"),
                  ("Content-Type", "application/octet-stream")]
        if fault == "novalidator":
            fields = fields[2:]
        if start is not None and start >= len(data):
            self.head(416, "Range Not Satisfiable",
                      [("Content-Range", "bytes */%d" % len(data)), ("Content-Length", "0")])
            self.log(416, start, 0, if_range)
            return
        if start is not None:
            payload = data[start:]
            status = 206
            end, total = len(data) - 1, len(data)
            if fault == "badrange":
                if q.get("bad") == "end":
                    end -= 1
                else:
                    total += 1
            fields.append(("Content-Range", "bytes %d-%d/%d" % (start, end, total)))
        else:
            payload = data
            status = 200
        if fault != "nolength":
            fields.append(("Content-Length", str(len(payload))))
        self.head(status, "OK" if status == 200 else "Partial Content", fields)
        if method == "HEAD":
            self.log(status, start, 0, if_range)
            return

        cut_now = (fault == "cut" and first) or \
            (fault in ("etag", "etagifrange", "norange", "novalidator", "badrange")
             and self.count == 1)
        if cut_now:
            sent = self.body(payload, n)
            self.log(status, start, sent, if_range)
            self.close_clean()
            return
        if fault == "reset" and first:
            sent = self.body(payload, n)
            self.log(status, start, sent, if_range)
            self.reset()
            return
        if fault == "stall" and first:
            sent = self.body(payload, n)
            self.log(status, start, sent, if_range)
            time.sleep(min(float(q.get("s", "30")), 60))
            return
        if fault == "drip":
            rate = max(1, int(q.get("rate", "50")))
            end = time.monotonic() + min(float(q.get("s", "30")), 60)
            sent = 0
            while sent < len(payload) and time.monotonic() < end:
                piece = payload[sent:sent + max(1, rate // 10)]
                if self.body(piece) != len(piece):
                    break  # the client hung up
                sent += len(piece)
                time.sleep(0.1)
            self.log(status, start, sent, if_range)
            return
        if fault == "hold":
            sent = self.body(payload, n)
            hold = os.path.join(self.server.logdir, "hold-" + self.ident)
            end = time.monotonic() + 300
            while os.path.exists(hold) and time.monotonic() < end:
                time.sleep(0.01)
            if sent == min(n, len(payload)):
                sent += self.body(payload[sent:])
            self.log(status, start, sent, if_range)
            return
        if fault == "longer":
            extra = b"X" * int(q.get("extra", "1000"))
            # the declared body's last byte shares its write (its TLS record)
            # with the first extra bytes: a client that has the whole declared
            # body was sent more, whenever it hangs up
            sent = self.body(payload[:-1])
            if sent == len(payload) - 1:
                sent += self.body(payload[-1:] + extra)
            self.log(status, start, sent, if_range)
            return
        sent = self.body(payload)
        self.log(status, start, sent, if_range)
        if fault == "nolength":
            self.close_clean()


class ProxyHandler(socketserver.BaseRequestHandler):
    """An HTTP CONNECT proxy to 127.0.0.1 only; logs each tunnel to <logdir>/proxy."""

    def handle(self):
        sock = self.request
        sock.settimeout(20)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < MAX_HEADER:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                data += chunk
            line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if len(line) != 3 or line[0] != "CONNECT" or not line[1].startswith("127.0.0.1:"):
                sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            with state_lock:
                with open(os.path.join(self.server.logdir, "proxy"), "a") as f:
                    f.write("CONNECT %s\n" % line[1])
            up = socket.create_connection(("127.0.0.1", int(line[1].split(":")[1])), 5)
        except (OSError, ValueError):
            return
        with up:
            sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            ends = [sock, up]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                ready, _, _ = select.select(ends, [], [], 1.0)
                for r in ready:
                    chunk = r.recv(65536)
                    if not chunk:
                        return
                    (up if r is sock else sock).sendall(chunk)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


    def handle_error(self, request, client_address):
        pass  # a client that hangs up or fails the handshake is not news


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--www", required=True)
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--portfile", required=True)
    a = ap.parse_args()
    os.makedirs(a.logdir, exist_ok=True)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    tls = Server(("127.0.0.1", 0), Handler)
    tls.ctx = ctx
    plain = Server(("127.0.0.1", 0), Handler)
    proxy = Server(("127.0.0.1", 0), ProxyHandler)
    for s in (tls, plain, proxy):
        s.www, s.logdir = a.www, a.logdir
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = a.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d %d\n" % (tls.server_address[1], plain.server_address[1],
                                proxy.server_address[1]))
    os.rename(tmp, a.portfile)
    time.sleep(MAX_LIFETIME)
    sys.exit(0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The other ends of the daemon's sockets, for test_daemon.sh.

  daemon_tool.py notify SOCKET LOG CONTROL
      systemd's end of NOTIFY_SOCKET: binds a datagram socket at SOCKET and
      appends each line of each message to LOG as "<ms since start> <line>",
      the time being the kernel's stamp of the message's arrival (when it
      was sent, however late this program reads it).
      Right after a READY=1 line it tries the daemon's control socket CONTROL
      and logs "check control-socket connectable|refused: why", so that the
      test can tell READY came after the socket listened. Exits by itself
      after 300 s.

  daemon_tool.py ctl SOCKET [--timeout S] [--send-nothing] LINE...
      sends LINE\\n... then an empty line (a request of the control protocol)
      and prints every reply line until the daemon closes the connection.
  daemon_tool.py ctl SOCKET --raw PYTHON_BYTES
      sends the bytes of a Python bytes expression (b"..." * N) as they are.

  daemon_tool.py beside-silent SOCKET LINE...
      connects a client that sends nothing, then sends LINE... on a second
      connection and prints its reply; then "silent: <each line>" of what
      the silent client got once the daemon gave up on it.

Exit 0 when the daemon answered and closed, 2 on a timeout, 3 when it could
not connect.
"""
import os
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's number


def notify(path, log, control):
    start = time.monotonic()
    wall_start = time.time()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind(path)
    s.settimeout(1.0)
    with open(log, "a", buffering=1) as out:
        while time.monotonic() - start < 300:
            try:
                data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16))
            except socket.timeout:
                continue
            msg = data.decode("utf-8", "replace")
            stamp = time.time()
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("qq", value[:16])
                    stamp = sec + nsec / 1e9
            ms = int((stamp - wall_start) * 1000)
            for line in msg.split("\n"):
                if line:
                    out.write(f"{ms} {line}\n")
                if line == "READY=1":  # the check's line comes right after it
                    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    try:
                        c.connect(control)
                        out.write(f"{ms} check control-socket connectable\n")
                    except OSError as e:
                        out.write(f"{ms} check control-socket refused: {e}\n")
                    finally:
                        c.close()


def read_to_end(sock, into):
    """Appends what the daemon sends to into until it closes the connection (into keeps what
    came when a timeout interrupts)."""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return into
        into += chunk


def ctl(argv):
    path = argv[0]
    timeout = 10.0
    raw = None
    nothing = False
    lines = []
    i = 1
    while i < len(argv):
        if argv[i] == "--timeout":
            timeout = float(argv[i + 1])
            i += 2
        elif argv[i] == "--raw":
            raw = eval(argv[i + 1], {"__builtins__": {}})  # the test's own bytes expression
            i += 2
        elif argv[i] == "--send-nothing":
            nothing = True
            i += 1
        else:
            lines.append(argv[i])
            i += 1
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except OSError as e:
        print(f"connect: {e}", file=sys.stderr)
        return 3
    data = bytearray()
    try:
        if raw is not None:
            s.sendall(raw)
        elif not nothing:
            s.sendall(("".join(line + "\n" for line in lines) + "\n").encode())
        read_to_end(s, data)
    except socket.timeout:
        sys.stdout.write(data.decode("utf-8", "replace"))
        print("timeout: the daemon did not close the connection", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"socket: {e}", file=sys.stderr)
    sys.stdout.write(data.decode("utf-8", "replace"))
    return 0


def beside_silent(path, lines):
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.settimeout(30)
    silent.connect(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(("".join(line + "\n" for line in lines) + "\n").encode())
    sys.stdout.write(read_to_end(s, bytearray()).decode("utf-8", "replace"))
    got = read_to_end(silent, bytearray())
    for line in got.decode("utf-8", "replace").splitlines():
        print("silent: " + line)
    return 0


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "beside-silent":
        return beside_silent(sys.argv[2], sys.argv[3:])
    if len(sys.argv) >= 5 and sys.argv[1] == "notify":
        notify(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "ctl":
        return ctl(sys.argv[2:])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())

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

  daemon_tool.py fdreq SOCKET KIND PATH LINE...
      sends LINE... as a request with descriptors of KIND attached (file: PATH
      opened for reading; opath, wronly, dir: PATH so opened; two: PATH twice
      in one message; many: PATH twenty times; pipe: a pipe's read end whose
      writer stays open and silent; socket: a socketpair's end) and prints the
      reply; exit 2 when the daemon did not end it within --timeout (10 s).

  daemon_tool.py lag SOCKET N
      connects N clients that send nothing, then asks for status and prints
      "status after N silent clients: MS ms" and the reply.

  daemon_tool.py slow-reader SOCKET GO_FILE LINE...
      sends LINE... and reads nothing until GO_FILE exists, then reads the
      reply to its end and prints it (a client that does not read).

  daemon_tool.py hostile SOCKET PID FILE DIR ROUNDS
      ROUNDS times: 200 connections at once (silent, partial, oversized,
      garbage, and requests carrying a silent pipe, an O_PATH, write-only,
      directory or socket descriptor, two or twenty descriptors), held open
      unread until the daemon closes them, then closed; all the while a prober asks for status. After each
      round, once the daemon's descriptors are back to where they were (10 s
      at most): "round R: fds N (before B) rss KB (before KB)". Then
      "status: N probes, worst MS ms, F failed".

Exit 0 when the daemon answered and closed, 2 on a timeout, 3 when it could
not connect.
"""
import array
import os
import select
import socket
import struct
import sys
import threading
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


def send_fds(sock, data, fds):
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def request_bytes(lines):
    return ("".join(line + "\n" for line in lines) + "\n").encode("utf-8", "surrogateescape")


def open_kind(kind, path, keep):
    """The descriptors a request of this kind carries; keep gets what must stay open."""
    if kind == "file":
        return [os.open(path, os.O_RDONLY)]
    if kind == "opath":
        return [os.open(path, os.O_PATH)]
    if kind == "wronly":
        return [os.open(path, os.O_WRONLY)]
    if kind == "dir":
        return [os.open(path, os.O_RDONLY | os.O_DIRECTORY)]
    if kind == "two":
        return [os.open(path, os.O_RDONLY), os.open(path, os.O_RDONLY)]
    if kind == "many":
        return [os.open(path, os.O_RDONLY) for _ in range(20)]
    if kind == "pipe":
        r, w = os.pipe()
        keep.append(w)  # the writer stays silent
        return [r]
    if kind == "socket":
        a, b = socket.socketpair()
        keep.append(b)
        return [a.detach()]
    raise SystemExit(f"unknown descriptor kind {kind}")


def close_all(things):
    for t in things:
        try:
            t.close() if hasattr(t, "close") else os.close(t)
        except OSError:
            pass


def fdreq(argv):
    timeout = 10.0
    if argv[0] == "--timeout":
        timeout = float(argv[1])
        argv = argv[2:]
    path, kind, file = argv[0], argv[1], argv[2]
    keep = []
    fds = open_kind(kind, file, keep)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    send_fds(s, request_bytes(argv[3:]), fds)
    close_all(fds)
    data = bytearray()
    try:
        read_to_end(s, data)
    except socket.timeout:
        sys.stdout.write(data.decode("utf-8", "replace"))
        print("timeout: the daemon did not end its reply", file=sys.stderr)
        return 2
    finally:
        close_all(keep)
    sys.stdout.write(data.decode("utf-8", "replace"))
    return 0


def status_once(path, timeout=30.0):
    """(milliseconds, reply) of one status request."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)  # blocking, as the CLI's: it waits while the daemon's backlog is full
        s.settimeout(timeout)
        s.sendall(b"status\n\n")
        data = read_to_end(s, bytearray()).decode("utf-8", "replace")
    except OSError as e:
        data = f"failed: {e}"
    finally:
        s.close()
    return (time.monotonic() - t0) * 1000, data


def lag(path, n):
    silent = []
    for _ in range(n):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        silent.append(c)
    ms, data = status_once(path, timeout=120)
    print(f"status after {n} silent clients: {ms:.0f} ms")
    sys.stdout.write(data)
    close_all(silent)
    return 0


def slow_reader(path, go, lines):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(path)
    s.sendall(request_bytes(lines))
    deadline = time.monotonic() + 300
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    s.settimeout(60)
    sys.stdout.write(read_to_end(s, bytearray()).decode("utf-8", "replace"))
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


HOSTILE_KINDS = ["silent", "partial", "oversized", "garbage", "pipe", "opath", "dir", "two",
                 "socket", "wronly", "many"]


def hostile_client(path, i, file, folder, keep):
    """One hostile connection, left open and unread; None when it could not connect."""
    kind = HOSTILE_KINDS[i % len(HOSTILE_KINDS)]
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    try:
        c.connect(path)
        c.setblocking(False)
        if kind == "partial":
            c.send(b"update\nsource /x")
        elif kind == "oversized":
            c.send(b"status\n" + b"x" * 9000)
        elif kind == "garbage":
            c.send(os.urandom(64).replace(b"\n", b"") + b"\n\n")
        elif kind != "silent":
            target = folder if kind == "dir" else file
            fds = open_kind({"pipe": "pipe", "opath": "opath", "dir": "dir", "two": "two",
                             "socket": "socket", "wronly": "wronly", "many": "many"}[kind],
                            target, keep)
            send_fds(c, request_bytes(["update", f"source hostile-{i}", "device motor"]), fds)
            close_all(fds)
    except OSError:
        pass
    return c


def wait_closed_by_peer(conns, seconds):
    """How many of conns the daemon closed within seconds (each read to its end)."""
    left = set(conns)
    deadline = time.monotonic() + seconds
    while left and time.monotonic() < deadline:
        ready, _, _ = select.select(list(left), [], [], 0.5)
        for c in ready:
            try:
                if not c.recv(65536):
                    left.discard(c)
            except BlockingIOError:
                pass
            except OSError:
                left.discard(c)
    return len(conns) - len(left)


def hostile(path, pid, file, folder, rounds):
    stop = threading.Event()
    lat = []
    failed = []

    def prober():
        while not stop.is_set():
            ms, data = status_once(path)
            lat.append(ms)
            if f"daemon pid {pid}\n" not in data or not data.endswith("end\n"):
                failed.append(data.strip().replace("\n", " | "))
            stop.wait(0.02)

    before_fds, before_rss = fd_count(pid), rss_kb(pid)
    t = threading.Thread(target=prober)
    t.start()
    try:
        for r in range(1, rounds + 1):
            keep, conns = [], []
            for i in range(200):
                conns.append(hostile_client(path, i, file, folder, keep))
            # held open and unread until the daemon lets each go (its
            # request deadline at most), read only to see it closed
            closed = wait_closed_by_peer(conns, 15)
            close_all(conns)
            close_all(keep)
            # the count that reached the baseline is the one reported: the
            # prober's own connection comes and goes every 20 ms, so a second
            # look may catch it open (a leak stays above for the whole wait)
            deadline = time.monotonic() + 10
            fds = fd_count(pid)
            while fds > before_fds and time.monotonic() < deadline:
                time.sleep(0.05)
                fds = fd_count(pid)
            print(f"round {r}: the daemon closed {closed} of {len(conns)}; "
                  f"fds {fds} (before {before_fds}) "
                  f"rss {rss_kb(pid)} (before {before_rss})", flush=True)
    finally:
        stop.set()
        t.join()
    worst = max(lat) if lat else -1
    print(f"status: {len(lat)} probes, worst {worst:.0f} ms, {len(failed)} failed")
    for f in failed[:5]:
        print(f"failed probe: {f}")
    return 0


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "beside-silent":
        return beside_silent(sys.argv[2], sys.argv[3:])
    if len(sys.argv) >= 5 and sys.argv[1] == "notify":
        notify(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "ctl":
        return ctl(sys.argv[2:])
    if len(sys.argv) >= 5 and sys.argv[1] == "fdreq":
        return fdreq(sys.argv[2:])
    if len(sys.argv) == 4 and sys.argv[1] == "lag":
        return lag(sys.argv[2], int(sys.argv[3]))
    if len(sys.argv) >= 5 and sys.argv[1] == "slow-reader":
        return slow_reader(sys.argv[2], sys.argv[3], sys.argv[4:])
    if len(sys.argv) == 7 and sys.argv[1] == "hostile":
        return hostile(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())

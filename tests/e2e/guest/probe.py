#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Socket probe of the cgpolicy end-to-end suites (runs inside the test machine).

  probe.py serve NAME [--listen PROTO:PORT]...
        A long-running server, run as a (policed) service: listens on the given ports on
        127.0.0.1 and ::1 and answers requests on /run/cgpolicy-e2e/NAME.sock. Every
        request is carried out by the service's own process, so its sockets are created in
        the service's cgroup and the answer is what the service itself sees.
  probe.py ctl NAME OP PROTO ADDR PORT
        Asks server NAME to carry out one operation; prints its result.
  probe.py once OP PROTO ADDR PORT
        Carries out one operation in this process (e.g. from ExecStartPre=); prints the
        result; exit status 0 when it is OK.
  probe.py sink PROTO:PORT...
        An unpoliced listener on 127.0.0.1 and ::1: greets every TCP connection with
        "sink PORT\\n" and echoes every UDP datagram, so that an allowed attempt is proven
        to have reached its peer.

OP is bind, connect (TCP: connect and read the sink's greeting; UDP: connect(), send and
wait for the echo) or sendto (UDP without connect(): sendto() and wait for the echo).
The result is OK or the errno name (EPERM, ECONNREFUSED, …), or NOREPLY.
"""
import errno
import os
import socket
import socketserver
import sys
import threading

RUNDIR = "/run/cgpolicy-e2e"


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def sotype(proto):
    return {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}[proto]


def errname(e):
    if isinstance(e, socket.timeout):
        return "NOREPLY"
    if getattr(e, "errno", None):
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


def operate(op, proto, addr, port):
    port = int(port)
    fam = family_of(addr)
    try:
        with socket.socket(fam, sotype(proto)) as s:
            s.settimeout(3)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            if op == "bind":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, port))
                return "OK"
            if op == "connect" and proto == "tcp":
                s.connect((addr, port))
                greeting = s.recv(64)
                return "OK" if greeting.startswith(b"sink ") else "BADREPLY"
            if op == "connect" and proto == "udp":
                s.connect((addr, port))
                s.send(b"ping")
                return "OK" if s.recv(64) == b"ping" else "BADREPLY"
            if op == "sendto" and proto == "udp":
                s.sendto(b"ping", (addr, port))
                data, _ = s.recvfrom(64)
                return "OK" if data == b"ping" else "BADREPLY"
            return "BADREQUEST"
    except (OSError, socket.timeout) as e:
        return errname(e)


def listen(spec, handler_tcp=None):
    proto, port = spec.split(":")
    port = int(port)
    socks = []
    for addr in ("127.0.0.1", "::1"):
        s = socket.socket(family_of(addr), sotype(proto))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family_of(addr) == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        if proto == "tcp":
            s.listen(64)
        socks.append((proto, port, s))
    return socks


def serve_tcp(port, s, greet):
    while True:
        c, _ = s.accept()
        try:
            if greet:
                c.sendall(b"sink %d\n" % port)
        except OSError:
            pass
        c.close()


def serve_udp(s):
    while True:
        data, peer = s.recvfrom(64)
        try:
            s.sendto(data, peer)
        except OSError:
            pass


def start_listeners(specs, greet):
    for spec in specs:
        for proto, port, s in listen(spec):
            target = serve_tcp if proto == "tcp" else serve_udp
            args = (port, s, greet) if proto == "tcp" else (s,)
            threading.Thread(target=target, args=args, daemon=True).start()


class Ctl(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode().split()
        res = operate(*line) if len(line) == 4 else "BADREQUEST"
        self.wfile.write((res + "\n").encode())


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "serve":
        name = argv[2]
        specs = [a.split("=", 1)[1] for a in argv[3:] if a.startswith("--listen=")]
        start_listeners(specs, greet=True)
        os.makedirs(RUNDIR, exist_ok=True)
        path = f"{RUNDIR}/{name}.sock"
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        srv = socketserver.ThreadingUnixStreamServer(path, Ctl)
        print(f"probe {name}: serving on {path}, listening on {' '.join(specs) or 'nothing'}", flush=True)
        srv.serve_forever()
    elif cmd == "ctl":
        name, req = argv[2], " ".join(argv[3:7])
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(f"{RUNDIR}/{name}.sock")
                s.sendall((req + "\n").encode())
                print(s.makefile().readline().strip() or "NOANSWER")
        except OSError as e:
            print("NOSERVER(" + errname(e) + ")")
    elif cmd == "once":
        res = operate(*argv[2:6])
        print(f"probe: {' '.join(argv[2:6])}: {res}", flush=True)
        sys.exit(0 if res == "OK" else 1)
    elif cmd == "sink":
        start_listeners(argv[2:], greet=True)
        print(f"sink: listening on {' '.join(argv[2:])}", flush=True)
        threading.Event().wait()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

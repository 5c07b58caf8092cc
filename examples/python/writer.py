#!/usr/bin/env python3
"""A writer on redis-py that follows a redisha failover.

It writes one sequence-numbered key per interval through the failover name
(redis.internal) with the settings docs/applications.md recommends, and
prints one JSON line per write:

    {"seq": 7, "t_ms": 1765080000123, "ok": true}
    {"seq": 8, "t_ms": 1765080000631, "ok": false, "err": "readonly"}

err is one of readonly, refused, timeout, reset, dns, tls, auth, error.

How it follows a failover:
- Every connection resolves the name afresh, following its CNAME chain to the
  endpoint (the system resolver's canonical name, or REDIS_DNS_SERVER), and
  connects to that endpoint's address.
- With TLS the certificate is verified against that endpoint's name, never
  against redis.internal, which no certificate names.
- READONLY (the demoted primary), a dropped connection and a timeout each close
  the connection; redis-py then retries on a new connection, which resolves the
  name again (retry_on_error, with the design's jittered backoff).

Settings, from the environment:
    REDIS_HOST           name to connect to (default redis.internal)
    REDIS_PORT           port (default 6379)
    REDIS_TLS            true/false (default false; REDIS_SSL is read when unset)
    REDIS_TLS_CA_FILE    PEM file of extra CAs to trust (default: system roots)
    REDIS_TLS_NAMES      comma-separated endpoint names a certificate may have
                         (default: any name the chain ends at)
    REDIS_USERNAME       ACL user (default: the default user)
    REDIS_PASSWORD_FILE  file with the AUTH token (default: no AUTH)
    KEY_PREFIX           prefix of the written keys (default app:py:)
    INTERVAL_MS          pause between writes (default 100)
    TIMEOUT_MS           connect and command timeout (default 2000)
    RETRY_BASE_MS        first retry's backoff (default 500, the design's)
    RETRY_CAP_MS         longest backoff (default 10000); a rehearsal that
                         runs time faster scales both
    REDIS_DNS_SERVER     ip:port of a DNS server to resolve through on every
                         (re)connect (tests); unset: the system resolver

SIGTERM or SIGINT stop it cleanly (exit 0). A bad setting is reported on
stderr, naming the variable, with exit code 2.

Needs redis-py 4.3 or later (Debian: apt-get install python3-redis).
"""

import errno
import json
import os
import random
import signal
import socket
import ssl
import struct
import sys
import time

import redis
from redis.backoff import EqualJitterBackoff
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    ReadOnlyError,
    TimeoutError,
)
from redis.retry import Retry


class Settings:
    """The program's settings, read from the environment and checked."""

    def __init__(self, env):
        problems = []

        def number(name, default, low, high):
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                v = int(raw)
            except ValueError:
                v = None
            if v is None or not low <= v <= high:
                problems.append(f"{name}={raw!r}: want a whole number from {low} to {high}")
                return default
            return v

        def flag(name, default):
            raw = env.get(name, "").strip().lower()
            if not raw:
                return default
            if raw in ("true", "1", "yes"):
                return True
            if raw in ("false", "0", "no"):
                return False
            problems.append(f"{name}={raw!r}: want true or false")
            return default

        self.host = env.get("REDIS_HOST", "").strip() or "redis.internal"
        self.port = number("REDIS_PORT", 6379, 1, 65535)
        # REDIS_SSL is the ConfigMap's name for it (deploy/k8s).
        self.tls = flag("REDIS_TLS", flag("REDIS_SSL", False))
        self.ca_file = env.get("REDIS_TLS_CA_FILE", "").strip() or None
        self.tls_names = [n.strip().lower().rstrip(".") for n in env.get("REDIS_TLS_NAMES", "").split(",") if n.strip()]
        self.username = env.get("REDIS_USERNAME", "").strip() or None
        self.password = None
        pw_file = env.get("REDIS_PASSWORD_FILE", "").strip()
        if pw_file:
            try:
                with open(pw_file, encoding="utf-8") as f:
                    self.password = f.read().strip()
            except OSError as e:
                problems.append(f"REDIS_PASSWORD_FILE={pw_file}: {e.strerror}: mount the secret there or unset it")
            else:
                if not self.password:
                    problems.append(f"REDIS_PASSWORD_FILE={pw_file} is empty: it must hold the AUTH token")
        self.prefix = env.get("KEY_PREFIX", "app:py:")
        if not self.prefix or any(c.isspace() for c in self.prefix):
            problems.append(f"KEY_PREFIX={self.prefix!r}: want a prefix without white space")
        self.interval = number("INTERVAL_MS", 100, 0, 3_600_000) / 1000
        self.timeout = number("TIMEOUT_MS", 2000, 1, 600_000) / 1000
        self.retry_base = number("RETRY_BASE_MS", 500, 1, 600_000) / 1000
        self.retry_cap = number("RETRY_CAP_MS", 10_000, 1, 3_600_000) / 1000
        if self.retry_cap < self.retry_base:
            problems.append(f"RETRY_CAP_MS={int(self.retry_cap * 1000)}: want at least RETRY_BASE_MS ({int(self.retry_base * 1000)})")
        self.dns_server = None
        raw = env.get("REDIS_DNS_SERVER", "").strip()
        if raw:
            host, _, port = raw.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                problems.append(f"REDIS_DNS_SERVER={raw!r}: want ip:port, e.g. 127.0.0.1:5353")
            else:
                self.dns_server = (host.strip("[]"), int(port))
        if self.ca_file and not os.path.isfile(self.ca_file):
            problems.append(f"REDIS_TLS_CA_FILE={self.ca_file}: no such file")
        self.problems = problems


class DNSError(OSError):
    """The name did not resolve; the text starts with "dns" so that the error
    redis-py wraps around it still says so."""


def resolve(name, dns_server, timeout):
    """Returns (endpoint name, [IPv4 addresses]): the end of name's CNAME
    chain and its addresses."""
    name = name.lower().rstrip(".")
    try:
        socket.inet_aton(name)
        return name, [name]
    except OSError:
        pass
    if dns_server:
        return _query(dns_server, name, timeout)
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)
    except socket.gaierror as e:
        raise DNSError(f"dns lookup of {name} failed: {e.strerror}") from e
    canonical = (infos[0][3] or name).lower().rstrip(".")
    return canonical, [i[4][0] for i in infos]


def _query(server, name, timeout):
    """One A question to server (host, port) over UDP; follows the CNAME chain
    in the answer, as a recursive resolver returns it."""
    qid = random.getrandbits(16)
    question = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _encode_name(name) + struct.pack(">HH", 1, 1)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(question, server)
            while True:
                data, _ = s.recvfrom(4096)
                if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                    break
    except OSError as e:
        raise DNSError(f"dns lookup of {name} via {server[0]}:{server[1]} failed: {e}") from e
    _, flags, qdcount, ancount, _, _ = struct.unpack(">HHHHHH", data[:12])
    if flags & 0xF == 3:
        raise DNSError(f"dns lookup of {name}: no such name")
    if flags & 0xF:
        raise DNSError(f"dns lookup of {name}: response code {flags & 0xF}")
    off = 12
    for _ in range(qdcount):
        _, off = _read_name(data, off)
        off += 4
    cnames, addrs = {}, {}
    for _ in range(ancount):
        rname, off = _read_name(data, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[off : off + 10])
        off += 10
        if rtype == 5:
            cnames[rname], _ = _read_name(data, off)
        elif rtype == 1 and rdlen == 4:
            addrs.setdefault(rname, []).append(socket.inet_ntoa(data[off : off + 4]))
        off += rdlen
    end = name
    for _ in range(8):
        if end not in cnames:
            break
        end = cnames[end]
    if not addrs.get(end):
        raise DNSError(f"dns lookup of {name}: no address for {end}")
    return end, addrs[end]


def _encode_name(name):
    return b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.split(".")) + b"\0"


def _read_name(data, off):
    """Reads a (possibly compressed) name at off; returns it lower-case
    without the final dot, and the offset after it."""
    labels, end, jumps = [], None, 0
    while True:
        n = data[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | data[off + 1]
            jumps += 1
            if jumps > 16:
                raise DNSError("dns answer has a compression loop")
            continue
        off += 1
        if n == 0:
            break
        labels.append(data[off : off + n].decode("ascii").lower())
        off += n
    return ".".join(labels), (end if end is not None else off)


class FollowingConnection(redis.connection.Connection):
    """A redis-py connection that resolves the name on every connect and,
    with TLS, verifies the certificate of the endpoint the name points to."""

    def __init__(self, settings, **kwargs):
        self.settings = settings
        self.endpoint = None
        super().__init__(host=settings.host, port=settings.port, **kwargs)

    def _connect(self):
        s = self.settings
        name, ips = resolve(s.host, s.dns_server, s.timeout)
        if s.tls and s.tls_names and name not in s.tls_names:
            raise ssl.SSLError(f"tls: {s.host} points to {name}, which is not in REDIS_TLS_NAMES")
        sock = socket.create_connection((ips[0], s.port), timeout=self.socket_connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if s.tls:
                ctx = ssl.create_default_context()
                if s.ca_file:
                    ctx.load_verify_locations(s.ca_file)
                sock = ctx.wrap_socket(sock, server_hostname=name)
            sock.settimeout(self.socket_timeout)
        except BaseException:
            sock.close()
            raise
        self.endpoint = f"{name} ({ips[0]})"
        return sock


def reason(err):
    """The class of a failed write, in the words the health checker uses."""
    if isinstance(err, ReadOnlyError) or str(err).startswith("READONLY") or "read only replica" in str(err):
        return "readonly"
    if isinstance(err, AuthenticationError) or any(w in str(err) for w in ("WRONGPASS", "NOAUTH", "invalid password")):
        return "auth"
    if isinstance(err, (TimeoutError, socket.timeout)):
        return "timeout"
    cause = err
    while cause is not None:
        if isinstance(cause, DNSError) or str(cause).startswith("dns") or ". dns lookup" in str(cause):
            return "dns"
        if isinstance(cause, ssl.SSLError) or "tls:" in str(cause) or "SSL" in str(cause):
            return "tls"
        code = getattr(cause, "errno", None)
        if code == errno.ECONNREFUSED or "refused" in str(cause):
            return "refused"
        if code in (errno.ECONNRESET, errno.EPIPE) or "Connection closed by server" in str(cause) or "reset" in str(cause):
            return "reset"
        if code == errno.ETIMEDOUT or "timed out" in str(cause):
            return "timeout"
        cause = cause.__cause__ or cause.__context__
    return "error"


class Stop(Exception):
    """SIGTERM or SIGINT arrived."""


def main():
    s = Settings(os.environ)
    if s.problems:
        for p in s.problems:
            print(f"writer: {p}", file=sys.stderr)
        return 2

    def stop(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # docs/applications.md, "Python: redis-py": retry on READONLY too, with the
    # design's jittered backoff; each retry closes the connection first, and
    # the next connect resolves the name again.
    pool = redis.ConnectionPool(
        connection_class=FollowingConnection,
        settings=s,
        username=s.username,
        password=s.password,
        retry=Retry(EqualJitterBackoff(cap=s.retry_cap, base=s.retry_base), retries=5),
        retry_on_error=[ConnectionError, TimeoutError, ReadOnlyError],
        socket_connect_timeout=s.timeout,
        socket_timeout=s.timeout,
        health_check_interval=10,
    )
    r = redis.Redis(connection_pool=pool)
    seq = 0
    try:
        while True:
            seq += 1
            err = None
            try:
                r.set(f"{s.prefix}{seq}", str(seq))
            except Stop:
                raise
            except Exception as e:  # every failure is a line, never a crash
                err = reason(e)
                print(f"writer: seq {seq}: {err}: {e}", file=sys.stderr, flush=True)
                # The library gave up on this write; the next one starts on a
                # new connection (and a new lookup).
                pool.disconnect()
            line = {"seq": seq, "t_ms": int(time.time() * 1000), "ok": err is None}
            if err:
                line["err"] = err
            print(json.dumps(line), flush=True)
            if s.interval:
                time.sleep(s.interval)
    except Stop:
        pass
    finally:
        pool.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())

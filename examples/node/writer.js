#!/usr/bin/env node
// A writer on ioredis that follows a redisha failover.
//
// It writes one sequence-numbered key per interval through the failover name
// (redis.internal) with the settings docs/applications.md recommends, and
// prints one JSON line per write:
//
//   {"seq":7,"t_ms":1765080000123,"ok":true}
//   {"seq":8,"t_ms":1765080000631,"ok":false,"err":"readonly"}
//
// err is one of readonly, refused, timeout, reset, dns, tls, auth, error.
//
// How it follows a failover:
// - Every connection resolves the name afresh, following its CNAME chain to
//   the endpoint, and connects to that endpoint's address (a Connector: ioredis
//   calls it on every connect and reconnect).
// - With TLS the certificate is verified against that endpoint's name, never
//   against redis.internal, which no certificate names.
// - READONLY (the demoted primary) reconnects and resends the write
//   (reconnectOnError returns 2, ioredis's own answer for ElastiCache); a
//   dropped connection reconnects with the design's jittered backoff
//   (retryStrategy); a timed-out write closes the connection, so the next
//   write starts on a new one.
//
// Settings, from the environment (the same as examples/python):
//   REDIS_HOST           name to connect to (default redis.internal)
//   REDIS_PORT           port (default 6379)
//   REDIS_TLS            true/false (default false; REDIS_SSL is read when unset)
//   REDIS_TLS_CA_FILE    PEM file of extra CAs to trust (default: system roots)
//   REDIS_TLS_NAMES      comma-separated endpoint names a certificate may have
//                        (default: any name the chain ends at)
//   REDIS_USERNAME       ACL user (default: the default user)
//   REDIS_PASSWORD_FILE  file with the AUTH token (default: no AUTH)
//   KEY_PREFIX           prefix of the written keys (default app:node:)
//   INTERVAL_MS          pause between writes (default 100)
//   TIMEOUT_MS           connect and command timeout (default 2000)
//   RETRY_BASE_MS        first retry's backoff (default 500, the design's)
//   RETRY_CAP_MS         longest backoff (default 10000); a rehearsal that
//                        runs time faster scales both
//   REDIS_DNS_SERVER     ip:port of a DNS server to resolve through on every
//                        (re)connect (tests); unset: the system resolver
//
// SIGTERM or SIGINT stop it cleanly (exit 0). A bad setting is reported on
// stderr, naming the variable, with exit code 2.
"use strict";

const dns = require("node:dns");
const fs = require("node:fs");
const net = require("node:net");
const tls = require("node:tls");
const { Redis, AbstractConnector } = require("ioredis");

// settings reads and checks the environment; problems name the variable.
function settings(env) {
  const problems = [];
  const number = (name, def, low, high) => {
    const raw = (env[name] || "").trim();
    if (!raw) return def;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < low || v > high) {
      problems.push(`${name}=${JSON.stringify(raw)}: want a whole number from ${low} to ${high}`);
      return def;
    }
    return v;
  };
  const flag = (name, def) => {
    const raw = (env[name] || "").trim().toLowerCase();
    if (!raw) return def;
    if (["true", "1", "yes"].includes(raw)) return true;
    if (["false", "0", "no"].includes(raw)) return false;
    problems.push(`${name}=${JSON.stringify(raw)}: want true or false`);
    return def;
  };
  const s = {
    host: (env.REDIS_HOST || "").trim() || "redis.internal",
    port: number("REDIS_PORT", 6379, 1, 65535),
    // REDIS_SSL is the ConfigMap's name for it (deploy/k8s).
    tls: flag("REDIS_TLS", flag("REDIS_SSL", false)),
    caFile: (env.REDIS_TLS_CA_FILE || "").trim(),
    tlsNames: (env.REDIS_TLS_NAMES || "").split(",").map((n) => n.trim().toLowerCase().replace(/\.$/, "")).filter(Boolean),
    username: (env.REDIS_USERNAME || "").trim() || undefined,
    password: undefined,
    prefix: env.KEY_PREFIX === undefined ? "app:node:" : env.KEY_PREFIX,
    interval: number("INTERVAL_MS", 100, 0, 3600000),
    timeout: number("TIMEOUT_MS", 2000, 1, 600000),
    retryBase: number("RETRY_BASE_MS", 500, 1, 600000),
    retryCap: number("RETRY_CAP_MS", 10000, 1, 3600000),
    dnsServer: (env.REDIS_DNS_SERVER || "").trim(),
    problems,
  };
  if (s.retryCap < s.retryBase) problems.push(`RETRY_CAP_MS=${s.retryCap}: want at least RETRY_BASE_MS (${s.retryBase})`);
  const pwFile = (env.REDIS_PASSWORD_FILE || "").trim();
  if (pwFile) {
    try {
      s.password = fs.readFileSync(pwFile, "utf8").trim();
      if (!s.password) problems.push(`REDIS_PASSWORD_FILE=${pwFile} is empty: it must hold the AUTH token`);
    } catch (e) {
      problems.push(`REDIS_PASSWORD_FILE=${pwFile}: ${e.code}: mount the secret there or unset it`);
    }
  }
  if (!s.prefix || /\s/.test(s.prefix)) problems.push(`KEY_PREFIX=${JSON.stringify(s.prefix)}: want a prefix without white space`);
  if (s.dnsServer && !/^(\[[0-9a-fA-F:]+\]|[0-9.]+):\d{1,5}$/.test(s.dnsServer)) {
    problems.push(`REDIS_DNS_SERVER=${JSON.stringify(s.dnsServer)}: want ip:port, e.g. 127.0.0.1:5353`);
  }
  if (s.caFile) {
    try {
      s.ca = [...tls.rootCertificates, fs.readFileSync(s.caFile, "utf8")];
    } catch (e) {
      problems.push(`REDIS_TLS_CA_FILE=${s.caFile}: ${e.code}`);
    }
  }
  return s;
}

// dnsError marks a failed lookup, so that the write's error says "dns".
function dnsError(name, err) {
  const e = new Error(`dns lookup of ${name} failed: ${err.code || err.message}`);
  e.reason = "dns";
  return e;
}

// resolver returns resolve(name) → {name, ips}: the end of name's CNAME chain
// and its IPv4 addresses, asked afresh on every call. With REDIS_DNS_SERVER
// both come from that server; otherwise the addresses come from the system
// (getaddrinfo: /etc/hosts, then DNS), and the chain is followed only with
// TLS, where the endpoint's name is what the certificate is checked against.
function resolver(s) {
  const r = new dns.promises.Resolver({ timeout: s.timeout, tries: 2 });
  if (s.dnsServer) r.setServers([s.dnsServer]);
  const chainEnd = async (name) => {
    for (let hop = 0; hop < 8; hop++) {
      let next;
      try {
        [next] = await r.resolveCname(name);
      } catch (e) {
        if (e.code === dns.NODATA) break; // name has addresses, not an alias: the chain ends here
        throw e;
      }
      name = next.toLowerCase().replace(/\.$/, "");
    }
    return name;
  };
  return async function resolve(host) {
    let name = host.toLowerCase().replace(/\.$/, "");
    if (net.isIP(name)) return { name, ips: [name] };
    try {
      if (s.dnsServer) {
        name = await chainEnd(name);
        return { name, ips: await r.resolve4(name) };
      }
      if (s.tls) name = await chainEnd(name).catch(() => name);
      const found = await dns.promises.lookup(name, { family: 4, all: true });
      return { name, ips: found.map((a) => a.address) };
    } catch (e) {
      throw dnsError(host, e);
    }
  };
}

// followingConnector builds an ioredis Connector that resolves the name on
// every (re)connect and verifies TLS against the endpoint it resolved to.
function followingConnector(s) {
  const resolve = resolver(s);
  return class FollowingConnector extends AbstractConnector {
    constructor(options) {
      super(options.disconnectTimeout);
    }

    connect() {
      this.connecting = true;
      this.firstError = undefined;
      return resolve(s.host).then(
        ({ name, ips }) => {
          if (!this.connecting) throw new Error("Connection is closed.");
          if (s.tls && s.tlsNames.length && !s.tlsNames.includes(name)) {
            return this.failed(Object.assign(new Error(`tls: ${s.host} points to ${name}, which is not in REDIS_TLS_NAMES`), { reason: "tls" }));
          }
          const opts = { host: ips[0], port: s.port };
          this.stream = s.tls ? tls.connect({ ...opts, servername: name, ca: s.ca }) : net.createConnection(opts);
          this.stream.once("error", (err) => {
            this.firstError = err;
          });
          return this.stream;
        },
        // A stream that has already failed: ioredis then reconnects by its
        // retryStrategy, where a rejected connect would end the client.
        (err) => this.failed(err),
      );
    }

    failed(err) {
      this.firstError = err;
      this.stream = new net.Socket();
      this.stream.destroy();
      return this.stream;
    }
  };
}

// reason classifies a failed write in the words the health checker uses.
function reason(err, lastConnError) {
  const msg = String((err && err.message) || err);
  if (err && err.reason) return err.reason;
  if (msg.startsWith("READONLY") || msg.includes("read only replica")) return "readonly";
  if (/WRONGPASS|NOAUTH|invalid password/.test(msg)) return "auth";
  if (msg.includes("Command timed out") || (err && err.code === "ETIMEDOUT")) {
    // Timed out waiting for a connection: say why the connection failed.
    return lastConnError && lastConnError !== err ? reason(lastConnError) : "timeout";
  }
  if (err && err.code === "ECONNREFUSED") return "refused";
  if (err && ["ECONNRESET", "EPIPE"].includes(err.code)) return "reset";
  if (err && (String(err.code).startsWith("ERR_TLS") || /CERT|SSL|certificate/.test(String(err.code) + msg))) return "tls";
  // Given up after the reconnects: the cause is the last connection error.
  if (lastConnError && lastConnError !== err) return reason(lastConnError);
  if (msg.includes("Connection is closed")) return "reset";
  return "error";
}

async function main() {
  const s = settings(process.env);
  if (s.problems.length) {
    for (const p of s.problems) process.stderr.write(`writer: ${p}\n`);
    return 2;
  }
  // docs/applications.md, "Node: ioredis".
  const redis = new Redis({
    port: s.port,
    username: s.username,
    password: s.password,
    tls: s.tls ? {} : undefined, // the connector does the handshake; this makes ioredis wait for it
    Connector: followingConnector(s),
    connectTimeout: s.timeout,
    commandTimeout: s.timeout,
    reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
    retryStrategy: (times) => Math.min(s.retryBase * 2 ** times, s.retryCap) * (0.5 + Math.random() / 2),
    maxRetriesPerRequest: 5,
    // RESP2 and no CLIENT SETINFO or maintenance notifications: what every
    // ElastiCache engine version accepts (the Go client does the same).
    protocol: 2,
    disableClientInfo: true,
    maintNotifications: "disabled",
  });
  let lastConnError;
  redis.on("error", (err) => {
    lastConnError = err;
  });
  redis.on("ready", () => {
    lastConnError = undefined;
  });

  let stopping = false;
  let wake;
  const stop = () => {
    stopping = true;
    redis.disconnect(); // a write waiting on a reconnect fails at once
    if (wake) wake();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  for (let seq = 1; !stopping; seq++) {
    let err;
    try {
      await redis.set(`${s.prefix}${seq}`, String(seq));
    } catch (e) {
      if (stopping) break;
      err = reason(e, lastConnError);
      process.stderr.write(`writer: seq ${seq}: ${err}: ${e.message}\n`);
      // A timed-out write leaves its connection in place; close it so the
      // next write starts on a new one (and a new lookup).
      if (err === "timeout" || err === "readonly") redis.disconnect(true);
    }
    const line = { seq, t_ms: Date.now(), ok: err === undefined };
    if (err) line.err = err;
    process.stdout.write(JSON.stringify(line) + "\n");
    if (s.interval && !stopping) {
      await new Promise((resolve) => {
        wake = resolve;
        setTimeout(resolve, s.interval);
      });
    }
  }
  redis.disconnect();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`writer: ${err.stack || err}\n`);
    process.exit(1);
  },
);

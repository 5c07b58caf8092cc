// Package client makes a go-redis v9 client follow a failover of the Redis
// endpoint behind a DNS name, such as redis.internal, a Route 53 failover
// CNAME that points at the ElastiCache primary endpoint of the region that
// holds the writer.
//
// A plain go-redis client keeps its pooled connections on whatever address
// the name had when they were dialed, verifies TLS against a fixed name, and
// learns of a failover only when a write fails. A client from New instead:
//
//   - resolves the name's CNAME chain on every dial (no cached address) and
//     verifies the certificate against the name the chain ends at then (the
//     endpoint the CNAME points to now), which must be one Config.TLSNames
//     allows (default: the ElastiCache domains, *.cache.amazonaws.com), so
//     a redirected name receives nothing, the AUTH token least of all;
//   - speaks TLS unless told PlainText, and refuses to send a password
//     without TLS unless told AllowPlainTextAuth;
//   - retires pooled connections whose endpoint the name no longer resolves
//     to, rechecking the name at most every RecheckInterval while in use;
//   - checks ROLE on every new connection and refuses a replica, so the pool
//     dials again instead of sending writes to a demoted primary;
//   - retires the whole pool after a command fails with READONLY or a reset
//     (ElastiCache disconnects a client that writes to a replica);
//   - spaces its dials (at most 20 a second) while connections are refused
//     before their first answer (a wrong password, maxclients, a failed TLS
//     handshake), which no quick retry fixes;
//   - bounds connection age and retries with jittered exponential backoff
//     (5 retries, 500 ms base, 10 s cap, as redis-py's
//     Retry(ExponentialBackoff(cap=10, base=0.5), retries=5));
//   - turns off what ElastiCache rejects (CLIENT SETINFO, maintenance
//     notifications) and speaks RESP2, which every engine version supports.
//
// Whether a failed command retires the pool is decided by the health
// checker's own code (a finished connection as its reconnecting client
// defines it, narrowed by its error classifier to READONLY and a reset), and
// Config.Validate applies the checker's rules for Addr and DB, so an
// application and the checker agree on what a READONLY, a reset or a bad
// address is.
package client

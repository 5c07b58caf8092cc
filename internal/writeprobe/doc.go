// Package writeprobe is a region's writable endpoint: the answer Route 53's
// HTTPS health checks follow, from health checkers outside every region,
// every 10 seconds each. A Lambda function URL in front of the checker
// binary (CHECKER_SERVE=writable-url) serves it.
//
// Each GET or HEAD of /writable runs one write check through the region's
// endpoint, as the checker's own write check does: the node must answer as
// a master, and a random key is SET with a TTL, read back and DELeted, on
// every shard's primary of a cluster. No heartbeat is written and no metric
// published: the loop's checker does that. A master the Global Datastore
// does not name as primary is not writable (the same fence as the
// checker's). The answer is 200 "writable <region>" only on a proven write
// the fence allows, 503 with a one-line reason otherwise; the reason names
// no endpoint and carries no error text, since the URL is public.
//
// Route 53 counts an HTTPS endpoint healthy only when it answers 2xx or 3xx
// within two seconds after connecting, so one request's check is bounded
// by CHECK_TIMEOUT, at most config.MaxWritableCheck (1.5 s), and by the
// invocation's own deadline: a stalled server yields a 503 in time, never
// a hang that would read the same but leave no log line.
//
// Only /writable runs a check: any other path is 404 (scanners probing /
// must not cause writes), any other method 405. Every answer carries
// Cache-Control: no-store.
package writeprobe

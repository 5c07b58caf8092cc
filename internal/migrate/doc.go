// Package migrate moves the data of one live Redis deployment into another
// without replication (ElastiCache blocks SYNC/PSYNC): Copy scans every
// shard of the source and DUMP/RESTOREs each key into the target, keeping
// TTLs to the millisecond; Compare checks both sides key by key with
// per-type digests and, with a quiet window, is the gate before cut-over;
// Follow keeps the target current from the source's keyspace
// notifications, one key per worker at a time; CopyKeys repairs the keys a
// compare found different. Either side may be standalone or a cluster, with
// TLS and AUTH; both are identified by their servers (run id, cluster node
// ids), so one deployment under two addresses is refused. The engines
// report progress and problems as data; the CLI (redisha migrate) renders
// them.
//
// Copy never deletes on the target except by replacing a key it copies
// (RESTORE ... REPLACE, or RENAME of its own temporary key over it); Follow
// and CopyKeys delete a key on the target only when the source no longer
// holds it.
package migrate

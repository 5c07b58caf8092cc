// Package migrate moves the data of one live Redis deployment into another
// without replication (ElastiCache blocks SYNC/PSYNC): Copy scans every
// shard of the source and DUMP/RESTOREs each key into the target, keeping
// TTLs to the millisecond; Compare checks both sides key by key with
// per-type digests; Follow keeps the target current from the source's
// keyspace notifications. Either side may be standalone or a cluster, with
// TLS and AUTH. The engines report progress and problems as data; the CLI
// (redisha migrate) renders them.
//
// Copy never deletes on the target except by replacing a key it copies
// (RESTORE ... REPLACE, or RENAME of its own temporary key over it); Follow
// deletes a key on the target only after the source deleted or expired it.
package migrate

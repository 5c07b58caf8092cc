// Package dualwrite helps an application move from one Redis deployment to
// another without downtime, the way a live migration is usually done by
// hand: write to both, copy the data, compare, then move reads.
//
// Mirror is a go-redis v9 hook added to the client of the old deployment: it
// replays every write that the old deployment accepted on a client of the
// new one, in the background. The old path gains neither latency (a
// non-blocking enqueue after the reply) nor failure modes (a full queue
// drops the mirrored copy and counts it; an error of the new deployment is
// counted and reported to a callback, never returned to the caller) nor
// unbounded memory (the queue is bounded in bytes, Options.QueueBytes,
// 32 MiB by default; Stats.QueuedBytes is the gauge to watch).
//
// What is mirrored is what happened, not what was asked: a command whose
// effect depends on a random choice or on the reply (SPOP, XADD *,
// XREADGROUP, SET ... GET, SETNX, blocking pops) is mirrored as its effect
// (SREM of the members popped, XADD with the id given, ...; the table is in
// effects.go). Writes to one key are mirrored in order; a write of several
// keys (MSET, RENAME, a transaction) is mirrored in order with every other
// write. Scripts, FLUSHDB/FLUSHALL, SWAPDB, XCLAIM and XAUTOCLAIM are not
// mirrored: each is counted in Stats.Refused and reported to
// Options.OnRefused. Mirror.Flush waits for the writes taken so far: a
// request that writes and then reads the new side calls it in between.
//
// Switch is the killswitch that moves reads: it returns the old or the new
// client according to a flag the operator flips at runtime (a Flag set from
// code, a file watched by WatchFile, or any func() bool, e.g. a value
// refreshed from SSM Parameter Store or AppConfig).
//
//	old := redis.NewClusterClient(oldOpts)
//	mirror := dualwrite.NewMirror(dualwrite.Options{Target: redis.NewClusterClient(newOpts)})
//	old.AddHook(mirror)
//	defer mirror.Close(ctx)
//	reads := dualwrite.NewSwitch(old, newClient, flag.Load)
//	v, err := reads.Client().Get(ctx, "k").Result()
//
// A mirrored write replays the command on the new side's data, so a command
// whose effect depends on the existing value (INCR, HINCRBY, LPUSH) diverges
// while the key is not yet copied; run redisha migrate copy after the mirror
// is live (--allow-nonempty-target: the mirror already fills the target),
// and pass the migrate compare gate before flipping reads (see
// docs/migration.md).
package dualwrite

// Package promoter decides, and carries out, the promotion of the local
// region's secondary member of an ElastiCache Global Datastore.
//
// Decide is a pure function: the observations of one run (the datastore's
// and the local member's state, the primary's heartbeat as the local replica
// holds it, the primary region's writable alarm, an optional third
// observer), the state kept between runs (heartbeat history, latch, epoch),
// the mode and the bounds go in; a Decision with each guard's verdict, an
// increasing epoch and the next state comes out. Runner gathers the
// observations with deadlines, records the decision (log, metric, page) and,
// when the decision is to promote, fails the datastore over through the
// local region's endpoint and verifies that the local member is PRIMARY and
// takes a real write. docs/failover.md explains the guards and their
// sources.
package promoter

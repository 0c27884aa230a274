// Package engine turns customer events into lifecycle state, health scores
// and alerts, one input partition at a time. It keeps each customer's state
// in a local Pebble store and knows nothing of Kafka: a runtime hands it
// decoded events (Event) and takes back output records and changelog
// entries (Outputs), which it makes durable its own way (connectors/kafka
// in a Kafka transaction, connectors/ndjson on stdout).
//
// # The batch cycle
//
// A Driver runs every partition's input the same way, batch by batch:
//
//  1. Process applies input records: each record before the partition's
//     position is skipped as already applied; each event updates its
//     customer (deduplicated by event id), runs the rule pack (stage
//     machine, scorecard, alerts; eval.go) and appends the output records
//     it causes. Raising the watermark (an event's time less the allowed
//     lateness, or Advance) first fires the timers that fall due
//     (timers.go). An event dated more than Options.MaxEventAhead past
//     the reference time (the runtime's clock, Driver.SetNow, else the
//     newest event applied) is not applied: the Source hears of it
//     (Rejecter) and the position moves past it, so one record cannot
//     carry the watermark, and every timer, years ahead.
//  2. Flush encodes every customer the batch changed, and the partition's
//     meta, as changelog entries.
//  3. The runtime makes outputs and changelog entries durable.
//  4. Commit makes the batch the committed state; Abort takes it back
//     (customers, timer index, meta), so the same input can be processed
//     again. Nothing reaches the store before Commit.
//  5. A checkpoint writes the committed states, the timer index changes
//     and the meta (with the input position) to the store in one atomic
//     batch. By default every Commit checkpoints; with
//     Options.CheckpointEvents or CheckpointInterval checkpoints come less
//     often and coalesce the writes in between (the runtime then keeps
//     every committed batch elsewhere, in the changelog).
//
// So the store is always a consistent checkpoint: a process killed at any
// instant restarts from it, resumes reading at Meta.Next and, in Kafka
// mode, restores the changelog entries past Meta.ChangelogNext (Restore,
// CommitRestore). The store can lag the outputs, never lead them.
//
// # Store layout
//
// One Pebble store holds every partition of an instance; each partition
// has its own keyspace (partition as a 4-byte big-endian number):
//
//	's' partition customer        → the customer's State encoding (state.go)
//	't' partition due(8) customer → empty: the timer index, in due order
//	'm' partition                 → the partition's Meta, JSON
//	'h' partition customer        → how many timeline records it has had
//	'H' partition customer 0 slot → one of its last output records
//	                                (timeline.go; not in the changelog)
//
// The state encoding is versioned: a newer binary reads older encodings,
// an older one refuses newer ones (ErrNewerState). The changelog carries
// the same encodings under the customer id, and the meta under MetaKey.
//
// # Crashes, faults and corruption
//
// A checkpoint is one Pebble batch, so a crash at any instant leaves the
// store at a checkpoint: the last one written with Options.Sync, or an
// earlier one without (crash_test.go takes crash clones of Pebble's
// crashable filesystem at every kind of write and sync to prove it). A
// failed WAL write or sync, or MANIFEST write, is fatal to Pebble (its
// commit pipeline cannot go on): it calls Logger.Fatalf, and
// QuietPebbleLogger panics, ending the process; the restart finds the
// store at a checkpoint as after any crash. A corrupt file (a checksum or
// format that is wrong, a file missing or cut short) is reported as
// ErrStoreCorrupt, by Open or by the read that meets it; with
// Options.RebuildCorrupt, Open then sets the store aside and starts an
// empty one, which the Kafka runtime restores from the changelog.
//
// # Goroutines
//
// A Partition, and the Driver over it, belong to one goroutine: the one the
// runtime gives the input partition. Everything else may read through the
// Engine only: Lookup answers with a customer's last committed state (the
// partition's committed-but-not-checkpointed states sit behind a lock for
// it), StoredMeta with the last checkpoint, Pack with the rule pack in
// force. SetPack may be called from any goroutine; each partition switches
// to the new pack between batches, never within one. The engine starts no
// goroutine of its own.
package engine

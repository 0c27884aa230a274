package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The commit path: Flush encodes what a batch changed, Commit makes it the
// partition's committed state once its outputs are durable (Abort takes it
// back), Checkpoint writes committed states to the store, and Restore
// rebuilds the store from a changelog.

// checkpoint is what has been committed since the last checkpoint, and
// where that checkpoint was.
type checkpoint struct {
	// pending are committed but not yet checkpointed; their encodings
	// live in buf until the checkpoint.
	pending []*entry
	buf     []byte
	bufLen  int // len(buf) at the last Commit
	// meta is the meta's encoding as of the last Commit (nil: none since
	// the last checkpoint); events and at are meta.Events and the time at
	// the last checkpoint.
	meta   []byte
	events int64
	at     time.Time
	// committedNext is meta.Next as of the last Commit (or open): a batch
	// is in progress, maybe only of skipped records, when they differ.
	committedNext int64
	// committed maps the pending customers to their committed encodings
	// (in buf), so that Engine.Lookup, from other goroutines, answers with
	// the last commit rather than the last checkpoint. mu guards it: it is
	// the one field another goroutine reads.
	mu        sync.RWMutex
	committed map[string][]byte

	offs      []int  // Flush's scratch
	flushMeta []byte // the meta encoding Flush handed out
	flushed   bool   // flush ran and commit or abort has not
}

// flush ends a batch's processing: it encodes every changed customer and
// the partition's meta, and appends them to out.Changelog. commit or abort
// must follow before the next apply.
func (p *Partition) flush(out *Outputs) error {
	// In key order: Pebble's memtable inserts a sorted batch far faster
	// (its skiplist inserter reuses the previous splice), and the
	// changelog gets a deterministic order.
	slices.SortFunc(p.dirty, func(a, b *entry) int { return strings.Compare(a.key, b.key) })
	// Encode into pendBuf, then slice it: appends may move it. The
	// encodings live there until the checkpoint that writes them.
	offs := p.ckpt.offs[:0]
	for _, e := range p.dirty {
		offs = append(offs, len(p.ckpt.buf))
		p.ckpt.buf = e.st.AppendEncode(p.ckpt.buf)
	}
	offs = append(offs, len(p.ckpt.buf))
	p.ckpt.offs = offs
	buf := p.ckpt.buf
	for i, e := range p.dirty {
		e.next = buf[offs[i]:offs[i+1]:offs[i+1]]
		out.Changelog = append(out.Changelog, ChangelogEntry{Key: e.key, Value: e.next})
	}
	enc, err := json.Marshal(&p.meta)
	if err != nil {
		return fmt.Errorf("partition %d: encode meta: %w", p.id, err)
	}
	p.ckpt.flushMeta = enc
	out.Changelog = append(out.Changelog, ChangelogEntry{Key: MetaKey, Value: enc})
	p.tl.stage(out, p.e.opts.TimelineRecords)
	p.ckpt.flushed = true
	return nil
}

// commit makes the flushed batch the partition's committed state, with
// changelogNext (the changelog offset after this batch's entries; 0
// without a changelog) as the changelog position. Without
// Options.CheckpointEvents and CheckpointInterval it checkpoints it to
// Pebble at once; with them, the caller checkpoints when CheckpointDue
// says so (a runtime may do it while it waits for input). Then the
// partition picks up a new rule pack, if one was set.
func (p *Partition) commit(changelogNext int64) error {
	if !p.ckpt.flushed {
		return fmt.Errorf("partition %d: commit without flush", p.id)
	}
	p.tl.commit()
	for _, e := range p.dirty {
		e.enc, e.next, e.dirty = e.next, nil, false
		if !e.pending {
			e.pending = true
			p.ckpt.pending = append(p.ckpt.pending, e)
		}
	}
	if p.deferring() {
		p.ckpt.mu.Lock()
		for _, e := range p.dirty {
			p.ckpt.committed[e.key] = e.enc
		}
		p.ckpt.mu.Unlock()
	}
	clear(p.dirty)
	p.dirty = p.dirty[:0]
	p.ckpt.meta = p.ckpt.flushMeta
	if changelogNext > 0 {
		p.meta.ChangelogNext = changelogNext
		enc, err := json.Marshal(&p.meta)
		if err != nil {
			return fmt.Errorf("partition %d: encode meta: %w", p.id, err)
		}
		p.ckpt.meta = enc
	}
	// The batch's timer changes are committed: no longer undoable.
	p.timers.undo = p.timers.undo[:0]
	p.timers.undoBuf = p.timers.undoBuf[:0]
	p.ckpt.bufLen = len(p.ckpt.buf)
	p.ckpt.committedNext = p.meta.Next
	p.ckpt.flushed = false
	if !p.deferring() {
		if err := p.Checkpoint(); err != nil {
			return err
		}
	}
	p.evict()
	if np := p.e.Pack(); np != p.pack {
		p.pack = np
		// A new pack may have other timers: find the first due again.
		if err := p.peekTimers(); err != nil {
			return err
		}
	}
	return nil
}

// deferring reports whether checkpoints may come later than commits.
func (p *Partition) deferring() bool {
	return p.e.opts.CheckpointEvents > 0 || p.e.opts.CheckpointInterval > 0
}

// CheckpointDue reports whether committed changes have waited long
// enough (Options.CheckpointEvents, CheckpointInterval) or fill half the
// state cache, which cannot evict them.
func (p *Partition) CheckpointDue() bool {
	o := &p.e.opts
	switch {
	case p.ckpt.meta == nil:
		return false
	case !p.deferring():
		return true
	case o.CheckpointEvents > 0 && p.meta.Events-p.ckpt.events >= int64(o.CheckpointEvents):
		return true
	case o.CheckpointInterval > 0 && time.Since(p.ckpt.at) >= o.CheckpointInterval:
		return true
	}
	// Pending states cannot be evicted: keep them within the cache.
	return len(p.ckpt.pending) >= max(o.CacheStates/2, 1)
}

// Pending reports whether committed changes wait for a checkpoint.
func (p *Partition) Pending() bool { return p.ckpt.meta != nil }

// Checkpoint writes the committed states, the timer index changes and
// the meta (input and changelog positions, watermark, aggregates) to
// Pebble in one atomic batch. Commit calls it when checkpoints are not
// deferred; otherwise the runtime calls it when CheckpointDue says so
// (after a batch, or for a partition without input) and when the
// partition is handed back. It must not be called during a batch (between
// Process and Commit or Abort). A failed checkpoint changes nothing: the
// next one writes the same and more.
func (p *Partition) Checkpoint() error {
	if len(p.dirty) > 0 || p.ckpt.flushed || len(p.timers.undo) > 0 || p.meta.Next != p.ckpt.committedNext {
		return fmt.Errorf("partition %d: checkpoint during a batch", p.id)
	}
	if p.ckpt.meta == nil {
		return nil // nothing committed since the last checkpoint
	}
	// A plain batch: the indexed one (the timer changes, which scans
	// read) would also keep a skiplist of the states, which nothing reads
	// back from it.
	b := p.e.db.NewBatch()
	defer b.Close()
	if err := b.Apply(p.batch, nil); err != nil {
		return fmt.Errorf("partition %d: stage timers: %w", p.id, err)
	}
	// In key order, as Flush does, for Pebble's memtable inserter.
	slices.SortFunc(p.ckpt.pending, func(a, b *entry) int { return strings.Compare(a.key, b.key) })
	prefix := partKey(prefixState, p.id)
	for _, e := range p.ckpt.pending {
		p.keyBuf = append(append(p.keyBuf[:0], prefix...), e.key...)
		if err := b.Set(p.keyBuf, e.enc, nil); err != nil {
			return fmt.Errorf("partition %d: stage state: %w", p.id, err)
		}
	}
	if err := b.Set(partKey(prefixMeta, p.id), p.ckpt.meta, nil); err != nil {
		return fmt.Errorf("partition %d: stage meta: %w", p.id, err)
	}
	if err := p.tl.write(p.e.db, b, p.id, p.e.opts.TimelineRecords); err != nil {
		return err
	}
	if p.e.failCheckpoint.CompareAndSwap(true, false) {
		return fmt.Errorf("partition %d: checkpoint: injected failure", p.id)
	}
	p.tl.mu.Lock()
	if err := b.Commit(p.writeOpts()); err != nil {
		p.tl.mu.Unlock()
		return fmt.Errorf("partition %d: checkpoint: %w", p.id, err)
	}
	p.tl.written()
	p.tl.mu.Unlock()
	p.batch.Close()
	p.batch = p.e.db.NewIndexedBatch()
	// The store has them now; pendBuf may be reused.
	for _, e := range p.ckpt.pending {
		e.pending, e.enc = false, nil
	}
	clear(p.ckpt.pending)
	p.ckpt.pending = p.ckpt.pending[:0]
	p.ckpt.mu.Lock()
	clear(p.ckpt.committed)
	p.ckpt.mu.Unlock()
	p.ckpt.meta = nil
	p.ckpt.buf = p.ckpt.buf[:0]
	p.ckpt.bufLen = 0
	p.ckpt.events, p.ckpt.at = p.meta.Events, time.Now()
	return nil
}

// abort discards everything applied since the last commit (the Kafka
// transaction carrying its outputs did not commit): the changed customers
// go back to their committed states, the batch's timer index changes are
// taken back, and so is the meta, so that the same input can be applied
// again.
func (p *Partition) abort() error {
	for i := len(p.timers.undo) - 1; i >= 0; i-- {
		u := p.timers.undo[i]
		k := p.timers.undoBuf[u.start:u.end]
		var err error
		if u.set {
			err = p.batch.Delete(k, nil)
		} else {
			err = p.batch.Set(k, nil, nil)
		}
		if err != nil {
			return fmt.Errorf("partition %d: undo timer change: %w", p.id, err)
		}
	}
	p.timers.undo = p.timers.undo[:0]
	p.timers.undoBuf = p.timers.undoBuf[:0]
	p.tl.abort()
	for _, e := range p.dirty {
		e.dirty, e.next = false, nil
		if !e.pending {
			delete(p.cache, e.key) // Pebble has its committed state
			continue
		}
		if err := e.st.Decode(e.enc); err != nil {
			return fmt.Errorf("partition %d: customer %q: %w", p.id, e.key, err)
		}
	}
	clear(p.dirty)
	p.dirty = p.dirty[:0]
	p.ckpt.flushed = false
	p.ckpt.buf = p.ckpt.buf[:p.ckpt.bufLen] // the aborted batch's encodings
	m, err := p.committedMeta()
	if err != nil {
		return err
	}
	p.meta = m
	// Timers fired in the aborted batch are back in the index.
	p.timers.floor = min(p.timers.floor, m.Watermark)
	return p.peekTimers()
}

// lookupCommitted decodes a customer's committed state if it waits for a
// checkpoint (ok false: read the store). Safe from any goroutine.
func (p *Partition) lookupCommitted(customer string) (st State, ok bool, err error) {
	p.ckpt.mu.RLock()
	defer p.ckpt.mu.RUnlock()
	enc, ok := p.ckpt.committed[customer]
	if !ok {
		return st, false, nil
	}
	if err := st.Decode(enc); err != nil {
		return st, true, fmt.Errorf("customer %q: %w", customer, err)
	}
	return st, true, nil
}

func (p *Partition) committedMeta() (Meta, error) {
	if p.ckpt.meta == nil {
		m, _, err := p.e.StoredMeta(p.id)
		return m, err
	}
	m, err := decodeMeta(p.ckpt.meta)
	if err != nil {
		return Meta{}, fmt.Errorf("partition %d: %w", p.id, err)
	}
	return m, nil
}

// writeOpts are the store writes' options: fsync'd with Options.Sync.
func (p *Partition) writeOpts() *pebble.WriteOptions {
	if p.e.opts.Sync {
		return pebble.Sync
	}
	return pebble.NoSync
}

func (p *Partition) commitBatch() error {
	if err := p.batch.Commit(p.writeOpts()); err != nil {
		return fmt.Errorf("partition %d: commit: %w", p.id, err)
	}
	p.batch.Close()
	p.batch = p.e.db.NewIndexedBatch()
	return nil
}

// evict keeps the cache within its bound, dropping clean entries that
// the store holds (after a Commit nothing is dirty; pending entries
// stay), in the map's random order. Evicting the least recently used
// first was tried: at a million customers the hit rate stayed at 41%
// (most misses are customers' first events, or events days apart).
func (p *Partition) evict() {
	limit := p.e.opts.CacheStates
	if len(p.cache) <= limit {
		return
	}
	target := limit * 3 / 4
	for k, e := range p.cache {
		if len(p.cache) <= target {
			break
		}
		if !e.pending { // only the store has a checkpointed state
			delete(p.cache, k)
		}
	}
}

// Restore applies one changelog entry (a customer's state, a tombstone as
// nil value, or the meta record) to the store, for a partition being
// restored; CommitRestore makes a run of them durable.
func (p *Partition) Restore(key string, value []byte) error {
	if key == MetaKey {
		m, err := decodeMeta(value)
		if err != nil {
			return err
		}
		next, cl := p.meta.Next, p.meta.ChangelogNext
		p.meta = m
		p.meta.Next, p.meta.ChangelogNext = max(next, m.Next), cl
		return nil
	}
	delete(p.cache, key)
	p.keyBuf = append(append(p.keyBuf[:0], partKey(prefixState, p.id)...), key...)
	if value == nil {
		return p.batch.Delete(p.keyBuf, nil)
	}
	var st State
	if err := st.Decode(value); err != nil {
		return fmt.Errorf("restore customer %q: %w", key, err)
	}
	if err := p.batch.Set(p.keyBuf, value, nil); err != nil {
		return fmt.Errorf("restore customer %q: %w", key, err)
	}
	if st.TimerDue != 0 {
		p.keyBuf = appendTimerKey(p.keyBuf[:0], p.id, st.TimerDue, key)
		if err := p.batch.Set(p.keyBuf, nil, nil); err != nil {
			return fmt.Errorf("restore customer %q: %w", key, err)
		}
	}
	return nil
}

// CommitRestore makes restored entries durable, recording changelogNext
// as the changelog position restored up to, and next as the input
// position to resume from.
func (p *Partition) CommitRestore(changelogNext, next int64) error {
	p.meta.ChangelogNext = changelogNext
	if next > 0 {
		p.meta.Next = next
	}
	enc, err := json.Marshal(&p.meta)
	if err != nil {
		return fmt.Errorf("partition %d: encode meta: %w", p.id, err)
	}
	if err := p.batch.Set(partKey(prefixMeta, p.id), enc, nil); err != nil {
		return fmt.Errorf("partition %d: stage meta: %w", p.id, err)
	}
	if err := p.commitBatch(); err != nil {
		return err
	}
	p.ckpt.events, p.ckpt.at = p.meta.Events, time.Now()
	p.ckpt.committedNext = p.meta.Next
	return p.peekTimers()
}

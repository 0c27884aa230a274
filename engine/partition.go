package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"

	"github.com/lifeline-hq/lifeline/rules"
)

// Partition processes one input partition: it applies events to customer
// states, runs the stage machine, the health scorecard, the alert rules
// and the timers, and checkpoints states together with the input position.
// doc.go describes the batch cycle (Apply, Flush, Commit or Abort,
// Checkpoint), the store's keys and who may touch what.
//
// Its work is spread over files by phase: this file loads customers and
// applies events; eval.go runs the rule pack for one customer and writes
// the output records; timers.go keeps the timer index and fires timers;
// commit.go ends batches, checkpoints and restores.
//
// A Partition is not safe for concurrent use: one goroutine owns it.
// Engine.Lookup is the one way in from other goroutines.
type Partition struct {
	e        *Engine
	id       int32
	pack     *rules.Pack
	lateness int64

	meta  Meta
	cache map[string]*entry
	dirty []*entry // changed by the batch in progress
	// batch stages the store writes that scans must see before the next
	// checkpoint: the timer index changes (and, while restoring, the
	// restored states). It is indexed so that timer scans read through it.
	batch        *pebble.Batch
	keyBuf       []byte
	hits, misses uint64 // state reads the cache answered, and not

	eval   evalScratch // eval.go
	timers timerState  // timers.go
	ckpt   checkpoint  // commit.go
	tl     timelineLog // timeline.go
}

type entry struct {
	key     string // the customer id, owned
	st      State
	dirty   bool   // changed by the batch in progress
	pending bool   // committed, not yet checkpointed
	enc     []byte // the committed encoding, written at the checkpoint
	next    []byte // Flush's encoding, committed by Commit
	// recent backs st.Recent up to the default dedupe horizon, so that
	// a customer read from the store or new costs no allocation for its
	// event ids (an entry is only used through its pointer, and its
	// State is never copied out).
	recent [DefaultDedupeIDs]uint64
}

func newPartition(e *Engine, id int32) (*Partition, error) {
	p := &Partition{
		e:        e,
		id:       id,
		pack:     e.Pack(),
		lateness: e.opts.AllowedLateness.Milliseconds(),
		cache:    make(map[string]*entry),
		batch:    e.db.NewIndexedBatch(),
	}
	p.ckpt.at = time.Now()
	p.ckpt.committed = make(map[string][]byte)
	m, _, err := e.StoredMeta(id)
	if err != nil {
		return nil, err
	}
	p.meta = m
	p.ckpt.events = m.Events
	p.ckpt.committedNext = m.Next
	p.eval.comps = make([]float64, len(p.pack.Health.Components))
	if err := p.peekTimers(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Partition) release() {
	p.batch.Close()
	p.cache = nil
}

// ID is the partition number.
func (p *Partition) ID() int32 { return p.id }

// Meta returns the partition's checkpoint and aggregates as of the last
// Apply (not yet committed, if a batch is in progress).
func (p *Partition) Meta() Meta { return p.meta.Clone() }

// Next is the input position to read next.
func (p *Partition) Next() int64 { return p.meta.Next }

// Watermark is the partition's event-time watermark (Unix ms).
func (p *Partition) Watermark() int64 { return p.meta.Watermark }

// RulesVersion is the version of the pack the partition applies now.
func (p *Partition) RulesVersion() string { return p.pack.Version }

// Pack is the rule pack the partition applies now. Like the partition's
// other methods, it is for the goroutine that drives it.
func (p *Partition) Pack() *rules.Pack { return p.pack }

// skip records that the input record at position was consumed without an
// event (undecodable: the runtime reported it).
func (p *Partition) skip(position int64) {
	if position >= p.meta.Next {
		p.meta.Next = position + 1
	}
}

// apply applies ev, read at input position, appending what it causes to
// out. It returns false for a duplicate (an event id among the last
// Options.DedupeIDs the customer has had), which changes nothing. Timers
// that the event's time lets fall due fire before it, in due-time order:
// they are due before the event happened (by more than the allowed
// lateness), so the customer's own event must not cancel them, and a
// customer's lifecycle does not depend on whether other customers' events
// moved the watermark first.
func (p *Partition) apply(ev *Event, position int64, out *Outputs) (bool, error) {
	p.skip(position)
	p.meta.Events++
	e, err := p.load(ev.CustomerID)
	if err != nil {
		return false, err
	}
	if ev.ID != "" {
		h := xxhash.Sum64String(ev.ID) | 1 // never 0, the empty slot
		if e.st.dedupe(h, p.e.opts.DedupeIDs) {
			p.meta.Duplicates++
			return false, nil
		}
	}
	p.markDirty(e)
	if ev.Time > p.meta.MaxEventTime {
		p.meta.MaxEventTime = ev.Time
		if err := p.advance(ev.Time-p.lateness, out); err != nil {
			return true, err
		}
	}
	// name is the event's name as the pack writes it when the pack
	// matched it other than exactly ("order_completed" as "Order
	// Completed"), so that conditions on event see one spelling.
	cat, name := p.pack.ClassifyName(ev.Type, ev.Name)
	value := p.update(&e.st, cat, ev)
	p.run(e, ev.Time, cat, false, name, ev.ID, value, out)
	return true, nil
}

// load returns the customer's cache entry, reading it from Pebble or
// creating a new customer.
func (p *Partition) load(customer string) (*entry, error) {
	if e, ok := p.cache[customer]; ok {
		p.hits++
		return e, nil
	}
	p.misses++
	e := &entry{key: strings.Clone(customer)}
	e.st.Recent = e.recent[:0]
	p.keyBuf = append(append(p.keyBuf[:0], partKey(prefixState, p.id)...), customer...)
	v, closer, err := p.e.db.Get(p.keyBuf)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		e.st.reset()
		p.meta.init()
		p.meta.Customers++
		p.meta.Stages[""]++
	case err != nil:
		return nil, fmt.Errorf("read customer %q: %w", customer, storeErr(err))
	default:
		err = e.st.Decode(v)
		closer.Close()
		if err != nil {
			return nil, fmt.Errorf("customer %q: %w", customer, err)
		}
	}
	p.cache[e.key] = e
	return e, nil
}

func (p *Partition) markDirty(e *entry) {
	if !e.dirty {
		e.dirty = true
		p.dirty = append(p.dirty, e)
	}
}

// CacheStats returns how many state reads the cache answered and how
// many went to the store, since the partition was opened.
func (p *Partition) CacheStats() (hits, misses uint64) { return p.hits, p.misses }

package engine

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// A customer's timeline is its last output records (stage, health, alert),
// newest last, at most Options.TimelineRecords of them: what the HTTP API's
// GET /v1/customers/{id}/timeline answers. It is a view kept beside the
// state, not part of it, written in the checkpoint's batch with the
// states (so it is as durable as they are), and costs nothing when off.
// It is not in the changelog: a partition restored on another instance
// starts its timelines afresh there.
//
// Layout: a ring of slots per customer, so that a checkpoint writes only
// the new records, not the whole timeline again:
//
//	'h' partition customer            → uvarint: records written so far (n)
//	'H' partition customer 0 slot(2)  → uvarint seq, then the record's JSON
//
// Record seq (0, 1, ...) goes to slot seq % TimelineRecords; a reader
// keeps the slots whose seq is among the last TimelineRecords, in seq
// order. A smaller TimelineRecords than the store was written with leaves
// slots that readers skip; a larger one may leave a gap in the timelines
// until they have had that many new records.

// The timelines' key prefixes (doc.go, "Store layout").
const (
	prefixTimeline     = 'h'
	prefixTimelineSlot = 'H'
)

// MaxTimelineRecords bounds Options.TimelineRecords (slots are 2 bytes).
const MaxTimelineRecords = 1000

// timelineLog stages a partition's timeline records between Flush and the
// checkpoint that writes them.
type timelineLog struct {
	// mu guards pending and buf against Engine.Timeline, on other
	// goroutines; the partition's goroutine changes them under it, and
	// holds it from committing a checkpoint to forgetting what it wrote,
	// so that a reader sees each record once.
	mu sync.Mutex
	// batch are the records of the batch in progress (Flush to Commit);
	// pending those committed since the last checkpoint, in order. buf
	// holds their bytes: pending's first, then batch's.
	batch, pending []timelineRec
	buf            []byte
	// scratch for Checkpoint.
	keyBuf, valBuf, slotBuf []byte
}

type timelineRec struct {
	customer   string
	start, end int
}

// stage copies the batch's records into the log (Flush).
func (t *timelineLog) stage(out *Outputs, keep int) {
	if keep <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range out.Records {
		r := &out.Records[i]
		start := len(t.buf)
		t.buf = append(t.buf, r.Value...)
		t.batch = append(t.batch, timelineRec{customer: r.Key, start: start, end: len(t.buf)})
	}
}

// commit makes the batch's records pending (Commit).
func (t *timelineLog) commit() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = append(t.pending, t.batch...)
	t.batch = t.batch[:0]
}

// abort drops the batch's records (Abort).
func (t *timelineLog) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.batch) > 0 {
		t.buf = t.buf[:t.batch[0].start]
	}
	t.batch = t.batch[:0]
}

// write adds the pending records to the checkpoint's batch b: each into
// its customer's next slot, and the customer's count. It reads the store
// once per customer with new records (its count). Written (once b has
// committed) clears them.
func (t *timelineLog) write(db *pebble.DB, b *pebble.Batch, part int32, keep int) error {
	if len(t.pending) == 0 || keep <= 0 {
		return nil
	}
	// Each customer once, its records in order: a stable sort by customer.
	slices.SortStableFunc(t.pending, func(a, b timelineRec) int { return strings.Compare(a.customer, b.customer) })
	for i := 0; i < len(t.pending); {
		j := i + 1
		for j < len(t.pending) && t.pending[j].customer == t.pending[i].customer {
			j++
		}
		customer := t.pending[i].customer
		t.keyBuf = append(t.keyBuf[:0], prefixTimeline)
		t.keyBuf = binary.BigEndian.AppendUint32(t.keyBuf, uint32(part))
		t.keyBuf = append(t.keyBuf, customer...)
		n, err := timelineCount(db, t.keyBuf)
		if err != nil {
			return fmt.Errorf("partition %d: read customer %q's timeline: %w", part, customer, err)
		}
		// Only the newest keep of this checkpoint's records can stay.
		first := i
		if j-i > keep {
			n += uint64(j - i - keep)
			first = j - keep
		}
		for _, r := range t.pending[first:j] {
			t.valBuf = binary.AppendUvarint(t.valBuf[:0], n)
			t.valBuf = append(t.valBuf, t.buf[r.start:r.end]...)
			t.slotBuf = slotKey(t.slotBuf[:0], part, customer, n%uint64(keep))
			if err := b.Set(t.slotBuf, t.valBuf, nil); err != nil {
				return fmt.Errorf("partition %d: stage customer %q's timeline: %w", part, customer, err)
			}
			n++
		}
		t.valBuf = binary.AppendUvarint(t.valBuf[:0], n)
		if err := b.Set(t.keyBuf, t.valBuf, nil); err != nil {
			return fmt.Errorf("partition %d: stage customer %q's timeline: %w", part, customer, err)
		}
		i = j
	}
	return nil
}

// timelineCount reads how many records a customer's timeline has had
// (key: its 'h' key); 0 when none, or when the value is not a count (a
// view, not state: it starts over).
func timelineCount(db *pebble.DB, key []byte) (uint64, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, storeErr(err)
	}
	defer closer.Close()
	n, k := binary.Uvarint(v)
	if k <= 0 {
		return 0, nil
	}
	return n, nil
}

// slotKey appends a timeline slot's key to dst.
func slotKey(dst []byte, part int32, customer string, slot uint64) []byte {
	dst = append(dst, prefixTimelineSlot)
	dst = binary.BigEndian.AppendUint32(dst, uint32(part))
	dst = append(dst, customer...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint16(dst, uint16(slot))
}

// written forgets the pending records (b has committed); the caller
// holds t.mu since before b's commit.
func (t *timelineLog) written() {
	clear(t.pending)
	t.pending = t.pending[:0]
	if len(t.batch) == 0 {
		t.buf = t.buf[:0]
	}
}

// Timeline returns customer's last output records in partition id, oldest
// first, as of the last commit, as Lookup does (found false: none kept;
// also when Options.TimelineRecords is 0). Safe from any goroutine.
func (e *Engine) Timeline(id int32, customer string) (recs []json.RawMessage, found bool, err error) {
	e.mu.Lock()
	p := e.parts[id]
	e.mu.Unlock()
	if p != nil {
		// The store and the records committed since the last
		// checkpoint, both before or both after the next one.
		p.tl.mu.Lock()
		defer p.tl.mu.Unlock()
	}
	keep := e.opts.TimelineRecords
	if keep <= 0 {
		return nil, false, nil
	}
	n, err := timelineCount(e.db, append(partKey(prefixTimeline, id), customer...))
	if err != nil {
		return nil, false, fmt.Errorf("read customer %q's timeline: %w", customer, err)
	}
	if n > 0 {
		if recs, err = e.timelineSlots(id, customer, n, keep); err != nil {
			return nil, false, err
		}
	}
	if p != nil {
		for _, r := range p.tl.pending {
			if r.customer == customer {
				recs = append(recs, json.RawMessage(slices.Clone(p.tl.buf[r.start:r.end])))
			}
		}
	}
	if len(recs) > keep {
		recs = recs[len(recs)-keep:]
	}
	return recs, len(recs) > 0, nil
}

// timelineSlots reads a customer's stored records: those of its slots
// whose seq is among the last keep of n, in seq order.
func (e *Engine) timelineSlots(id int32, customer string, n uint64, keep int) ([]json.RawMessage, error) {
	lower := slotKey(nil, id, customer, 0)
	upper := slotKey(nil, id, customer, 0)
	upper[len(upper)-3]++ // the byte after the customer: 0 → 1
	iter, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper[:len(upper)-2]})
	if err != nil {
		return nil, fmt.Errorf("read customer %q's timeline: %w", customer, storeErr(err))
	}
	defer iter.Close()
	from := uint64(0)
	if n > uint64(keep) {
		from = n - uint64(keep)
	}
	type seqRec struct {
		seq uint64
		rec json.RawMessage
	}
	var got []seqRec
	for ok := iter.First(); ok; ok = iter.Next() {
		v := iter.Value()
		seq, k := binary.Uvarint(v)
		if k <= 0 || seq < from || seq >= n {
			continue // a slot left by a larger TimelineRecords, or bad
		}
		got = append(got, seqRec{seq, json.RawMessage(slices.Clone(v[k:]))})
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("read customer %q's timeline: %w", customer, storeErr(err))
	}
	slices.SortFunc(got, func(a, b seqRec) int { return cmp.Compare(a.seq, b.seq) })
	recs := make([]json.RawMessage, len(got))
	for i, g := range got {
		recs[i] = g.rec
	}
	return recs, nil
}

package engine

import (
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
// state, not part of it: one store value per customer (prefixTimeline,
// partition, customer id) written in the checkpoint's batch with the
// states, so it is as durable as they are and costs nothing when off. It is
// not in the changelog: a partition restored on another instance starts its
// timelines afresh there.

// prefixTimeline is the timelines' key prefix (doc.go, "Store layout").
const prefixTimeline = 'h'

// MaxTimelineRecords bounds Options.TimelineRecords.
const MaxTimelineRecords = 1000

// maxTimelineBytes bounds one customer's timeline value: the oldest
// records go first beyond it, whatever their number.
const maxTimelineBytes = 64 << 10

// timelineVersion is the first byte of a timeline value; records follow,
// each a uvarint length and the record's JSON, oldest first.
const timelineVersion = 1

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
	keyBuf, valBuf []byte
	order          []string
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

// write adds the pending records to the checkpoint's batch b: each
// customer's stored timeline, the new records appended, the oldest beyond
// keep (or maxTimelineBytes) dropped. It reads the store once per customer
// with new records. Written (once b has committed) clears them.
func (t *timelineLog) write(db *pebble.DB, b *pebble.Batch, part int32, keep int) error {
	if len(t.pending) == 0 || keep <= 0 {
		return nil
	}
	// Each customer once, its records in order: a stable sort by customer.
	slices.SortStableFunc(t.pending, func(a, b timelineRec) int { return strings.Compare(a.customer, b.customer) })
	prefix := partKey(prefixTimeline, part)
	for i := 0; i < len(t.pending); {
		j := i + 1
		for j < len(t.pending) && t.pending[j].customer == t.pending[i].customer {
			j++
		}
		customer := t.pending[i].customer
		t.keyBuf = append(append(t.keyBuf[:0], prefix...), customer...)
		var old [][]byte
		v, closer, err := db.Get(t.keyBuf)
		switch {
		case errors.Is(err, pebble.ErrNotFound):
		case err != nil:
			return fmt.Errorf("partition %d: read customer %q's timeline: %w", part, customer, storeErr(err))
		default:
			old, err = decodeTimeline(v)
			if err != nil {
				// A view, not state: a bad value starts over.
				old = nil
			}
		}
		recs := make([][]byte, 0, len(old)+j-i)
		recs = append(recs, old...)
		for _, r := range t.pending[i:j] {
			recs = append(recs, t.buf[r.start:r.end])
		}
		t.valBuf = appendTimeline(t.valBuf[:0], recs, keep)
		if closer != nil {
			closer.Close() // old aliased v: encoded into valBuf above
		}
		if err := b.Set(t.keyBuf, t.valBuf, nil); err != nil {
			return fmt.Errorf("partition %d: stage customer %q's timeline: %w", part, customer, err)
		}
		i = j
	}
	return nil
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

// appendTimeline encodes the newest of recs (at most keep, and at most
// maxTimelineBytes) to dst.
func appendTimeline(dst []byte, recs [][]byte, keep int) []byte {
	if len(recs) > keep {
		recs = recs[len(recs)-keep:]
	}
	size := 0
	first := len(recs)
	for first > 0 && size+len(recs[first-1])+binary.MaxVarintLen32 <= maxTimelineBytes {
		first--
		size += len(recs[first]) + binary.MaxVarintLen32
	}
	dst = append(dst, timelineVersion)
	for _, r := range recs[first:] {
		dst = binary.AppendUvarint(dst, uint64(len(r)))
		dst = append(dst, r...)
	}
	return dst
}

// decodeTimeline splits a timeline value into its records (aliasing b).
func decodeTimeline(b []byte) ([][]byte, error) {
	if len(b) == 0 || b[0] != timelineVersion {
		return nil, fmt.Errorf("timeline: unknown encoding")
	}
	var recs [][]byte
	for b = b[1:]; len(b) > 0; {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, fmt.Errorf("timeline: truncated record")
		}
		recs = append(recs, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	return recs, nil
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
	key := append(partKey(prefixTimeline, id), customer...)
	v, closer, err := e.db.Get(key)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, false, fmt.Errorf("read customer %q's timeline: %w", customer, storeErr(err))
	default:
		defer closer.Close()
		raw, err := decodeTimeline(v)
		if err != nil {
			return nil, false, fmt.Errorf("customer %q: %w", customer, err)
		}
		for _, r := range raw {
			recs = append(recs, json.RawMessage(slices.Clone(r)))
		}
	}
	if p != nil {
		for _, r := range p.tl.pending {
			if r.customer == customer {
				recs = append(recs, json.RawMessage(slices.Clone(p.tl.buf[r.start:r.end])))
			}
		}
	}
	if keep := e.opts.TimelineRecords; len(recs) > keep {
		recs = recs[len(recs)-keep:]
	}
	return recs, len(recs) > 0, nil
}

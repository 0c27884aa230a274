package engine

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lifeline-hq/lifeline/rules"
)

// Timers: each customer with a timed transition or a timed alert ahead of
// it is indexed in the store under its due time ('t' keys, doc.go), and
// fires when the watermark passes that time. The index is lazy: a
// customer is indexed at a time no later than its real next due time,
// and a key that falls due early only re-indexes the customer then, so a
// busy customer costs no index write per event.

// timerState is the partition's view of its timer index.
type timerState struct {
	// undo records the changes the batch in progress made to the index
	// (keys in undoBuf), so that Abort can take them back.
	undo    []undoOp
	undoBuf []byte
	nextDue int64 // earliest key in the timer index (0: none)
	// floor: every timer due at or before it has fired and its key is
	// deleted. Scans start above it, so they seek past the tombstones fired
	// timers leave (a queue in an LSM) instead of stepping through them.
	// New keys are always due after the watermark, which is at or above
	// the floor.
	floor int64
	keys  [][]byte // a scan's keys
	// low is the earliest due time scheduled while fireTimers works
	// through a scan (0: none), so that it fires it before later keys.
	low int64
}

// undoOp takes back one timer index change: delete the key (it was set)
// or set it again (it was deleted).
type undoOp struct {
	start, end int // the key in undoBuf
	set        bool
}

func (p *Partition) advance(wm int64, out *Outputs) error {
	if wm <= p.meta.Watermark {
		return nil
	}
	p.meta.Watermark = wm
	if p.timers.nextDue == 0 || p.timers.nextDue > wm {
		return nil
	}
	return p.fireTimers(wm, out)
}

// nextDueFor is the earliest due time after `after` among the customer's
// timed transitions, its not-yet-firing timed alerts and its alerts
// pending behind a for or a cooldown (0: none).
func (p *Partition) nextDueFor(st *State, si int, after int64) int64 {
	var next int64
	consider := func(due int64) {
		if due > after && (next == 0 || due < next) {
			next = due
		}
	}
	for _, t := range p.pack.TimerTransitions(si) {
		consider(t.Timer.Due(&st.Times))
	}
	for _, a := range p.pack.Alerts {
		if a.Timer != nil && a.InStages(si) && st.openAlert(a.Name) < 0 {
			consider(a.Timer.Due(&st.Times))
		}
	}
	// Alerts waiting out a for or a cooldown: looked at again when they
	// could fire.
	for i := range st.Holds {
		if a := p.pack.Alert(st.Holds[i].Rule); a != nil {
			consider(holdDue(a, &st.Holds[i]))
		}
	}
	return next
}

// schedule makes sure the timer index holds the customer at or before
// due. Timers move later lazily: a key that falls due early finds the
// state's real due time and re-indexes it then, so a busy customer costs
// no index write per event.
func (p *Partition) schedule(e *entry, due int64) {
	st := &e.st
	if due == 0 || (st.TimerDue != 0 && st.TimerDue <= due) {
		return
	}
	if st.TimerDue != 0 {
		p.keyBuf = appendTimerKey(p.keyBuf[:0], p.id, st.TimerDue, e.key)
		_ = p.batch.Delete(p.keyBuf, nil)
		p.recordUndo(p.keyBuf, false)
	}
	p.keyBuf = appendTimerKey(p.keyBuf[:0], p.id, due, e.key)
	_ = p.batch.Set(p.keyBuf, nil, nil)
	p.recordUndo(p.keyBuf, true)
	st.TimerDue = due
	if p.timers.nextDue == 0 || due < p.timers.nextDue {
		p.timers.nextDue = due
	}
	if p.timers.low == 0 || due < p.timers.low {
		p.timers.low = due
	}
	p.markDirty(e)
}

// fireTimers fires every timer due at or before wm, in (due, customer)
// order, including timers that firing schedules within wm.
func (p *Partition) fireTimers(wm int64, out *Outputs) error {
	lower := appendTimerKey(nil, p.id, p.timers.floor+1, "")
	upper := appendTimerKey(nil, p.id, wm+1, "")
	for {
		iter, err := p.batch.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return fmt.Errorf("scan timers of partition %d: %w", p.id, storeErr(err))
		}
		p.timers.keys = p.timers.keys[:0]
		for ok := iter.First(); ok && len(p.timers.keys) < 4096; ok = iter.Next() {
			p.timers.keys = append(p.timers.keys, append([]byte(nil), iter.Key()...))
		}
		if err := iter.Close(); err != nil {
			return fmt.Errorf("scan timers of partition %d: %w", p.id, storeErr(err))
		}
		if len(p.timers.keys) == 0 {
			break
		}
		// Firing reschedules lazily indexed customers to their real due
		// time, which may come before the rest of this scan: scan again
		// then, so that timers fire in due order across customers.
		p.timers.low = 0
		for _, k := range p.timers.keys {
			if p.timers.low != 0 && p.timers.low <= int64(binary.BigEndian.Uint64(k[5:13])) {
				break
			}
			if err := p.fireKey(k, out); err != nil {
				return err
			}
		}
	}
	p.timers.floor = wm
	return p.peekTimers()
}

func (p *Partition) fireKey(k []byte, out *Outputs) error {
	if err := p.batch.Delete(k, nil); err != nil {
		return fmt.Errorf("partition %d: delete timer: %w", p.id, err)
	}
	p.recordUndo(k, false)
	due := int64(binary.BigEndian.Uint64(k[5:13]))
	e, err := p.load(string(k[13:]))
	if err != nil {
		return err
	}
	st := &e.st
	if st.TimerDue != due {
		return nil // superseded by an earlier reschedule
	}
	st.TimerDue = 0
	p.markDirty(e)
	si := p.pack.StageIndex(st.Stage)
	if actual := p.nextDueFor(st, si, math.MinInt64); actual > due {
		p.schedule(e, actual) // the customer moved on: not due yet
		return nil
	} else if actual == 0 {
		return nil
	}
	p.eval.timerRuns++
	p.run(e, due, rules.CatNone, true, "", "", 0, out)
	return nil
}

func (p *Partition) recordUndo(key []byte, set bool) {
	start := len(p.timers.undoBuf)
	p.timers.undoBuf = append(p.timers.undoBuf, key...)
	p.timers.undo = append(p.timers.undo, undoOp{start: start, end: len(p.timers.undoBuf), set: set})
}

// peekTimers sets nextDue from the first key of the timer index.
func (p *Partition) peekTimers() error {
	iter, err := p.batch.NewIter(&pebble.IterOptions{LowerBound: appendTimerKey(nil, p.id, p.timers.floor+1, ""), UpperBound: partKey(prefixTimer, p.id+1)})
	if err != nil {
		return fmt.Errorf("scan timers of partition %d: %w", p.id, storeErr(err))
	}
	p.timers.nextDue = 0
	if iter.First() {
		p.timers.nextDue = int64(binary.BigEndian.Uint64(iter.Key()[5:13]))
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("scan timers of partition %d: %w", p.id, storeErr(err))
	}
	return nil
}

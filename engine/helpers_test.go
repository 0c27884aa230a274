package engine_test

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// Times used throughout: t0 is a Monday midnight UTC.
var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).UnixMilli()

const (
	minute = int64(60 * 1000)
	hour   = 60 * minute
	day    = int64(engine.DayMillis)
)

// rec is an output record, parsed.
type rec struct {
	Kind       string             `json:"kind"`
	CustomerID string             `json:"customer_id"`
	At         string             `json:"at"`
	From       string             `json:"from"`
	To         string             `json:"to"`
	Rule       string             `json:"rule"`
	EventID    string             `json:"event_id"`
	Score      float64            `json:"score"`
	Band       string             `json:"band"`
	Components map[string]float64 `json:"components"`
	AlertID    string             `json:"alert_id"`
	Severity   string             `json:"severity"`
	Status     string             `json:"status"`
	Reasons    []string           `json:"reasons"`
	ResolvedBy string             `json:"resolved_by"`
	raw        string
}

func (r rec) atMillis(t testing.TB) int64 {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, r.At)
	if err != nil {
		t.Fatalf("record %s: bad at: %v", r.raw, err)
	}
	return at.UnixMilli()
}

// harness drives one partition of a real engine over Pebble in a temp dir
// through the engine's Driver, as runtimes do: Process/Advance, then Flush
// and Commit.
type harness struct {
	t    testing.TB
	dir  string
	opts engine.Options
	pack *rules.Pack // nil: the default pack
	eng  *engine.Engine
	p    *engine.Partition
	d    *engine.Driver
	pos  int64
	// recs is every record produced so far, in order; raw the same as text.
	recs    []rec
	drained int
}

func newHarness(t testing.TB, opts engine.Options) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), opts: opts}
	h.open()
	t.Cleanup(h.close)
	return h
}

func (h *harness) open() {
	h.t.Helper()
	pack := h.pack
	if pack == nil {
		pack = rules.Default()
	}
	eng, err := engine.Open(h.dir, pack, h.opts)
	if err != nil {
		h.t.Fatal(err)
	}
	p, err := eng.Partition(0)
	if err != nil {
		h.t.Fatal(err)
	}
	h.eng, h.p, h.d = eng, p, engine.NewDriver(p)
	h.pos = p.Next()
}

func (h *harness) close() {
	if h.eng == nil {
		return
	}
	h.eng.Release(h.p)
	if err := h.eng.Close(); err != nil {
		h.t.Error(err)
	}
	h.eng, h.p, h.d = nil, nil, nil
}

// reopen commits, closes the engine and opens it again on the same store:
// a clean restart, with an empty cache.
func (h *harness) reopen() {
	h.t.Helper()
	h.commit()
	h.close()
	h.open()
}

// apply applies ev at the next input position and reports whether it was
// applied (false: a duplicate).
func (h *harness) apply(ev engine.Event) bool {
	h.t.Helper()
	before := h.d.Stats().Applied
	if err := h.d.Process(&engine.Events{List: []engine.Event{ev}, First: h.pos}); err != nil {
		h.t.Fatalf("apply %+v: %v", ev, err)
	}
	h.pos++
	h.drain()
	return h.d.Stats().Applied > before
}

// skip consumes the next input position without an event (a record that
// could not be decoded).
func (h *harness) skip() {
	h.t.Helper()
	if err := h.d.Process(&blank{pos: h.pos}); err != nil {
		h.t.Fatal(err)
	}
	h.pos++
}

// blank is a Source of one record without an event.
type blank struct {
	pos  int64
	read bool
}

func (b *blank) Next() (int64, error) {
	if b.read {
		return 0, io.EOF
	}
	b.read = true
	return b.pos, nil
}

func (b *blank) Event(*engine.Event) bool { return false }

func (h *harness) advance(wm int64) {
	h.t.Helper()
	if err := h.d.Advance(wm); err != nil {
		h.t.Fatal(err)
	}
	h.drain()
}

func (h *harness) drain() {
	h.t.Helper()
	out := h.d.Outputs()
	for _, o := range out.Records[h.drained:] {
		var r rec
		if err := json.Unmarshal(o.Value, &r); err != nil {
			h.t.Fatalf("output is not JSON: %v: %s", err, o.Value)
		}
		if r.Kind != o.Kind.String() || r.CustomerID != o.Key {
			h.t.Fatalf("record %s: Kind %v / Key %q disagree with its JSON", o.Value, o.Kind, o.Key)
		}
		r.raw = string(o.Value)
		h.recs = append(h.recs, r)
	}
	h.drained = len(out.Records)
}

func (h *harness) commit() {
	h.t.Helper()
	if _, err := h.d.Flush(); err != nil {
		h.t.Fatal(err)
	}
	if err := h.d.Commit(0); err != nil {
		h.t.Fatal(err)
	}
	h.drained = 0
}

// state commits and reads a customer's stored state.
func (h *harness) state(customer string) engine.State {
	h.t.Helper()
	h.commit()
	st, ok, err := h.eng.Lookup(0, customer)
	if err != nil || !ok {
		h.t.Fatalf("lookup %s: ok %v, err %v", customer, ok, err)
	}
	return st
}

// of returns the records of one customer, health records included when
// health is set.
func (h *harness) of(customer string, health bool) []rec {
	var rs []rec
	for _, r := range h.recs {
		if r.CustomerID == customer && (health || r.Kind != "health") {
			rs = append(rs, r)
		}
	}
	return rs
}

// ev builds a Segment track event.
func ev(customer, name string, at int64, id string) engine.Event {
	return engine.Event{ID: id, CustomerID: customer, Type: "track", Name: name, Time: at}
}

func purchase(customer string, at int64, id string, revenue float64) engine.Event {
	e := ev(customer, "Order Completed", at, id)
	e.SetAmount(rules.MoneyRevenue, revenue)
	return e
}

func nps(customer string, at int64, id string, score float64) engine.Event {
	e := ev(customer, "NPS Responded", at, id)
	e.Score, e.HasScore = score, true
	return e
}

func iso(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// summary renders records as "kind rule status at" lines for messages.
func summary(rs []rec) []string {
	var s []string
	for _, r := range rs {
		switch r.Kind {
		case "stage":
			s = append(s, r.CustomerID+" stage "+r.Rule+" "+r.From+"->"+r.To+" @"+r.At)
		case "alert":
			s = append(s, r.CustomerID+" alert "+r.Rule+" "+r.Status+" @"+r.At)
		default:
			s = append(s, r.CustomerID+" health "+r.Band+" @"+r.At)
		}
	}
	return s
}

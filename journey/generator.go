package journey

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unsafe"
)

// Config describes a workload. The zero value of every field means its
// default, so Config{} is the standard workload.
type Config struct {
	// Customers is the number of customers, at most 1e9. Default 1000.
	Customers int
	// Days is how many days of activity are simulated from Start, at most
	// 36500. Default 90.
	Days int
	// Seed seeds every random choice; the same Config gives byte-identical
	// output. Default (and the meaning of 0) is 1.
	Seed int64
	// Start is the event time of day 0, between 1970 and 9000, truncated to
	// the millisecond. Default 2026-01-01T00:00:00Z.
	Start time.Time
	// BadRate is the fraction of records that are deliberately bad, at most
	// 0.5. 0 means the default, 0.001; a negative value means none.
	BadRate float64
	// Skew is the exponent s of the Zipf-like law of activity: each customer
	// draws a rank r uniformly from [1, 100] and engages at a rate
	// proportional to r^-s, scaled so that the mean stays about 0.8 sessions
	// (2 engagement events) a day. At the default 1.1 the most active
	// customers engage ~150 times more often than the least; larger values
	// are more unequal (at most 4). 0 means the default; a negative value
	// means no skew (every customer alike).
	Skew float64
}

// ErrConfig is wrapped by every error New returns for an invalid Config; the
// message names the field.
var ErrConfig = errors.New("workload: invalid config")

const (
	defaultCustomers = 1000
	defaultDays      = 90
	defaultSeed      = 1
	defaultBadRate   = 0.001
	defaultSkew      = 1.1
	maxCustomers     = 1_000_000_000
	maxDays          = 36500
	maxBadRate       = 0.5
	maxSkew          = 4
	meanSessions     = 0.8 // engagement sessions a day, on average over customers
)

func defaultStart() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// withDefaults fills in defaults and checks the result.
func (c Config) withDefaults() (Config, error) {
	if c.Customers == 0 {
		c.Customers = defaultCustomers
	}
	if c.Days == 0 {
		c.Days = defaultDays
	}
	if c.Seed == 0 {
		c.Seed = defaultSeed
	}
	if c.Start.IsZero() {
		c.Start = defaultStart()
	}
	c.Start = c.Start.UTC().Truncate(time.Millisecond)
	if c.BadRate == 0 {
		c.BadRate = defaultBadRate
	} else if c.BadRate < 0 {
		c.BadRate = 0
	}
	if c.Skew == 0 {
		c.Skew = defaultSkew
	} else if c.Skew < 0 {
		c.Skew = 0
	}
	switch {
	case c.Customers < 0 || c.Customers > maxCustomers:
		return c, fmt.Errorf("%w: Customers = %d: must be between 1 and %d", ErrConfig, c.Customers, maxCustomers)
	case c.Days < 0 || c.Days > maxDays:
		return c, fmt.Errorf("%w: Days = %d: must be between 1 and %d", ErrConfig, c.Days, maxDays)
	case c.Start.Year() < 1970 || c.Start.Year() >= 9000:
		return c, fmt.Errorf("%w: Start = %s: must be between 1970 and 9000", ErrConfig, c.Start.Format(time.RFC3339))
	case math.IsNaN(c.BadRate) || c.BadRate > maxBadRate:
		return c, fmt.Errorf("%w: BadRate = %v: must be at most %v (negative for none)", ErrConfig, c.BadRate, maxBadRate)
	case math.IsNaN(c.Skew) || c.Skew > maxSkew:
		return c, fmt.Errorf("%w: Skew = %v: must be at most %v (negative for none)", ErrConfig, c.Skew, maxSkew)
	}
	return c, nil
}

// Record is one generated record.
type Record struct {
	// Time is the event time; for a bad record, the time it would have had.
	Time time.Time
	// Key is the customer id, the Kafka key; "" for bad records that lack
	// one. It stays valid forever.
	Key string
	// Value is the JSON line without a trailing newline. It is valid only
	// until the next call to Next.
	Value []byte
	// Bad marks a deliberately malformed or invalid record.
	Bad bool
}

// Generator produces the records of one Config in event-time order. It is
// not safe for concurrent use.
type Generator struct {
	cfg     Config
	startMs int64     // Unix milliseconds of Start
	endMs   int64     // offset from Start at which the run ends (exclusive)
	width   int       // digits of a customer number
	skew    []float64 // sessions a day by rank, 1025 points over [1, 100]
	pBad    float64   // chance of inserting a bad record before a good one

	planKey, msgKey, badKey, propKey, anonKey uint64
	rnd                                       rng

	cust []cust

	// The calendar queue: customers waiting in future buckets are linked
	// through cust.link (index+1; 0 ends a list); the current bucket is a
	// binary heap ordered by (time, index).
	heads    []uint32
	bucketMs int64
	cur      int
	heap     []entry

	ev       event
	buf, bad []byte
	pending  bool
	pend     Record
	arena    []byte
	nGood    uint64 // good records so far
	nRec     uint64 // all records so far (message ids)

	day    int64 // Unix day of date
	date   [11]byte
	closed bool
}

type entry struct {
	t   int64
	idx uint32
}

// New validates cfg, fills in its defaults and returns a Generator
// positioned before the first record. It costs O(Customers) time and 24
// bytes a customer.
func New(cfg Config) (*Generator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:     cfg,
		startMs: cfg.Start.UnixMilli(),
		endMs:   int64(cfg.Days) * day,
		width:   max(6, len(fmt.Sprint(cfg.Customers-1))),
		day:     math.MinInt64,
	}
	seed := mix(uint64(cfg.Seed) ^ 0x6c69666562656e63)
	g.planKey = mix(seed + 1)
	g.msgKey = mix(seed + 2)
	g.badKey = mix(seed + 3)
	g.propKey = mix(seed + 4)
	g.anonKey = mix(seed + 5)
	g.rnd = rng{s: mix(seed + 6)}
	if cfg.BadRate > 0 {
		g.pBad = cfg.BadRate / (1 - cfg.BadRate)
	}
	// rate(r) = meanSessions * r^-s / E[r^-s] for r uniform on [1, 100], so
	// that Skew leaves the mean alone.
	norm := math.Log(100) / 99
	if s := cfg.Skew; math.Abs(s-1) > 1e-9 {
		norm = (math.Pow(100, 1-s) - 1) / ((1 - s) * 99)
	}
	g.skew = make([]float64, 1025)
	for i := range g.skew {
		g.skew[i] = meanSessions * math.Pow(1+99*float64(i)/1024, -cfg.Skew) / norm
	}

	nb := int64(cfg.Days) * 1440
	g.bucketMs = minute
	if nb > 1<<20 {
		nb = 1 << 20
		g.bucketMs = (g.endMs + nb - 1) / nb
	}
	g.heads = make([]uint32, nb)
	g.cust = make([]cust, cfg.Customers)
	for i := range g.cust {
		c := &g.cust[i]
		c.act = actReach
		t := g.arrival(uint32(i))
		if t < g.endMs {
			g.insert(uint32(i), c, t)
		}
	}
	g.buf = make([]byte, 0, 512)
	g.bad = make([]byte, 0, 512)
	return g, nil
}

// Config returns the configuration in effect, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Next returns the next record in event-time order, or false when the run
// is over. The returned Value is valid until the next call.
func (g *Generator) Next() (Record, bool) {
	if g.pending {
		g.pending = false
		return g.pend, true
	}
	for {
		idx, t, ok := g.pop()
		if !ok {
			return Record{}, false
		}
		c := &g.cust[idx]
		p := g.plan(idx)
		emit := g.fire(c, &p, idx, t)
		g.schedule(c, &p, idx, t)
		if emit {
			return g.emit(), true
		}
	}
}

// emit encodes g.ev, possibly preceded by a bad record.
func (g *Generator) emit() Record {
	ev := &g.ev
	g.nGood++
	rec := Record{
		Time: time.UnixMilli(g.startMs + ev.t).UTC(),
		Key:  g.key(ev.idx),
	}
	if g.pBad > 0 {
		h := mix(g.badKey + g.nGood)
		if unit(h) < g.pBad {
			kind := 1 + uint8((h>>8)%uint64(numBad))
			g.bad = g.build(g.bad[:0], ev, kind, g.nRec)
			g.nRec++
			g.buf = g.build(g.buf[:0], ev, modeGood, g.nRec)
			g.nRec++
			g.pend = rec
			g.pend.Value = g.buf
			g.pending = true
			rec.Value, rec.Bad = g.bad, true
			if kind == badNoID {
				rec.Key = ""
			}
			return rec
		}
	}
	g.buf = g.build(g.buf[:0], ev, modeGood, g.nRec)
	g.nRec++
	rec.Value = g.buf
	return rec
}

// key returns the customer id as a string carved from an append-only arena,
// so that keys cost no allocation of their own and stay valid forever.
func (g *Generator) key(idx uint32) string {
	n := 4 + g.width
	if len(g.arena)+n > cap(g.arena) {
		g.arena = make([]byte, 0, 8192)
	}
	start := len(g.arena)
	g.arena = g.appendNum(append(g.arena, "cus_"...), uint64(idx))
	b := g.arena[start:]
	return unsafe.String(&b[0], len(b))
}

// Write writes every record of cfg to w as NDJSON, one line each, and
// returns the number of records (lines) written.
func Write(w io.Writer, cfg Config) (n int, err error) {
	g, err := New(cfg)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		bw.Write(r.Value)
		if err := bw.WriteByte('\n'); err != nil {
			return n, fmt.Errorf("workload: write: %w", err)
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("workload: write: %w", err)
	}
	return n, nil
}

// insert queues customer idx for time t (an offset, t < g.endMs).
func (g *Generator) insert(idx uint32, c *cust, t int64) {
	c.setNext(t)
	b := int(t / g.bucketMs)
	if b <= g.cur { // the current bucket is already in the heap
		g.push(entry{t, idx})
		return
	}
	c.link = g.heads[b]
	g.heads[b] = idx + 1
}

// pop removes the earliest queued customer.
func (g *Generator) pop() (uint32, int64, bool) {
	for len(g.heap) == 0 {
		if g.closed {
			return 0, 0, false
		}
		// Drain the current bucket into the heap, or move on.
		for i := g.heads[g.cur]; i != 0; {
			c := &g.cust[i-1]
			g.push(entry{c.next(), i - 1})
			i = c.link
		}
		g.heads[g.cur] = 0
		if len(g.heap) == 0 {
			if g.cur+1 >= len(g.heads) {
				g.closed = true
				return 0, 0, false
			}
			g.cur++
		}
	}
	e := g.heap[0]
	last := len(g.heap) - 1
	g.heap[0] = g.heap[last]
	g.heap = g.heap[:last]
	g.down(0)
	return e.idx, e.t, true
}

func less(a, b entry) bool { return a.t < b.t || a.t == b.t && a.idx < b.idx }

func (g *Generator) push(e entry) {
	h := append(g.heap, e)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(e, h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
	g.heap = h
}

func (g *Generator) down(i int) {
	h := g.heap
	n := len(h)
	if n == 0 {
		return
	}
	e := h[i]
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && less(h[r], h[l]) {
			l = r
		}
		if !less(h[l], e) {
			break
		}
		h[i] = h[l]
		i = l
	}
	h[i] = e
}

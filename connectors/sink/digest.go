package sink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
)

// pending is an alert waiting in a digest, with its record.
type pending struct {
	rec   *kgo.Record
	alert Alert
}

// digest holds the alerts of the current period, in memory, bounded, and
// how far each partition was read: a flush sends them and only then marks
// those offsets for commit, so a digest is at-least-once like a single
// delivery (a restart re-reads from the last commit and sends them again,
// in the next period's digest).
type digest struct {
	max int

	mu      sync.Mutex
	items   []pending
	next    map[int32]kgo.EpochOffset // per partition: the offset after the last record read
	since   time.Time                 // when the first pending alert came
	flushed chan struct{}             // closed when the flush in progress ends
	kicks   chan struct{}             // asks for a flush now
}

func newDigest(max int) *digest {
	return &digest{max: max, next: map[int32]kgo.EpochOffset{}, flushed: make(chan struct{}), kicks: make(chan struct{}, 1)}
}

// add queues p; when the digest is full it asks for an early flush (kick)
// and waits for room, so memory stays bounded by twice max alerts.
func (d *digest) add(ctx context.Context, p pending, kick func()) error {
	for {
		d.mu.Lock()
		if len(d.items) < d.max {
			if len(d.items) == 0 {
				d.since = time.Now()
			}
			d.items = append(d.items, p)
			d.next[p.rec.Partition] = kgo.EpochOffset{Epoch: p.rec.LeaderEpoch, Offset: p.rec.Offset + 1}
			full := len(d.items) >= d.max
			d.mu.Unlock()
			if full {
				kick()
			}
			return nil
		}
		wait := d.flushed
		d.mu.Unlock()
		kick()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// seen notes a record that needs no delivery (filtered, dead-lettered):
// the next flush commits past it.
func (d *digest) seen(r *kgo.Record) {
	d.mu.Lock()
	d.next[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
	d.mu.Unlock()
}

// drop forgets the alerts of partitions this sink no longer holds: their
// next owner reads them again from the last commit.
func (d *digest) drop(parts []int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.items = slices.DeleteFunc(d.items, func(p pending) bool { return slices.Contains(parts, p.rec.Partition) })
	for _, p := range parts {
		delete(d.next, p)
	}
}

// take empties the digest: its alerts, the offsets to mark once they are
// sent, and the channel to close then.
func (d *digest) take() ([]pending, map[int32]kgo.EpochOffset, time.Time, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	items, since, done := d.items, d.since, d.flushed
	d.items, d.flushed = nil, make(chan struct{})
	next := make(map[int32]kgo.EpochOffset, len(d.next))
	for p, o := range d.next {
		next[p] = o
	}
	return items, next, since, done
}

// kickFlush asks the flush loop for a flush now (a full digest).
func (s *Sink) kickFlush() {
	select {
	case s.digest.kicks <- struct{}{}:
	default:
	}
}

// flushLoop sends the digest every period, and early when it is full,
// until ctx ends. What is pending then is not sent: a restart re-reads it.
func (s *Sink) flushLoop(ctx context.Context) {
	t := time.NewTicker(s.sc.Digest.Std())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.digest.kicks:
		}
		if err := s.flush(ctx); err != nil {
			return
		}
	}
}

// digestBody is a webhook's digest: the alert records as produced, in the
// order read, with who they are for and the period.
type digestBody struct {
	Kind   string    `json:"kind"` // "digest"
	Sink   string    `json:"sink"`
	Owner  string    `json:"owner"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Count  int       `json:"count"`
	Alerts []jsonRaw `json:"alerts"`
}

// flush sends one message per owner with the pending alerts, dead-letters
// the alerts of a message that could not be delivered, then marks the
// offsets read so far for commit. It returns an error only when ctx ended
// (nothing is marked then).
func (s *Sink) flush(ctx context.Context) error {
	items, next, since, done := s.digest.take()
	defer close(done)
	byOwner := map[string][]pending{}
	for _, p := range items {
		byOwner[p.alert.Owner] = append(byOwner[p.alert.Owner], p)
	}
	owners := make([]string, 0, len(byOwner))
	for o := range byOwner {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	to := s.now().UTC()
	for _, owner := range owners {
		group := byOwner[owner]
		body, key := s.digestMessage(owner, group, since, to)
		began := time.Now()
		res, err := s.post.post(ctx, body, key, map[string]string{"X-Lifeline-Digest-Count": strconv.Itoa(len(group))})
		if err != nil {
			return err
		}
		s.m.Seconds.WithLabelValues(s.sc.Name).Observe(time.Since(began).Seconds())
		if res.delivered {
			s.m.Deliveries.WithLabelValues(s.sc.Name, OutcomeDelivered).Add(float64(len(group)))
			continue
		}
		s.log.Warn().Str("owner", owner).Int("alerts", len(group)).Int("http_status", res.status).Int("attempts", res.attempts).
			Str("error", res.err).Str("dead_letter_topic", s.dlq).Msg("digest not delivered: its alerts are dead-lettered")
		for _, p := range group {
			if err := s.deadLetter(ctx, p.rec, res); err != nil {
				return err
			}
		}
	}
	if len(next) > 0 {
		s.cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{s.cfg.Topics.Alerts: next})
	}
	return nil
}

// digestMessage is the body of one owner's digest and its idempotency
// key: digest: and a hash of the alerts' own keys, so a digest sent again
// with the same alerts (after a restart) has the same key.
func (s *Sink) digestMessage(owner string, group []pending, from, to time.Time) ([]byte, string) {
	h := sha256.New()
	for _, p := range group {
		h.Write([]byte(p.alert.IdempotencyKey()))
		h.Write([]byte{0})
	}
	key := "digest:" + hex.EncodeToString(h.Sum(nil))[:32]
	if s.sc.Type == config.SinkSlack {
		alerts := make([]*Alert, len(group))
		for i := range group {
			alerts[i] = &group[i].alert
		}
		return slackDigest(owner, alerts, s.sc.ConsoleURL), key
	}
	b := digestBody{Kind: "digest", Sink: s.sc.Name, Owner: owner, From: from.UTC().Format(time.RFC3339), To: to.Format(time.RFC3339), Count: len(group)}
	for _, p := range group {
		b.Alerts = append(b.Alerts, jsonRaw(p.rec.Value))
	}
	out, _ := json.Marshal(b)
	return out, key
}

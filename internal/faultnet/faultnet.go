// Package faultnet dials network connections that fail on purpose, for
// fault-injection tests and the failpoints build of the binary: each
// connection may be cut after a random life, every connection may be cut
// at once or frozen, and a dialer may be killed, after which, to its
// peers, the process using it has died.
//
// A Dialer's zero value dials like net.Dialer and injects nothing until
// told to. There is no package-level state: each fault belongs to a Dialer
// (or to a Lives that several Dialers share).
package faultnet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrKilled is what a Dialer's DialContext returns once Kill was called.
var ErrKilled = errors.New("faultnet: dialer killed")

// Lives draws connection lives uniformly from [min, max] out of a seeded
// random source. Dialers that share one Lives draw from one sequence: a
// run is reproducible in the lives it draws, though not in which
// connection gets which when several dial at once. It is safe for
// concurrent use.
type Lives struct {
	min, max time.Duration

	mu  sync.Mutex
	rnd *rand.Rand
}

// NewLives returns lives between min and max (inclusive) drawn from src,
// such as rand.NewPCG(seed, stream). It requires 0 <= min <= max and
// max > 0.
func NewLives(min, max time.Duration, src rand.Source) (*Lives, error) {
	if min < 0 || max < min || max <= 0 {
		return nil, fmt.Errorf("faultnet: connection lives [%v, %v]: want 0 <= min <= max and max > 0", min, max)
	}
	return &Lives{min: min, max: max, rnd: rand.New(src)}, nil
}

// next draws one life.
func (l *Lives) next() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.min + time.Duration(l.rnd.Int64N(int64(l.max-l.min)+1))
}

// Dialer dials with Net and keeps track of every connection it made and
// has not seen closed, so that it can cut, freeze or kill them. Its
// DialContext fits kgo.Dialer. The zero value is ready to use; a Dialer
// must not be copied after its first use.
type Dialer struct {
	// Net dials each connection. Default: net.Dialer's zero value.
	Net net.Dialer
	// Lives, if not nil, gives each new connection a life at the end of
	// which the Dialer closes it under its user (counted by Expired).
	// Default: nil, connections live until closed.
	Lives *Lives

	expired atomic.Int64

	mu     sync.Mutex
	dead   bool
	frozen chan struct{} // non-nil while frozen; closed by Thaw
	conns  map[*conn]struct{}
}

// DialContext dials a connection, after waiting for Thaw if the Dialer is
// frozen. Once Kill was called it returns ErrKilled.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.wait()
	d.mu.Lock()
	dead := d.dead
	d.mu.Unlock()
	if dead {
		return nil, ErrKilled
	}
	c, err := d.Net.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	fc := &conn{Conn: c, d: d}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead { // killed while dialing
		c.Close()
		return nil, ErrKilled
	}
	if d.conns == nil {
		d.conns = map[*conn]struct{}{}
	}
	d.conns[fc] = struct{}{}
	if d.Lives != nil {
		// The timer is the connection's: its Close stops it.
		fc.timer = time.AfterFunc(d.Lives.next(), func() {
			if fc.close() == nil {
				d.expired.Add(1)
			}
		})
	}
	return fc, nil
}

// Expired is how many connections were cut at the end of their life (see
// Lives); those closed first by their user, Cut or Kill do not count.
func (d *Dialer) Expired() int64 { return d.expired.Load() }

// Cut closes every open connection the Dialer made, at once: requests in
// flight may have reached the peer, and their answers are lost. Later
// dials succeed as before.
func (d *Dialer) Cut() {
	d.mu.Lock()
	conns := d.conns
	d.conns = nil
	d.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// Kill cuts every open connection, as Cut does, and makes every later
// dial fail with ErrKilled: to its peers, the process using the Dialer
// has died at this instant. It cannot be undone.
func (d *Dialer) Kill() {
	d.mu.Lock()
	d.dead = true
	d.mu.Unlock()
	d.Cut()
}

// Freeze stops every connection the Dialer made, and its dials, as in a
// long GC pause or a frozen VM: until Thaw, nothing is written, what is
// read is held, and no dial starts. Deadlines are not honoured meanwhile:
// the user learns of nothing until Thaw. Freezing a frozen Dialer does
// nothing.
func (d *Dialer) Freeze() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.frozen == nil {
		d.frozen = make(chan struct{})
	}
}

// Thaw releases what Freeze stopped. Thawing a Dialer that is not frozen
// does nothing.
func (d *Dialer) Thaw() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.frozen != nil {
		close(d.frozen)
		d.frozen = nil
	}
}

// wait returns once the Dialer is not frozen.
func (d *Dialer) wait() {
	d.mu.Lock()
	ch := d.frozen
	d.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (d *Dialer) forget(c *conn) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
}

// conn is a connection that its Dialer may cut or freeze under its user.
type conn struct {
	net.Conn
	d      *Dialer
	timer  *time.Timer // set before the connection is handed out; nil without Lives
	closed atomic.Bool
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.d.wait()
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.d.wait()
	return c.Conn.Write(p)
}

// Close stops the connection's life timer and closes it.
func (c *conn) Close() error {
	if c.timer != nil {
		c.timer.Stop()
	}
	return c.close()
}

// close closes the connection once; after, it returns net.ErrClosed.
func (c *conn) close() error {
	if c.closed.Swap(true) {
		return net.ErrClosed
	}
	c.d.forget(c)
	return c.Conn.Close()
}

package faultnet

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// listen accepts loopback connections and echoes them until the test ends.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, d *Dialer, addr string) net.Conn {
	t.Helper()
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo writes a byte and reads it back, within a second.
func echo(c net.Conn) error {
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte{1}); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, 1))
	return err
}

func TestDialer(t *testing.T) {
	addr := listen(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"zero value dials", func(t *testing.T) {
			var d Dialer
			if err := echo(dial(t, &d, addr)); err != nil {
				t.Fatal(err)
			}
		}},
		{"lives cut and count", func(t *testing.T) {
			lives, err := NewLives(10*time.Millisecond, 20*time.Millisecond, rand.NewPCG(1, 0))
			if err != nil {
				t.Fatal(err)
			}
			d := &Dialer{Lives: lives}
			c := dial(t, d, addr)
			dial(t, d, addr).Close() // closed by its user: not counted
			time.Sleep(100 * time.Millisecond)
			if err := echo(c); !errors.Is(err, net.ErrClosed) {
				t.Errorf("after its life: %v, want net.ErrClosed", err)
			}
			if n := d.Expired(); n != 1 {
				t.Errorf("Expired() = %d, want 1", n)
			}
		}},
		{"cut closes, later dials succeed", func(t *testing.T) {
			var d Dialer
			c := dial(t, &d, addr)
			d.Cut()
			if err := echo(c); !errors.Is(err, net.ErrClosed) {
				t.Errorf("after Cut: %v, want net.ErrClosed", err)
			}
			if err := echo(dial(t, &d, addr)); err != nil {
				t.Errorf("a dial after Cut: %v", err)
			}
		}},
		{"kill closes and refuses", func(t *testing.T) {
			var d Dialer
			c := dial(t, &d, addr)
			d.Kill()
			if err := echo(c); !errors.Is(err, net.ErrClosed) {
				t.Errorf("after Kill: %v, want net.ErrClosed", err)
			}
			if _, err := d.DialContext(context.Background(), "tcp", addr); !errors.Is(err, ErrKilled) {
				t.Errorf("a dial after Kill: %v, want ErrKilled", err)
			}
		}},
		{"freeze holds until thaw", func(t *testing.T) {
			var d Dialer
			c := dial(t, &d, addr)
			d.Freeze()
			done := make(chan error, 1)
			go func() { done <- echo(c) }()
			select {
			case err := <-done:
				t.Fatalf("echo returned while frozen: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			d.Thaw()
			// The deadline passed while frozen: what matters is that
			// it returns once thawed.
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("echo still blocked after Thaw")
			}
		}},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestNewLivesRejects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max time.Duration
	}{
		{"negative min", -time.Second, time.Second},
		{"max below min", 2 * time.Second, time.Second},
		{"zero max", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewLives(tc.min, tc.max, rand.NewPCG(1, 0)); err == nil {
				t.Errorf("NewLives(%v, %v): no error", tc.min, tc.max)
			}
		})
	}
}

package sink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-hq/lifeline/config"
)

// maxRetryAfter bounds the wait a Retry-After may ask for: a receiver
// asking for a day is waited an hour, then tried again.
const maxRetryAfter = time.Hour

// Sign is the X-Lifeline-Signature of body sent at timestamp (Unix
// seconds, as in X-Lifeline-Timestamp): "v1=" and the hex HMAC-SHA256,
// keyed by the sink's secret, of the timestamp, a dot, and the body. A
// receiver computes the same and compares in constant time.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// poster sends one message to a receiver, with retries.
type poster struct {
	sink    string
	url     string
	secret  []byte // nil: unsigned (Slack)
	headers map[string]string
	timeout time.Duration
	retry   config.SinkRetry
	client  *http.Client
	m       *Metrics
	now     func() time.Time
}

// result is how a message's delivery ended.
type result struct {
	delivered bool
	status    int // the last answer's status; 0 if none
	attempts  int
	err       string // why the last attempt failed ("" when delivered)
}

// post sends body until the receiver answers 2xx, refuses it (a 4xx other
// than 408 and 429, or a redirect: not retried) or max_attempts requests
// failed. It returns an error only when ctx ended first: the message's
// fate is then unknown, and its record is not committed.
func (p *poster) post(ctx context.Context, body []byte, key string, meta map[string]string) (result, error) {
	var r result
	for attempt := 1; ; attempt++ {
		r.attempts = attempt
		status, detail, retryAfter, err := p.once(ctx, body, key, attempt, meta)
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		r.status = status
		switch {
		case err == nil && status >= 200 && status < 300:
			r.delivered, r.err = true, ""
			return r, nil
		case err != nil:
			r.err = err.Error()
		default:
			r.err = detail
		}
		retryable := err != nil || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
		if !retryable || attempt >= p.retry.MaxAttempts {
			return r, nil
		}
		wait := backoff(p.retry, attempt)
		if retryAfter >= 0 {
			wait = retryAfter
		}
		p.m.Deliveries.WithLabelValues(p.sink, OutcomeRetried).Inc()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return r, ctx.Err()
		case <-t.C:
		}
	}
}

// once sends one request. err is a request that got no answer; an answer
// is its status, with detail saying what a refusal said, and retryAfter
// the wait a 429 or 503 asked for (-1: none).
func (p *poster) once(ctx context.Context, body []byte, key string, attempt int, meta map[string]string) (status int, detail string, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", -1, fmt.Errorf("build request: %w", err)
	}
	for k, v := range p.headers {
		req.Header.Set(k, v)
	}
	for k, v := range meta {
		req.Header.Set(k, v)
	}
	ts := strconv.FormatInt(p.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lifeline-sink")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("X-Lifeline-Sink", p.sink)
	req.Header.Set("X-Lifeline-Attempt", strconv.Itoa(attempt))
	if p.secret != nil {
		req.Header.Set("X-Lifeline-Timestamp", ts)
		req.Header.Set("X-Lifeline-Signature", Sign(p.secret, ts, body))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return 0, "", -1, fmt.Errorf("no answer within %s (sink timeout)", p.timeout)
		}
		return 0, "", -1, err
	}
	defer resp.Body.Close()
	// The answer's start says why a refusal was one (Slack's
	// invalid_payload); the rest is drained so the connection is reused.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	retryAfter = -1
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), p.now())
	}
	detail = fmt.Sprintf("HTTP %d", resp.StatusCode)
	if msg := strings.TrimSpace(string(head)); msg != "" && resp.StatusCode >= 300 {
		detail += ": " + msg
	}
	return resp.StatusCode, detail, retryAfter, nil
}

// parseRetryAfter reads a Retry-After value: seconds, or an HTTP date. It
// returns -1 when there is none or it cannot be read (the backoff
// applies), and at most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return -1
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return -1
	}
	return min(d, maxRetryAfter)
}

// backoff is the wait after failed attempt n (1-based): full jitter, a
// uniformly random time up to min(max, base·2^(n-1)).
func backoff(r config.SinkRetry, n int) time.Duration {
	ceil := r.Max.Std()
	if n-1 < 40 {
		if c := r.Base.Std() << (n - 1); c > 0 && c < ceil {
			ceil = c
		}
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}

package ingest

import (
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/engine"
)

// Segment's documented limits: 32 KB a message, 500 KB a batch request.
const (
	SegmentMessageLimit = 32 << 10
	SegmentBatchLimit   = 500 << 10
)

// Paths of the listener.
const (
	PathTrack       = "/v1/track"
	PathIdentify    = "/v1/identify"
	PathGroup       = "/v1/group"
	PathAlias       = "/v1/alias"
	PathPage        = "/v1/page"
	PathScreen      = "/v1/screen"
	PathBatch       = "/v1/batch"
	PathStripe      = "/v1/webhooks/stripe"
	PathZendesk     = "/v1/webhooks/zendesk"
	PathIntercom    = "/v1/webhooks/intercom"
	PathDelighted   = "/v1/webhooks/delighted"
	PathTypeform    = "/v1/webhooks/typeform"
	PathCloudEvents = "/v1/webhooks/cloudevents"
)

// Options are what the configuration does not say.
type Options struct {
	// Registerer receives the listener's metrics (nil: a registry of its
	// own, unexported).
	Registerer prometheus.Registerer
	Logger     zerolog.Logger
	// Clock gives receivedAt and judges Stripe's timestamps (nil:
	// time.Now).
	Clock func() time.Time
	// ExtraOpts are added to the producer's options (tests, hooks).
	ExtraOpts []kgo.Opt
}

// Server is the ingest listener: its routes and its producer. New connects
// the producer; Serve serves until its context ends, then drains and closes
// it.
type Server struct {
	cfg      config.IngestHTTP
	cl       *kgo.Client
	m        *Metrics
	log      zerolog.Logger
	now      func() time.Time
	decoders sync.Pool // *decode.Decoder: one per request at a time
	mux      *http.ServeMux

	buffered    atomic.Int64
	maxBuffered int64
	closeOnce   sync.Once
}

// New builds the listener for cfg (cfg.Ingest.HTTP, the input topic, the
// brokers and their security, customer_field) and connects its producer.
// The caller validated cfg.
func New(cfg *config.Config, o Options) (*Server, error) {
	h := cfg.Ingest.HTTP
	copts, err := kafka.ClientOpts(cfg)
	if err != nil {
		return nil, err
	}
	// Idempotent (franz-go's default) with acks from all in-sync replicas:
	// an acknowledged record is written once. Keys hash as Java's client
	// does (murmur2), so records land where the engine keeps the customer.
	// MaxBufferedBytes matches the listener's own bound, checked per
	// request before producing, so Produce never blocks a handler.
	copts = append(copts,
		kgo.DefaultProduceTopic(cfg.Topics.Input),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedBytes(h.MaxBufferedBytes),
		kgo.RecordDeliveryTimeout(h.ProduceTimeout.Std()),
		kgo.ProducerLinger(time.Millisecond),
	)
	copts = append(copts, o.ExtraOpts...)
	cl, err := kgo.NewClient(copts...)
	if err != nil {
		return nil, fmt.Errorf("ingest producer: %w", err)
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{cfg: h, cl: cl, m: NewMetrics(reg), log: o.Logger, now: o.Clock,
		maxBuffered: int64(h.MaxBufferedBytes)}
	if s.now == nil {
		s.now = time.Now
	}
	// The engine's decoder options (customer_field, input:), so that a
	// record accepted here is one the engine applies, keyed alike.
	dopts := cfg.DecodeOptions()
	s.decoders.New = func() any { return decode.New(dopts) }
	s.mux = s.routes()
	return s, nil
}

// Handler is the listener's HTTP handler (Serve uses it; tests may too).
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves on ln until ctx ends, then stops accepting, lets the
// requests in flight finish (each waits for its records' acknowledgement,
// at most ingest.http.produce_timeout) and closes the producer.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: min(s.cfg.ReadTimeout.Std(), 10*time.Second),
		ReadTimeout:       s.cfg.ReadTimeout.Std(),
		WriteTimeout:      s.cfg.WriteTimeout.Std(),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout.Std())
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.log.Warn().Err(err).Msg("ingest: requests still in flight at shutdown")
		}
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// Close closes the producer; records not yet acknowledged fail (Serve
// closes it after the requests in flight are answered).
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		fctx, cancel := context.WithTimeout(context.Background(), s.cfg.ProduceTimeout.Std())
		defer cancel()
		_ = s.cl.Flush(fctx)
		s.cl.Close()
	})
}

// apiError is a rejection: its status, a short reason word for clients and
// logs, and a message saying what the request looked like.
type apiError struct {
	status     int
	reason     string
	msg        string
	index      int    // batch item, or -1
	retryAfter int    // seconds, for 503
	challenge  string // WWW-Authenticate of a 401 whose scheme is HTTP auth
}

func reject(status int, reason, format string, args ...any) *apiError {
	return &apiError{status: status, reason: reason, msg: fmt.Sprintf(format, args...), index: -1}
}

// source turns one authenticated request body into records.
type source struct {
	path  string
	limit int64
	gzip  bool // Content-Encoding: gzip served (Segment's paths)
	// auth checks the credential: headers, and the body for signatures.
	auth func(r *http.Request, body []byte) *apiError
	// records builds the records, each keyed by its customer.
	records func(r *http.Request, body []byte, d *decode.Decoder) ([]*kgo.Record, *apiError)
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	add := func(src source) {
		mux.Handle(src.path, s.handle(src))
		// The served paths' series start at zero (an increase() over
		// the first records sees them).
		s.m.Records.WithLabelValues(src.path)
		s.m.ReceivedBytes.WithLabelValues(src.path)
	}
	if len(s.cfg.WriteKeys) > 0 {
		for _, p := range []struct{ path, typ string }{
			{PathTrack, "track"}, {PathIdentify, "identify"}, {PathGroup, "group"},
			{PathAlias, "alias"}, {PathPage, "page"}, {PathScreen, "screen"},
		} {
			add(source{path: p.path, limit: SegmentMessageLimit, gzip: true, auth: s.writeKey, records: s.segmentCall(p.typ)})
		}
		add(source{path: PathBatch, limit: SegmentBatchLimit, gzip: true, auth: s.writeKey, records: s.segmentBatch})
	}
	w := s.cfg.Webhooks
	limit := int64(s.cfg.MaxBodyBytes)
	if sec := w.Stripe.Secret; sec != "" {
		add(source{path: PathStripe, limit: limit, records: s.webhook(decode.SourceStripe), auth: func(r *http.Request, body []byte) *apiError {
			return unauthorized(verifyStripe(r.Header.Get("Stripe-Signature"), body, sec, w.Stripe.Tolerance.Std(), s.now()))
		}})
	}
	if sec := w.Zendesk.Secret; sec != "" {
		add(source{path: PathZendesk, limit: limit, records: s.webhook(decode.SourceZendesk), auth: func(r *http.Request, body []byte) *apiError {
			return unauthorized(verifyZendesk(r.Header.Get("X-Zendesk-Webhook-Signature"), r.Header.Get("X-Zendesk-Webhook-Signature-Timestamp"), body, sec))
		}})
	}
	if sec := w.Intercom.Secret; sec != "" {
		add(source{path: PathIntercom, limit: limit, records: s.webhook(decode.SourceIntercom), auth: func(r *http.Request, body []byte) *apiError {
			return unauthorized(verifyIntercom(r.Header.Get("X-Hub-Signature"), body, sec))
		}})
	}
	if sec := w.Delighted.Secret; sec != "" {
		add(source{path: PathDelighted, limit: limit, records: s.webhook(decode.SourceDelighted), auth: func(r *http.Request, body []byte) *apiError {
			return unauthorized(verifyDelighted(r.Header.Get("X-Delighted-Webhook-Signature"), body, sec))
		}})
	}
	if sec := w.Typeform.Secret; sec != "" {
		add(source{path: PathTypeform, limit: limit, records: s.webhook(decode.SourceTypeform), auth: func(r *http.Request, body []byte) *apiError {
			return unauthorized(verifyTypeform(r.Header.Get("Typeform-Signature"), body, sec))
		}})
	}
	if sec := w.CloudEvents.Secret; sec != "" {
		add(source{path: PathCloudEvents, limit: limit, records: s.cloudEvent, auth: func(r *http.Request, _ []byte) *apiError {
			e := unauthorized(verifyBearer(r.Header.Get("Authorization"), sec))
			if e != nil {
				e.challenge = `Bearer realm="lifeline ingest"`
			}
			return e
		}})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.m.Requests.WithLabelValues("other", "404").Inc()
		writeError(w, reject(http.StatusNotFound, "not_found", "no ingest path %q here (paths are on when their credential is configured: see README.md, HTTP ingest)", r.URL.Path))
	})
	return mux
}

func unauthorized(err error) *apiError {
	if err == nil {
		return nil
	}
	return reject(http.StatusUnauthorized, "unauthorized", "%v", err)
}

// writeKey checks Segment's HTTP Basic auth: a configured write key as the
// user name, any password.
func (s *Server) writeKey(r *http.Request, _ []byte) *apiError {
	user, _, ok := r.BasicAuth()
	if !ok {
		e := reject(http.StatusUnauthorized, "unauthorized", "no HTTP Basic credentials: send the write key as the user name (Authorization: Basic base64(\"WRITE_KEY:\"))")
		e.challenge = `Basic realm="lifeline ingest"`
		return e
	}
	match := 0
	for _, k := range s.cfg.WriteKeys {
		// Every key is compared, so the time taken does not say which
		// key was close.
		match |= subtle.ConstantTimeCompare([]byte(user), []byte(k))
	}
	if match != 1 {
		e := reject(http.StatusUnauthorized, "unauthorized", "the write key is not one of ingest.http.write_keys")
		e.challenge = `Basic realm="lifeline ingest"`
		return e
	}
	return nil
}

// handle is the common life of a request: method, body within its limit,
// credential, records, produce, answer; with its metrics.
func (s *Server) handle(src source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, n := s.serve(w, r, src)
		s.m.Requests.WithLabelValues(src.path, strconv.Itoa(status)).Inc()
		if n > 0 {
			s.m.Records.WithLabelValues(src.path).Add(float64(n))
		}
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, src source) (status, records int) {
	fail := func(e *apiError) (int, int) {
		if e.status >= 500 {
			s.log.Warn().Str("path", src.path).Str("reason", e.reason).Msg("ingest: " + e.msg)
		} else {
			s.log.Debug().Str("path", src.path).Int("status", e.status).Str("reason", e.reason).Msg("ingest: " + e.msg)
		}
		writeError(w, e)
		return e.status, 0
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(reject(http.StatusMethodNotAllowed, "method_not_allowed", "%s %s: only POST is served", r.Method, src.path))
	}
	body, e := s.readBody(w, r, src)
	if e != nil {
		return fail(e)
	}
	if e := src.auth(r, body); e != nil {
		return fail(e)
	}
	d := s.decoders.Get().(*decode.Decoder)
	recs, e := src.records(r, body, d)
	s.decoders.Put(d)
	if e != nil {
		return fail(e)
	}
	if e := s.produce(recs); e != nil {
		return fail(e)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `{"success":true,"records":%d}`+"\n", len(recs))
	return http.StatusOK, len(recs)
}

// readBody reads the body within the path's limit. Segment's paths also
// take gzip (Content-Encoding: gzip, as Segment's API does); the limit then
// bounds the decompressed bytes too.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, src source) ([]byte, *apiError) {
	tooLarge := func() *apiError {
		return reject(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than %d bytes, the limit of %s", src.limit, src.path)
	}
	var rd io.Reader = http.MaxBytesReader(w, r.Body, src.limit)
	cr := &countingReader{r: rd}
	rd = cr
	gz := false
	switch enc := r.Header.Get("Content-Encoding"); {
	case enc == "" || strings.EqualFold(enc, "identity"):
	case strings.EqualFold(enc, "gzip") && src.gzip:
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, reject(http.StatusBadRequest, "bad_gzip", "Content-Encoding is gzip but the body is not: %v", err)
		}
		rd, gz = io.LimitReader(zr, src.limit+1), true
	default:
		return nil, reject(http.StatusUnsupportedMediaType, "unsupported_encoding", "Content-Encoding %q is not served on %s", enc, src.path)
	}
	body, err := io.ReadAll(rd)
	s.m.ReceivedBytes.WithLabelValues(src.path).Add(float64(cr.n))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), gz && int64(len(body)) > src.limit:
		return nil, tooLarge()
	case gz && err != nil:
		return nil, reject(http.StatusBadRequest, "bad_gzip", "the gzip body is damaged: %v", err)
	case err != nil:
		return nil, reject(http.StatusBadRequest, "unreadable", "reading the body: %v", err)
	}
	return body, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// produce hands the records to the producer and waits until the broker
// has acknowledged every one, or any failed, or ingest.http.produce_timeout
// (and a second) has passed: with the idempotent producer a record sent in a
// request whose answer was lost cannot be failed safely, so it may stay
// pending while the broker is unreachable; the caller gets its 503 anyway,
// and the record's bytes count against the bound until it resolves.
// Records are produced without the request's context: cancelling a
// buffered record fails the other records of its partition too, other
// callers' among them.
func (s *Server) produce(recs []*kgo.Record) *apiError {
	var size int64
	for _, r := range recs {
		size += recordSize(r)
	}
	if s.buffered.Add(size) > s.maxBuffered {
		s.buffered.Add(-size)
		e := reject(http.StatusServiceUnavailable, "busy", "%d record bytes are waiting for the broker (ingest.http.max_buffered_bytes %d): retry later", s.buffered.Load(), s.maxBuffered)
		e.retryAfter = 1
		return e
	}
	s.m.BufferedBytes.Set(float64(s.buffered.Load()))
	start := time.Now()
	var (
		mu       sync.Mutex
		pending  = len(recs)
		failed   int
		firstErr error
		done     = make(chan struct{})
	)
	for _, rec := range recs {
		n := recordSize(rec)
		s.cl.TryProduce(context.Background(), rec, func(_ *kgo.Record, err error) {
			s.m.BufferedBytes.Set(float64(s.buffered.Add(-n)))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
			}
			if pending--; pending == 0 {
				close(done)
			}
		})
	}
	timer := time.NewTimer(s.cfg.ProduceTimeout.Std() + time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		mu.Lock()
		n := pending
		mu.Unlock()
		e := reject(http.StatusServiceUnavailable, "produce_timeout",
			"the broker did not acknowledge %d of the %d records within ingest.http.produce_timeout (%s): retry the request; records that did land are deduplicated by their ids", n, len(recs), s.cfg.ProduceTimeout)
		e.retryAfter = 5
		return e
	}
	s.m.ProduceDuration.Observe(time.Since(start).Seconds())
	if firstErr != nil {
		e := reject(http.StatusServiceUnavailable, "produce_failed",
			"the broker did not acknowledge %d of the %d records (%v): retry the request; records that did land are deduplicated by their ids", failed, len(recs), firstErr)
		e.retryAfter = 5
		if errors.Is(firstErr, kgo.ErrMaxBuffered) {
			e.reason, e.retryAfter = "busy", 1
		}
		return e
	}
	return nil
}

func recordSize(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	if e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	body := struct {
		Success bool   `json:"success"`
		Error   string `json:"error"`
		Reason  string `json:"reason"`
		Index   *int   `json:"index,omitempty"`
	}{Error: e.msg, Reason: e.reason}
	if e.index >= 0 {
		body.Index = &e.index
	}
	_ = json.NewEncoder(w).Encode(body)
}

// keyed decodes value (and headers) as the engine will and returns the
// record keyed by the customer id the decoder found. A record without a
// time of its own is dated, as the engine dates it, by the record's
// timestamp: the producer's clock when it is produced (the record's
// Timestamp is left to the producer, whose delivery timeout counts from
// it). A record the engine would dead-letter is a 400 with the decoder's
// reason; one of another source than the path's (want, an engine.Event
// Type; "" any) is a 400 wrong_source.
func keyed(d *decode.Decoder, value []byte, headers []decode.Header, want string) (*kgo.Record, *apiError) {
	var ev engine.Event
	if err := d.DecodeAt(value, headers, time.Now().UnixMilli(), &ev); err != nil {
		var de *decode.Error
		if errors.As(err, &de) {
			return nil, reject(http.StatusBadRequest, string(de.Reason), "%s", de.Msg)
		}
		return nil, reject(http.StatusBadRequest, "undecodable", "%v", err)
	}
	if want != "" && ev.Type != want {
		return nil, reject(http.StatusBadRequest, "wrong_source", "the body reads as a %s record, not a %s one: post it to its own path", ev.Type, want)
	}
	rec := &kgo.Record{Key: []byte(ev.CustomerID), Value: value}
	for _, h := range headers {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return rec, nil
}

// webhook returns the records function of a webhook path: the body as it
// came, which must read as a record of the path's source.
func (s *Server) webhook(source string) func(*http.Request, []byte, *decode.Decoder) ([]*kgo.Record, *apiError) {
	return func(_ *http.Request, body []byte, d *decode.Decoder) ([]*kgo.Record, *apiError) {
		rec, e := keyed(d, body, nil, source)
		if e != nil {
			return nil, e
		}
		return []*kgo.Record{rec}, nil
	}
}

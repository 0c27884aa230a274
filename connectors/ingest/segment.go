package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/connectors/decode"
)

// Segment's HTTP Tracking API, as Segment's own servers treat a message
// before it reaches a destination:
//
//   - type: a single call's path gives it when the message has none; a
//     type that contradicts the path is a 400. Batch messages carry their
//     own (Segment requires it).
//   - receivedAt: the server's time, RFC 3339 with milliseconds, UTC,
//     replacing any the sender set.
//   - timestamp, when the message has none but has originalTimestamp and
//     sentAt: corrected for the device's clock skew the way Segment
//     documents, receivedAt - (sentAt - originalTimestamp). Otherwise the
//     decoder's fallbacks date it (originalTimestamp, sentAt, receivedAt).
//   - /v1/batch: the top-level context is given to each message (the
//     message's own context keys win) and the top-level sentAt to each
//     message without one. Top-level integrations are not copied: Lifeline
//     does not read them.
//   - messageId, when missing: Segment makes one up; here it is derived
//     from the message's bytes ("ingest-" and a SHA-256 prefix) so that a
//     retried request dedupes. Two byte-identical messages without one
//     are thus one event; senders that mean two events give two ids.
//
// Limits are Segment's: 32 KB a call or batch message, 500 KB a batch.

const rfc3339Millis = "2006-01-02T15:04:05.000Z07:00"

// segmentCall serves one of the single-call paths (track, identify, ...).
func (s *Server) segmentCall(typ string) func(*http.Request, []byte, *decode.Decoder) ([]*kgo.Record, *apiError) {
	return func(_ *http.Request, body []byte, d *decode.Decoder) ([]*kgo.Record, *apiError) {
		rec, e := s.segmentMessage(body, typ, nil, s.now(), d)
		if e != nil {
			return nil, e
		}
		return []*kgo.Record{rec}, nil
	}
}

// batchTop is what a batch request holds besides its messages.
type batchTop struct {
	Batch   []json.RawMessage `json:"batch"`
	Context json.RawMessage   `json:"context"`
	SentAt  json.RawMessage   `json:"sentAt"`
}

// segmentBatch serves /v1/batch: every message is checked before any is
// produced, so a bad one rejects the request whole (with its index).
func (s *Server) segmentBatch(_ *http.Request, body []byte, d *decode.Decoder) ([]*kgo.Record, *apiError) {
	var top batchTop
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, reject(http.StatusBadRequest, string(decode.ReasonMalformedJSON), "a batch must be a JSON object {\"batch\": [messages...]}: %v", err)
	}
	if len(top.Batch) == 0 {
		return nil, reject(http.StatusBadRequest, "empty_batch", "the batch has no messages (expected {\"batch\": [messages...]})")
	}
	if !isObject(top.Context) && !isNull(top.Context) {
		return nil, reject(http.StatusBadRequest, "bad_context", "the batch's context is not a JSON object")
	}
	received := s.now()
	recs := make([]*kgo.Record, 0, len(top.Batch))
	for i, raw := range top.Batch {
		var (
			rec *kgo.Record
			e   *apiError
		)
		if len(raw) > SegmentMessageLimit {
			e = reject(http.StatusBadRequest, string(decode.ReasonTooLarge), "the message is %d bytes, over Segment's limit of %d a message", len(raw), SegmentMessageLimit)
		} else {
			rec, e = s.segmentMessage(raw, "", &top, received, d)
		}
		if e != nil {
			e.index = i
			e.msg = "batch[" + strconv.Itoa(i) + "]: " + e.msg
			return nil, e
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// segmentMessage rewrites one message as Segment's API does (see above)
// and returns its record, keyed by the customer the decoder finds.
func (s *Server) segmentMessage(raw []byte, pathType string, top *batchTop, received time.Time, d *decode.Decoder) (*kgo.Record, *apiError) {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msg); err != nil || msg == nil {
		return nil, reject(http.StatusBadRequest, string(decode.ReasonMalformedJSON), "a Segment message must be a JSON object: %v", errOr(err, "null"))
	}
	var typ string
	if v, ok := msg["type"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &typ); err != nil {
			return nil, reject(http.StatusBadRequest, "bad_type", "type is %s, not a string", clip(v))
		}
	}
	switch {
	case pathType != "" && typ == "":
		msg["type"] = quote(pathType)
	case pathType != "" && !strings.EqualFold(typ, pathType):
		return nil, reject(http.StatusBadRequest, "type_mismatch", "the message's type is %q but it was posted to /v1/%s", typ, pathType)
	case pathType == "" && typ == "" && msg["action"] == nil:
		return nil, reject(http.StatusBadRequest, "no_type", "a batch message needs its type (track, identify, page, screen, group or alias)")
	}
	if top != nil {
		if isObject(top.Context) {
			merged, ok := mergeContext(msg["context"], top.Context)
			if !ok {
				return nil, reject(http.StatusBadRequest, "bad_context", "the message's context is not a JSON object")
			}
			msg["context"] = merged
		}
		if _, ok := msg["sentAt"]; !ok && len(top.SentAt) > 0 && !isNull(top.SentAt) {
			msg["sentAt"] = top.SentAt
		}
	}
	if missing(msg, "messageId") && missing(msg, "message_id") {
		sum := sha256.Sum256(raw)
		msg["messageId"] = quote("ingest-" + hex.EncodeToString(sum[:16]))
	}
	recv := received.UTC()
	msg["receivedAt"] = quote(recv.Format(rfc3339Millis))
	if missing(msg, "timestamp") {
		orig, ok1 := timeField(msg["originalTimestamp"])
		sent, ok2 := timeField(msg["sentAt"])
		if ok1 && ok2 {
			msg["timestamp"] = quote(recv.Add(-sent.Sub(orig)).Format(rfc3339Millis))
		}
	}
	value, err := marshal(msg)
	if err != nil {
		return nil, reject(http.StatusBadRequest, string(decode.ReasonMalformedJSON), "re-encoding the message: %v", err)
	}
	return keyed(d, value, nil, "")
}

// mergeContext gives the message's context every key of the batch's it
// lacks; ok is false when the message's context is not an object.
func mergeContext(own, batch json.RawMessage) (json.RawMessage, bool) {
	var b map[string]json.RawMessage
	if json.Unmarshal(batch, &b) != nil {
		return own, false
	}
	m := map[string]json.RawMessage{}
	if len(own) > 0 && !isNull(own) {
		if !isObject(own) || json.Unmarshal(own, &m) != nil {
			return own, false
		}
	}
	for k, v := range b {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	out, err := marshal(m)
	return out, err == nil
}

// marshal encodes v without escaping <, > and & (json.Marshal's habit),
// so that text comes out as it went in.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

func quote(s string) json.RawMessage {
	b, _ := marshal(s)
	return b
}

func timeField(v json.RawMessage) (time.Time, bool) {
	var s string
	if len(v) == 0 || json.Unmarshal(v, &s) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func missing(msg map[string]json.RawMessage, k string) bool {
	v, ok := msg[k]
	return !ok || isNull(v) || string(v) == `""`
}

func isNull(v json.RawMessage) bool { return len(v) == 0 || string(bytes.TrimSpace(v)) == "null" }

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}

func clip(v json.RawMessage) string {
	if len(v) > 40 {
		return string(v[:40]) + "..."
	}
	return string(v)
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

package ingest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/ingest"
)

// TestSegmentMessagesAsSegmentWritesThem: what lands on the topic is the
// message as Segment's own API would pass it on: receivedAt, the path's
// type, a batch's context and sentAt, a skew-corrected timestamp, and a
// messageId that a retry repeats.
func TestSegmentMessagesAsSegmentWritesThem(t *testing.T) {
	_, addr := newCluster(t)
	received := time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)
	l := startListener(t, testConfig(t, addr), ingest.Options{Clock: func() time.Time { return received }})
	client := &http.Client{Timeout: 30 * time.Second}

	// The device's clock is 1h behind: it says it sent at 11:00:00.5 an
	// event it recorded at 11:00:00.
	call := []byte(`{"userId":"ann","event":"Signed Up","originalTimestamp":"2026-03-01T11:00:00.000Z","sentAt":"2026-03-01T11:00:00.500Z","properties":{"note":"<b>&</b>"}}`)
	batch := []byte(`{"batch":[
		{"type":"identify","userId":"bob","messageId":"b1","timestamp":"2026-02-01T00:00:00Z","context":{"ip":"1.2.3.4"}},
		{"type":"track","event":"Signed In","userId":"bob","messageId":"b2","timestamp":"2026-02-01T00:00:00Z","sentAt":"2026-02-01T00:00:09Z"}
	],"context":{"ip":"9.9.9.9","library":{"name":"analytics-go"}},"sentAt":"2026-02-01T00:00:05Z"}`)
	for _, c := range []struct {
		path string
		body []byte
	}{{ingest.PathTrack, call}, {ingest.PathTrack, call}, {ingest.PathBatch, batch}} {
		if a := post(t, client, l.url, c.path, c.body, basic(writeKey)); a.status != 200 {
			t.Fatalf("%s: %v", c.path, a)
		}
	}
	recs := readAll(t, addr, 4, 2*time.Second)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	byID := map[string]map[string]any{}
	var ids []string
	for _, r := range recs {
		var m map[string]any
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatal(err)
		}
		id, _ := m["messageId"].(string)
		ids = append(ids, id)
		byID[id] = m
		if m["receivedAt"] != "2026-03-01T12:00:00.123Z" {
			t.Errorf("%s: receivedAt %v, want the server's time in RFC 3339 ms", id, m["receivedAt"])
		}
	}
	// The call without messageId: one made up, the same for the retry
	// (the engine dedupes the two).
	var made string
	for _, id := range ids {
		if id != "b1" && id != "b2" {
			if made != "" && id != made {
				t.Errorf("a retried call got messageIds %q and %q: its retry would not dedupe", made, id)
			}
			made = id
		}
	}
	m := byID[made]
	if m == nil || len(made) != len("ingest-")+32 {
		t.Fatalf("made-up messageId %q, records %v", made, ids)
	}
	if m["type"] != "track" {
		t.Errorf("type %v, want track from the path", m["type"])
	}
	if m["timestamp"] != "2026-03-01T11:59:59.623Z" {
		t.Errorf("timestamp %v, want receivedAt - (sentAt - originalTimestamp) = 11:59:59.623", m["timestamp"])
	}
	if p, _ := m["properties"].(map[string]any); p["note"] != "<b>&</b>" {
		t.Errorf("properties changed: %v", m["properties"])
	}

	b1, b2 := byID["b1"], byID["b2"]
	if b1 == nil || b2 == nil {
		t.Fatalf("batch messages missing: %v", ids)
	}
	ctx1, _ := b1["context"].(map[string]any)
	if ctx1["ip"] != "1.2.3.4" || ctx1["library"] == nil {
		t.Errorf("b1 context %v: want its own ip and the batch's library", ctx1)
	}
	ctx2, _ := b2["context"].(map[string]any)
	if ctx2["ip"] != "9.9.9.9" {
		t.Errorf("b2 context %v: want the batch's", ctx2)
	}
	if b1["sentAt"] != "2026-02-01T00:00:05Z" || b2["sentAt"] != "2026-02-01T00:00:09Z" {
		t.Errorf("sentAt %v and %v: want the batch's where the message has none", b1["sentAt"], b2["sentAt"])
	}
	if b1["timestamp"] != "2026-02-01T00:00:00Z" {
		t.Errorf("b1 timestamp %v: a given timestamp stays", b1["timestamp"])
	}
}

// TestSegmentGzip: Segment's paths take gzip bodies, and the limit bounds
// what they inflate to.
func TestSegmentGzip(t *testing.T) {
	_, addr := newCluster(t)
	l := startListener(t, testConfig(t, addr), ingest.Options{})
	client := &http.Client{Timeout: 30 * time.Second}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	hdr := basic(writeKey)
	hdr["Content-Encoding"] = "gzip"
	if a := post(t, client, l.url, ingest.PathBatch, gz(batchOf(batchMsg("g1", "ann"), batchMsg("g2", "bob"))), hdr); a.status != 200 || a.body["records"] != 2.0 {
		t.Errorf("gzip batch: %v", a)
	}
	// 600 KB of spaces inflate past the 500 KB limit from a few hundred bytes.
	bomb := gz(append(append([]byte(`{"batch":[`), bytes.Repeat([]byte(" "), 600<<10)...), batchMsg("g3", "ann")+`]}`...))
	if a := post(t, client, l.url, ingest.PathBatch, bomb, hdr); a.status != 413 || a.body["reason"] != "too_large" {
		t.Errorf("gzip inflating past the limit: %v, want 413 too_large", a)
	}
	if a := post(t, client, l.url, ingest.PathBatch, []byte("not gzip"), hdr); a.status != 400 || a.body["reason"] != "bad_gzip" {
		t.Errorf("a body that is not gzip: %v, want 400 bad_gzip", a)
	}
	hdr["Content-Encoding"] = "br"
	if a := post(t, client, l.url, ingest.PathTrack, track("g4", "ann"), hdr); a.status != 415 {
		t.Errorf("Content-Encoding br: %v, want 415", a)
	}
	if recs := readAll(t, addr, 2, time.Second); len(recs) != 2 {
		t.Errorf("%d records, want the gzip batch's 2", len(recs))
	}
}

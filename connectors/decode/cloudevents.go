package decode

import (
	"strings"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/lifeline-hq/lifeline/engine"
)

// cloudEventType is Event.Type for every CloudEvent.
const cloudEventType = "cloudevent"

// cloudEventStructured fills ev from a structured-mode CloudEvent: the
// attributes and data in one JSON object. Checks run in a fixed order:
// specversion, then customer id, then time.
func (d *Decoder) cloudEventStructured(t *top, recordTime int64, ev *engine.Event) *Error {
	if s, ok := str(t.specversion); !ok || s != "1.0" {
		got := "a JSON " + t.specversion.Type().String()
		if ok {
			got = quote(s)
		}
		return &Error{ReasonUnknownFormat, "cloudevents specversion " + got + " is not supported (want \"1.0\")"}
	}
	ev.Type = cloudEventType
	ev.Name, _ = str(t.typ)
	id, err := d.id("cloudevent id", t.id)
	if err != nil {
		return err
	}
	if id != "" {
		src, _ := str(t.source)
		if err := validID("cloudevent source", src, true); err != nil {
			return err
		}
		ev.ID = d.ceID(src, id)
	}
	if ev.CustomerID, err = d.id("cloudevent subject", t.subject); err != nil {
		return err
	}
	if ev.CustomerID == "" {
		ev.CustomerID = d.dataCustomer(t.data)
		if err := validID("cloudevent data field", ev.CustomerID, true); err != nil {
			err.Msg = strings.Replace(err.Msg, "field", "field "+quote(d.field), 1)
			return err
		}
	}
	if ev.CustomerID == "" {
		return &Error{ReasonNoCustomerID, "cloudevent has neither subject nor data field " + quote(d.field)}
	}
	if !present(t.time) {
		// time is optional in CloudEvents 1.0.
		if recordTime <= 0 {
			return &Error{ReasonNoTimestamp, "cloudevent has no time (and no record time to fall back on)"}
		}
		ev.Time, ev.TimeFromRecord, d.fallback = recordTime, true, FallbackRecord
	} else {
		ms, err := timeOf("time", t.time)
		if err != nil {
			return err
		}
		ev.Time = ms
	}
	return amounts(t.data, ev)
}

// ceID returns a CloudEvent's dedupe key, copied into the Decoder's buffer:
// source, "/", then id with each "%" and "/" percent-encoded ("%25", "%2F").
// The encoded id has no "/", so the key's last "/" always splits it back into
// the pair: distinct (source, id) pairs never share a key, as they did with a
// bare source + "/" + id (("/shop", "orders/1") and ("/shop/orders", "1")).
// Ids without "/" or "%", nearly all (UUIDs, counters), keep the key earlier
// versions wrote, so customer state stored before an upgrade still dedupes
// their redeliveries.
func (d *Decoder) ceID(source, id string) string {
	if strings.IndexByte(id, '/') < 0 && strings.IndexByte(id, '%') < 0 {
		return d.keep(source, "/", id)
	}
	start := len(d.buf)
	d.buf = append(d.buf, source...)
	d.buf = append(d.buf, '/')
	for i := 0; i < len(id); i++ {
		switch c := id[i]; c {
		case '/':
			d.buf = append(d.buf, "%2F"...)
		case '%':
			d.buf = append(d.buf, "%25"...)
		default:
			d.buf = append(d.buf, c)
		}
	}
	return b2s(d.buf[start:])
}

// dataCustomer returns the configured customer field of a data object, or "".
func (d *Decoder) dataCustomer(data *fastjson.Value) string {
	if data == nil || data.Type() != fastjson.TypeObject {
		return ""
	}
	return d.idText(data.Get(d.path...))
}

// Header names of the CloudEvents Kafka protocol binding, binary mode.
const (
	hdrSpecversion = "ce_specversion"
	hdrID          = "ce_id"
	hdrSource      = "ce_source"
	hdrType        = "ce_type"
	hdrTime        = "ce_time"
	hdrSubject     = "ce_subject"
	hdrContentType = "content-type"
)

// hasCEHeaders reports whether the record is a binary-mode CloudEvent.
func hasCEHeaders(headers []Header) bool {
	for i := range headers {
		if strings.EqualFold(headers[i].Key, hdrSpecversion) {
			return true
		}
	}
	return false
}

// cloudEventBinary fills ev from a binary-mode CloudEvent: attributes in ce_
// headers (names compared case-insensitively, the first of duplicates wins),
// the data in the value. The data is parsed as JSON unless a content-type
// header names a type that is not JSON; an empty value is no data.
func (d *Decoder) cloudEventBinary(value []byte, headers []Header, recordTime int64, ev *engine.Event) *Error {
	var specversion, id, source, typ, tm, subject, contentType []byte
	var seen [7]bool
	for i := range headers {
		h := &headers[i]
		var dst *[]byte
		var n int
		switch k := h.Key; {
		case strings.EqualFold(k, hdrSpecversion):
			dst, n = &specversion, 0
		case strings.EqualFold(k, hdrID):
			dst, n = &id, 1
		case strings.EqualFold(k, hdrSource):
			dst, n = &source, 2
		case strings.EqualFold(k, hdrType):
			dst, n = &typ, 3
		case strings.EqualFold(k, hdrTime):
			dst, n = &tm, 4
		case strings.EqualFold(k, hdrSubject):
			dst, n = &subject, 5
		case strings.EqualFold(k, hdrContentType), strings.EqualFold(k, "content_type"):
			dst, n = &contentType, 6
		default:
			continue
		}
		if !seen[n] {
			*dst, seen[n] = h.Value, true
		}
	}
	if s := b2s(specversion); s != "1.0" {
		return &Error{ReasonUnknownFormat, "cloudevents specversion " + quote(s) + " is not supported (want \"1.0\")"}
	}

	var data *fastjson.Value
	if len(value) > 0 && (!seen[6] || containsFold(b2s(contentType), "json")) {
		v, err := d.parse(value)
		if err != nil {
			err.Msg = "cloudevent data: " + err.Msg
			return err
		}
		data = v
	}

	// Header values are copied: Event strings may alias only the value and
	// the Decoder's buffers.
	ev.Type = cloudEventType
	ev.Name = d.keep(b2s(typ))
	if len(id) > 0 {
		if err := validID(hdrID, b2s(id), false); err != nil {
			return err
		}
		if err := validID(hdrSource, b2s(source), false); err != nil {
			return err
		}
		ev.ID = d.ceID(b2s(source), b2s(id))
	}
	if len(subject) > 0 {
		if err := validID(hdrSubject, b2s(subject), false); err != nil {
			return err
		}
		ev.CustomerID = d.keep(b2s(subject))
	} else {
		ev.CustomerID = d.dataCustomer(data)
		if err := validID("cloudevent data field", ev.CustomerID, true); err != nil {
			err.Msg = strings.Replace(err.Msg, "field", "field "+quote(d.field), 1)
			return err
		}
	}
	if ev.CustomerID == "" {
		return &Error{ReasonNoCustomerID, "cloudevent has neither a ce_subject header nor data field " + quote(d.field)}
	}
	if len(tm) == 0 {
		if recordTime <= 0 {
			return &Error{ReasonNoTimestamp, "cloudevent has no ce_time header (and no record time to fall back on)"}
		}
		ev.Time, ev.TimeFromRecord, d.fallback = recordTime, true, FallbackRecord
	} else {
		ms, ok := parseTime(b2s(tm))
		if !ok {
			return &Error{ReasonBadTimestamp, "ce_time " + quote(b2s(tm)) + " is not an RFC 3339 timestamp"}
		}
		ev.Time = ms
	}
	return amounts(data, ev)
}

// b2s views b as a string without copying; the caller must not keep it past
// the life of b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// containsFold reports whether s contains substr, ASCII case-insensitively.
func containsFold(s, substr string) bool {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return true
		}
	}
	return false
}

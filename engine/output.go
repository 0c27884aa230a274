package engine

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Kind is the kind of an output record.
type Kind uint8

// The output kinds, each with its own topic.
const (
	KindStage Kind = iota
	KindHealth
	KindAlert
	numKinds
)

func (k Kind) String() string {
	switch k {
	case KindStage:
		return "stage"
	case KindHealth:
		return "health"
	case KindAlert:
		return "alert"
	}
	return "unknown"
}

// Output is one output record: its Kafka key is the customer id, its value
// the JSON record README.md describes ("Output records").
type Output struct {
	Kind  Kind
	Key   string
	Value []byte
	// Rule is the transition or alert rule (stage and alert records).
	Rule string
	// From and To are the stages of a stage record; Status is an alert
	// record's firing or resolved. For metrics, without parsing Value.
	From, To, Status string
}

// SchemaVersion is the version of the output records' shape, in every
// record's schema_version and in the JSON Schemas of schemas/. It changes
// when a field is removed or changes its meaning; fields are added
// without a change.
const SchemaVersion = 1

// ChangelogEntry is one state change for the changelog topic: the newest
// encoding of a customer's state (Key is the customer id), or the
// partition's meta record under MetaKey.
type ChangelogEntry struct {
	Key   string
	Value []byte
}

// MetaKey is the changelog key of a partition's meta record (watermark,
// aggregates). No customer id starts with a NUL byte.
const MetaKey = "\x00meta"

// Outputs collects what a batch produced. The caller owns it: it resets it
// between batches, and its slices are valid until then, except the
// Changelog values, which are the partition's encodings and valid until
// its next Flush.
type Outputs struct {
	Records   []Output
	Changelog []ChangelogEntry
	buf       []byte
}

// Reset empties o, keeping its memory.
func (o *Outputs) Reset() {
	clear(o.Records)
	o.Records = o.Records[:0]
	clear(o.Changelog)
	o.Changelog = o.Changelog[:0]
	o.buf = o.buf[:0]
}

// record starts a JSON record with the fields every kind has and returns
// the start offset in o.buf.
func (o *Outputs) begin(kind Kind, customer string, at int64, version string) int {
	start := len(o.buf)
	b := append(o.buf, `{"kind":"`...)
	b = append(b, kind.String()...)
	b = append(b, `","schema_version":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	b = append(b, `,"customer_id":`...)
	b = appendJSONString(b, customer)
	b = append(b, `,"at":"`...)
	b = appendRFC3339Millis(b, at)
	b = append(b, `","rules_version":`...)
	b = appendJSONString(b, version)
	o.buf = b
	return start
}

func (o *Outputs) end(kind Kind, customer string, start int) {
	o.buf = append(o.buf, '}')
	// Full slice expression: a later append to buf must never write into
	// this record's bytes.
	o.Records = append(o.Records, Output{Kind: kind, Key: customer, Value: o.buf[start:len(o.buf):len(o.buf)]})
}

func (o *Outputs) field(name string) {
	o.buf = append(o.buf, ',', '"')
	o.buf = append(o.buf, name...)
	o.buf = append(o.buf, '"', ':')
}

func (o *Outputs) stringField(name, value string) {
	o.field(name)
	o.buf = appendJSONString(o.buf, value)
}

// eventIDField writes event_id, the event that caused the record; a
// record a timer caused has none and leaves the field out.
func (o *Outputs) eventIDField(id string) {
	if id != "" {
		o.stringField("event_id", id)
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendHex64(b []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(v>>uint(shift))&0xf])
	}
	return b
}

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// appendRFC3339Millis appends Unix ms t as RFC 3339 in UTC with
// milliseconds, as time.Time.AppendFormat with
// "2006-01-02T15:04:05.000Z07:00" does, at a third of its cost (37 ns
// against 100 on this machine): every
// output record carries one.
func appendRFC3339Millis(b []byte, t int64) []byte {
	days, ms := t/DayMillis, t%DayMillis
	if ms < 0 {
		days, ms = days-1, ms+DayMillis
	}
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		return time.UnixMilli(t).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, int(ms/3_600_000))
	b = append(b, ':')
	b = append2(b, int(ms/60_000%60))
	b = append(b, ':')
	b = append2(b, int(ms/1000%60))
	b = append(b, '.')
	frac := int(ms % 1000)
	b = append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return append(b, 'Z')
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil, inverted).
func civil(days int64) (y, m, d int) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

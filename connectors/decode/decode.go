package decode

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Reason says why a record could not become an Event. Its values are stable
// snake_case words, fit for a metric label and a dead-letter header.
type Reason string

// The reasons Decode reports. Reasons returns them all.
const (
	// ReasonMalformedJSON: the value (or, for binary-mode CloudEvents with a
	// JSON content type, the data) is not valid JSON.
	ReasonMalformedJSON Reason = "malformed_json"
	// ReasonNoCustomerID: neither Segment userId nor anonymousId; neither
	// CloudEvents subject nor the configured data field.
	ReasonNoCustomerID Reason = "no_customer_id"
	// ReasonNoTimestamp: no Segment timestamp or fallback; no CloudEvents time.
	ReasonNoTimestamp Reason = "no_timestamp"
	// ReasonBadTimestamp: the timestamp is not an RFC 3339 string, or is the
	// Unix epoch itself.
	ReasonBadTimestamp Reason = "bad_timestamp"
	// ReasonUnknownFormat: valid JSON that is neither a Segment message nor a
	// CloudEvents 1.0 event, or a Segment type outside the Spec's six.
	ReasonUnknownFormat Reason = "unknown_format"
	// ReasonInvalidUTF8: an id (Segment userId, anonymousId, messageId,
	// groupId; CloudEvents subject, id, source, the customer data field) is
	// not valid UTF-8, or holds a lone UTF-16 surrogate escape ("\ud800"),
	// so it would print the same as other ids.
	ReasonInvalidUTF8 Reason = "invalid_utf8"
	// ReasonTooLarge: the JSON to parse (the value, or a binary-mode
	// CloudEvent's JSON data) is longer than Options.MaxBytes.
	ReasonTooLarge Reason = "too_large"
	// ReasonTooComplex: the JSON holds more values than Options.MaxValues or
	// nests deeper than 300 levels.
	ReasonTooComplex Reason = "too_complex"
	// ReasonAmountOutOfRange: a money amount (properties or data revenue,
	// total, value, price, amount; Stripe's amount) is beyond ±1e12
	// (rules.MaxAmount) in major units, or too large for a number at all.
	ReasonAmountOutOfRange Reason = "amount_out_of_range"
)

// Reasons returns every Reason Decode can report, so that a caller can create
// its metric series before the first drop.
func Reasons() []Reason {
	return []Reason{ReasonMalformedJSON, ReasonNoCustomerID, ReasonNoTimestamp,
		ReasonBadTimestamp, ReasonUnknownFormat, ReasonInvalidUTF8, ReasonTooLarge, ReasonTooComplex, ReasonAmountOutOfRange}
}

// Error is returned for every record that cannot become an Event. Check for
// it with errors.As; Reason is the stable part, Msg the human-readable detail
// (it quotes at most a short prefix of any offending value).
type Error struct {
	Reason Reason
	Msg    string
}

// Error returns the reason and the detail, e.g.
// "no_customer_id: segment track has neither userId nor anonymousId".
func (e *Error) Error() string { return string(e.Reason) + ": " + e.Msg }

// Options configure a Decoder. The zero value is valid.
type Options struct {
	// CustomerField is the CloudEvents data field used as customer id when
	// subject is empty (default "customer_id"). A dotted path such as
	// "user.id" walks nested objects (and "items.0.id" arrays); a key that
	// itself contains a dot cannot be named. Its value may be a string or a
	// number (used as its decimal text).
	CustomerField string
	// MaxBytes is the longest JSON Decode parses, in bytes (default
	// DefaultMaxBytes, 1 MiB); a longer value is rejected as too_large
	// unread. Binary-mode CloudEvent data that is not parsed (a non-JSON
	// content type) is not bounded.
	MaxBytes int
	// CustomerPaths lists, per source (a key of Sources: "stripe",
	// "zendesk", "intercom", "delighted", "typeform", "snowplow"), the
	// dotted paths from the record's root tried in order for the customer
	// id; the first present, non-empty string or number wins, and an object
	// found there stands for its "id" member (an expanded Stripe customer).
	// A source not listed, or listed with no paths, keeps
	// DefaultCustomerPaths. Teams that key customers by their own user id
	// put it first, e.g. "stripe": {"data.object.metadata.user_id",
	// "data.object.customer"}.
	CustomerPaths map[string][]string
	// MaxValues is the most JSON values one record may hold, counted as
	// array elements and object members (default DefaultMaxValues, 10,000);
	// more, or nesting deeper than 300 levels, is rejected as too_complex
	// before the parser builds anything. The parser keeps about 100 bytes
	// per value; 10,000 values took 0.3 ms to parse with a parser grown for
	// them, 4 ms and 3.9 MB allocated with a new one (2 cores, loaded).
	MaxValues int
}

// DefaultCustomerField is the CloudEvents data field used when
// Options.CustomerField is empty.
const DefaultCustomerField = "customer_id"

// Defaults of Options.MaxBytes and Options.MaxValues. A Segment message is
// at most 32 KB and a few hundred values; Kafka's default record limit is
// about 1 MB.
const (
	DefaultMaxBytes  = 1 << 20
	DefaultMaxValues = 10_000
)

// A Decoder drops its parser after a record beyond these (and its id buffer
// when it grows beyond keepBytes), so that one large record does not stay held, per
// partition, until the process ends. Typical records hold tens of values.
const (
	keepBytes  = 64 << 10
	keepValues = 1024
)

// Decoder turns Kafka record values into engine Events. It keeps its buffers
// from call to call, so that a steady stream decodes without allocating. It
// is not safe for concurrent use: give each partition goroutine its own.
type Decoder struct {
	p     fastjson.Parser
	field string   // CloudEvents customer field as configured, for messages
	path  []string // the same, split at dots
	buf   []byte   // bytes that Event strings alias, other than the parser's
	// traits holds the JSON of the last Segment message's traits object,
	// which Event.Traits aliases.
	traits []byte

	maxBytes, maxValues int
	release             bool // the parser grew beyond keepBytes or keepValues

	// Per source: customer paths, split at dots, and their text for
	// messages ("data.object.customer or data.object.id").
	paths     [numSources][][]string
	pathNames [numSources][]string // "stripe data.object.customer"
	pathText  [numSources]string
	// fallback names the field that dated the last event when it was not
	// the source's first choice ("" otherwise); see TimeFallback.
	fallback string
}

// Validate reports options that cannot work, naming the key. New does not
// call it: a caller validates its configuration once, at start.
func (o Options) Validate() error {
	if o.MaxBytes < 0 {
		return fmt.Errorf("MaxBytes %d is negative (0 means the default, %d)", o.MaxBytes, DefaultMaxBytes)
	}
	if o.MaxValues < 0 {
		return fmt.Errorf("MaxValues %d is negative (0 means the default, %d)", o.MaxValues, DefaultMaxValues)
	}
	for src, paths := range o.CustomerPaths {
		if sourceIndex(src) < 0 {
			return fmt.Errorf("CustomerPaths: unknown source %q (known: %s)", src, strings.Join(Sources(), ", "))
		}
		for _, p := range paths {
			if err := validPath(p); err != nil {
				return fmt.Errorf("CustomerPaths %s: %w", src, err)
			}
		}
	}
	if o.CustomerField == "" {
		return nil
	}
	return validPath(o.CustomerField)
}

// validPath reports a dotted path with an empty key.
func validPath(p string) error {
	for _, k := range strings.Split(p, ".") {
		if k == "" {
			return fmt.Errorf("%q has an empty key in its dotted path (write e.g. customer_id or user.id)", p)
		}
	}
	return nil
}

// New returns a Decoder with the given options. Options it cannot use (see
// Validate) give a Decoder that never finds a customer id in CloudEvents data.
func New(opts Options) *Decoder {
	f := opts.CustomerField
	if f == "" {
		f = DefaultCustomerField
	}
	d := &Decoder{field: f, path: strings.Split(f, "."), maxBytes: opts.MaxBytes, maxValues: opts.MaxValues}
	if d.maxBytes <= 0 {
		d.maxBytes = DefaultMaxBytes
	}
	if d.maxValues <= 0 {
		d.maxValues = DefaultMaxValues
	}
	for i, src := range Sources() {
		paths := opts.CustomerPaths[src]
		if len(paths) == 0 {
			paths = DefaultCustomerPaths(src)
		}
		for _, p := range paths {
			d.paths[i] = append(d.paths[i], strings.Split(p, "."))
			d.pathNames[i] = append(d.pathNames[i], src+" "+p)
		}
		d.pathText[i] = strings.Join(paths, " or ")
	}
	return d
}

// Decode is DecodeAt without a record time: a Segment message or
// CloudEvent without any timestamp of its own is rejected (no_timestamp).
func (d *Decoder) Decode(value []byte, headers []Header, ev *engine.Event) error {
	return d.DecodeAt(value, headers, 0, ev)
}

// DecodeAt fills ev from one record's value and headers. recordTime (Unix
// ms; 0 or less for none, as Kafka's -1) is the last fallback of a Segment
// message's time (after timestamp, originalTimestamp, sentAt and
// receivedAt) and of a CloudEvent without time: the Kafka record's
// timestamp, or in a replay the previous line's time. The other sources
// always carry their own time and never use it. TimeFallback tells
// afterwards whether a fallback dated the event.
//
// The format is detected per record: a ce_specversion header means a
// binary-mode CloudEvent (attributes in ce_ headers, data in the value); a
// value that is not JSON and holds tabs is a Snowplow enriched event in its
// TSV form; otherwise the value must be a JSON object, tried in this order: a
// structured CloudEvent ("specversion"), a Stripe event ("object":"event"),
// a Zendesk event ("type":"zen:event-type:..."), an Intercom notification
// ("type":"notification_event"), a Typeform response
// ("event_type":"form_response"), a Delighted event ("event_type":
// "survey_response...."), a Snowplow enriched event ("collector_tstamp"),
// and a Segment message when it has "type", "action", "event", "userId" or
// "anonymousId" (or their snake_case forms).
//
// On success ev is overwritten entirely. Its strings may alias value and the
// Decoder's buffers (never headers): they are valid until the next call to
// Decode, and value must not be modified before then. On failure ev is zeroed
// and the error is an *Error. DecodeAt never panics on bad input.
func (d *Decoder) DecodeAt(value []byte, headers []Header, recordTime int64, ev *engine.Event) error {
	*ev = engine.Event{}
	d.buf = d.buf[:0]
	d.fallback = ""
	var err *Error
	switch {
	case hasCEHeaders(headers):
		err = d.cloudEventBinary(value, headers, recordTime, ev)
	case len(value) > 0 && value[0] != '{' && isTSV(value):
		err = d.tsv(value, ev)
	default:
		err = d.json(value, recordTime, ev)
	}
	if err == nil && ev.Time == 0 {
		// A zero Time reads as "unset", and an event in the epoch's first
		// millisecond is a producer's placeholder (a null or 0 converted),
		// not a touchpoint.
		err = &Error{ReasonBadTimestamp, "timestamp is the Unix epoch (1970-01-01T00:00:00Z), a placeholder"}
	}
	// ev's strings keep what they alias alive on their own.
	if d.release {
		d.p, d.release = fastjson.Parser{}, false
	}
	if cap(d.buf) > keepBytes { // long ids, from headers too
		d.buf = nil
	}
	if err != nil {
		*ev = engine.Event{}
		d.fallback = ""
		return err
	}
	return nil
}

// Fallbacks of TimeFallback, also the label values of a counter of them.
const (
	FallbackOriginalTimestamp = "originalTimestamp"
	FallbackSentAt            = "sentAt"
	FallbackReceivedAt        = "receivedAt"
	FallbackRecord            = "record"
)

// TimeFallbacks returns every value TimeFallback reports other than "", so
// that a caller can create its metric series up front.
func TimeFallbacks() []string {
	return []string{FallbackOriginalTimestamp, FallbackSentAt, FallbackReceivedAt, FallbackRecord}
}

// TimeFallback tells which fallback dated the event of the last successful
// Decode: "" when the event carried its source's own time (Segment
// timestamp, CloudEvents time, and every other source's time field);
// "originalTimestamp", "sentAt" or "receivedAt" (snake_case forms
// included) for a Segment message without timestamp; "record" when the
// record time given to DecodeAt did. After a failed Decode it is "".
func (d *Decoder) TimeFallback() string { return d.fallback }

// tsv decodes a tab-separated record: a Snowplow enriched event, bounded
// like JSON by Options.MaxBytes.
func (d *Decoder) tsv(value []byte, ev *engine.Event) *Error {
	if len(value) > d.maxBytes {
		return &Error{ReasonTooLarge, "record of " + strconv.Itoa(len(value)) + " bytes is longer than the limit of " + strconv.Itoa(d.maxBytes)}
	}
	return d.snowplowTSV(value, ev)
}

// top holds the top-level members either format uses, found in one pass.
type top struct {
	specversion, id, source, time, subject, data *fastjson.Value

	typ, action, event                                  *fastjson.Value
	userID, userIDSnake, anonID, anonIDSnake            *fastjson.Value
	messageID, messageIDSnake                           *fastjson.Value
	timestamp, origTS, origTSSnake, sentAt, sentAtSnake *fastjson.Value
	receivedAt, receivedAtSnake                         *fastjson.Value
	properties, context, groupID, groupIDSnake          *fastjson.Value
	traits                                              *fastjson.Value

	// Only to tell the other sources apart: "object" (Stripe),
	// "event_type" (Typeform, Delighted), "collector_tstamp" (Snowplow).
	object, eventType, collectorTS *fastjson.Value
}

// set stores v in *dst unless an earlier duplicate key already did: the first
// occurrence wins, as with fastjson's Get.
func set(dst **fastjson.Value, v *fastjson.Value) {
	if *dst == nil {
		*dst = v
	}
}

func (d *Decoder) json(value []byte, recordTime int64, ev *engine.Event) *Error {
	root, err := d.parse(value)
	if err != nil {
		return err
	}
	if root.Type() != fastjson.TypeObject {
		return &Error{ReasonUnknownFormat, "JSON " + root.Type().String() + " is not an object"}
	}
	obj, _ := root.Object()
	var t top
	obj.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "specversion":
			set(&t.specversion, v)
		case "id":
			set(&t.id, v)
		case "source":
			set(&t.source, v)
		case "type":
			set(&t.typ, v)
		case "time":
			set(&t.time, v)
		case "subject":
			set(&t.subject, v)
		case "data":
			set(&t.data, v)
		case "action":
			set(&t.action, v)
		case "event":
			set(&t.event, v)
		case "userId":
			set(&t.userID, v)
		case "user_id":
			set(&t.userIDSnake, v)
		case "anonymousId":
			set(&t.anonID, v)
		case "anonymous_id":
			set(&t.anonIDSnake, v)
		case "messageId":
			set(&t.messageID, v)
		case "message_id":
			set(&t.messageIDSnake, v)
		case "timestamp":
			set(&t.timestamp, v)
		case "originalTimestamp":
			set(&t.origTS, v)
		case "original_timestamp":
			set(&t.origTSSnake, v)
		case "sentAt":
			set(&t.sentAt, v)
		case "sent_at":
			set(&t.sentAtSnake, v)
		case "receivedAt":
			set(&t.receivedAt, v)
		case "received_at":
			set(&t.receivedAtSnake, v)
		case "properties":
			set(&t.properties, v)
		case "context":
			set(&t.context, v)
		case "traits":
			set(&t.traits, v)
		case "groupId":
			set(&t.groupID, v)
		case "group_id":
			set(&t.groupIDSnake, v)
		case "object":
			set(&t.object, v)
		case "event_type":
			set(&t.eventType, v)
		case "collector_tstamp":
			set(&t.collectorTS, v)
		}
	})
	if t.specversion != nil {
		return d.cloudEventStructured(&t, recordTime, ev)
	}
	// The other sources, each by its own shape, before Segment: a Stripe
	// event has "type" too, and a Snowplow event "event" and "user_id".
	if src := detect(&t); src >= 0 {
		return d.source(src, root, ev)
	}
	if t.typ != nil || t.action != nil || t.event != nil ||
		t.userID != nil || t.userIDSnake != nil || t.anonID != nil || t.anonIDSnake != nil {
		return d.segment(&t, recordTime, ev)
	}
	return &Error{ReasonUnknownFormat, "JSON object is neither a Segment message (no type, action, event, userId or anonymousId) nor a CloudEvent (no specversion), " +
		"nor a Stripe event (no \"object\":\"event\"), a Zendesk, Intercom, Delighted or Typeform webhook, or a Snowplow enriched event (no collector_tstamp)"}
}

// parse parses value as JSON with the Decoder's reused parser, after
// bounding its cost (Options.MaxBytes, MaxValues, maxDepth) and checking
// what the parser leaves out (see scan), so that only RFC 8259 JSON is
// accepted and a record costs at most a bounded parse.
func (d *Decoder) parse(value []byte) (*fastjson.Value, *Error) {
	if len(value) > d.maxBytes {
		return nil, &Error{ReasonTooLarge, "JSON of " + strconv.Itoa(len(value)) + " bytes is longer than the limit of " +
			strconv.Itoa(d.maxBytes)}
	}
	n, at, msg, complex := scan(value, d.maxValues)
	if at >= 0 {
		if complex {
			return nil, &Error{ReasonTooComplex, msg + " at offset " + strconv.Itoa(at)}
		}
		return nil, &Error{ReasonMalformedJSON, msg + " at offset " + strconv.Itoa(at)}
	}
	// A parser that grew for this record is let go of after Decode.
	if len(value) > keepBytes || n > keepValues {
		d.release = true
	}
	v, err := d.p.ParseBytes(value)
	if err != nil {
		return nil, &Error{ReasonMalformedJSON, parseError(err, len(value))}
	}
	return v, nil
}

// parseError says in the decoder's own words what the parser found wrong
// with the JSON's structure (scan has checked its tokens). fastjson's
// message is made of its internals: a "cannot parse array value: " or the
// like per level of nesting (kilobytes for a deep error), "unparsed
// tail", and for some errors all the rest of the input, quoted. Dead-letter
// headers and replay's bad lines show this message to people who know
// their JSON, not this parser. The offset is given when the parser's
// message allows to tell it: n is the length of the input.
func parseError(err error, n int) string {
	msg := strings.TrimPrefix(err.Error(), "cannot parse JSON: ")
	at := ""
	// The parser quotes the rest of the input from where it failed,
	// whole up to 80 bytes (else its start and end).
	if i := strings.LastIndex(msg, "; unparsed tail: "); i >= 0 {
		if tail, uerr := strconv.Unquote(msg[i+len("; unparsed tail: "):]); uerr == nil && len(tail) <= 80 && len(tail) <= n {
			at = " at offset " + strconv.Itoa(n-len(tail))
		}
	}
	for trimmed := true; trimmed; {
		trimmed = false
		for _, w := range [...]string{"cannot parse array value: ", "cannot parse object value: ",
			"cannot parse array: ", "cannot parse object: ", "cannot parse object key: ",
			"cannot parse string: ", "cannot parse number: "} {
			if strings.HasPrefix(msg, w) {
				msg, trimmed = msg[len(w):], true
			}
		}
	}
	// The innermost error starts msg now; what follows it may quote the
	// input, so only its start is looked at.
	for _, e := range [...]struct{ parser, ours string }{
		{"cannot parse empty string", "JSON ends where a value should be"},
		{"unexpected end of object", "JSON ends inside an object"},
		{"missing '}'", "JSON ends inside an object"},
		{"unexpected end of array", "JSON ends inside an array"},
		{"missing ']'", "JSON ends inside an array"},
		{`missing closing '"'`, "JSON ends inside a string"},
		{"missing ',' after object value", "JSON object members are not separated by a comma"},
		{"missing ',' after array value", "JSON array elements are not separated by a comma"},
		{"missing ':' after object key", "JSON object key is not followed by a colon"},
		{"cannot find opening", "JSON object key is not a string"},
		{"unexpected tail", "more after the JSON value"},
		{"unexpected value found", "JSON value expected"},
		{"unexpected char", "unexpected character in JSON"},
	} {
		if strings.HasPrefix(msg, e.parser) {
			return e.ours + at
		}
	}
	return "JSON structure is broken" + at
}

// str returns v's text when v is a JSON string. The text aliases the parser's
// buffer (fastjson unescapes in place), so it costs no allocation.
func str(v *fastjson.Value) (string, bool) {
	if v == nil || v.Type() != fastjson.TypeString {
		return "", false
	}
	b, _ := v.StringBytes()
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}

// idText returns an identifier given as a JSON string, or as a JSON number in
// decimal text (an integer literal verbatim, so ids above 2^53 keep every
// digit; other numbers as their shortest 'f' formatting, so 12345.0 and 1.2345e4
// both read "12345"). It returns "" for anything else, which callers treat as
// missing.
func (d *Decoder) idText(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		s, _ := str(v)
		return s
	case fastjson.TypeNumber:
		start := len(d.buf)
		d.buf = v.MarshalTo(d.buf) // a number marshals as its literal text
		raw := d.buf[start:]
		if strings.IndexAny(unsafe.String(unsafe.SliceData(raw), len(raw)), ".eE") >= 0 {
			f, err := v.Float64()
			d.buf = d.buf[:start]
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return ""
			}
			d.buf = strconv.AppendFloat(d.buf, f, 'f', -1, 64)
			raw = d.buf[start:]
		}
		return unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	return ""
}

// id is idText for the id in the named field, rejected when it is not valid
// UTF-8 (see validID). field is a constant, so that the common path does not
// allocate.
func (d *Decoder) id(field string, v *fastjson.Value) (string, *Error) {
	s := d.idText(v)
	return s, validID(field, s, true)
}

// validID reports an id that could print the same as another one: bytes that
// are not UTF-8 (printed as U+FFFD, escaped or dropped, depending on the
// printer) or, when the id came from a JSON string (fromJSON), a lone UTF-16
// surrogate escape, which the parser leaves as its six characters: "a\ud800"
// would read exactly like "a\\ud800". The message names the field and the
// byte offset in the id.
func validID(field, id string, fromJSON bool) *Error {
	// Ids are short and nearly always ASCII without a backslash: one byte
	// loop, inlined, is the common path.
	for i := 0; i < len(id); i++ {
		if c := id[i]; c >= utf8.RuneSelf || c == '\\' {
			return invalidID(field, id, fromJSON)
		}
	}
	return nil
}

// invalidID is validID for ids with bytes beyond ASCII or a backslash.
func invalidID(field, id string, fromJSON bool) *Error {
	for i := 0; i < len(id); {
		r, n := utf8.DecodeRuneInString(id[i:])
		if r == utf8.RuneError && n == 1 {
			return &Error{ReasonInvalidUTF8, field + " " + quote(id) + " is not valid UTF-8: byte " +
				strconv.Itoa(i) + " is " + fmt.Sprintf("%#02x", id[i])}
		}
		if fromJSON && r == '\\' && i+6 <= len(id) && id[i+1] == 'u' {
			if x, err := strconv.ParseUint(id[i+2:i+6], 16, 16); err == nil && utf16.IsSurrogate(rune(x)) {
				return &Error{ReasonInvalidUTF8, field + " " + quote(id) + " has a lone UTF-16 surrogate escape at byte " +
					strconv.Itoa(i) + " (\\u" + id[i+2:i+6] + "), not a character"}
			}
		}
		i += n
	}
	return nil
}

// keep copies the concatenation of parts into the Decoder's buffer and
// returns it as a string valid until the next Decode. Earlier strings stay
// valid when the buffer grows: they keep the old array alive.
func (d *Decoder) keep(parts ...string) string {
	start := len(d.buf)
	for _, p := range parts {
		d.buf = append(d.buf, p...)
	}
	b := d.buf[start:]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// number reads an amount given as a JSON number or as a string holding a
// decimal number ("39.95", " 9 "). Infinite and NaN values do not count.
func number(v *fastjson.Value) (float64, bool) {
	if v == nil {
		return 0, false
	}
	var f float64
	switch v.Type() {
	case fastjson.TypeNumber:
		var err error
		if f, err = v.Float64(); err != nil {
			return 0, false
		}
	case fastjson.TypeString:
		s, _ := str(v)
		s = strings.TrimSpace(s)
		if !isDecimal(s) {
			return 0, false
		}
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// isDecimal reports whether s is a plain decimal number: an optional sign,
// digits with an optional fraction (or a fraction alone), and an optional
// exponent. It keeps strconv.ParseFloat's extras ("Inf", "0x1p3", "1_000")
// out of money and scores.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && isDigit(s[i]); i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && isDigit(s[i]); i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// amounts fills Score, the money amounts and Currency from a Segment
// properties object or a CloudEvents data object; anything else carries
// none. An amount beyond ±rules.MaxAmount (or one too large for a float,
// "1e400") is an error: summed into lifetime value it would overflow, and
// no single payment is that large.
func amounts(o *fastjson.Value, ev *engine.Event) *Error {
	if o == nil || o.Type() != fastjson.TypeObject {
		return nil
	}
	var score, currency *fastjson.Value
	var money [rules.NumMoneyProps]*fastjson.Value
	obj, _ := o.Object()
	obj.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "score":
			set(&score, v)
		case "revenue":
			set(&money[rules.MoneyRevenue], v)
		case "total":
			set(&money[rules.MoneyTotal], v)
		case "value":
			set(&money[rules.MoneyValue], v)
		case "price":
			set(&money[rules.MoneyPrice], v)
		case "amount":
			set(&money[rules.MoneyAmount], v)
		case "currency":
			set(&currency, v)
		}
	})
	ev.Score, ev.HasScore = number(score)
	for i, v := range money {
		f, ok := number(v)
		if !ok {
			if v != nil && inf(v) {
				return outOfRange(rules.MoneyProp(i).String(), v)
			}
			continue
		}
		if math.Abs(f) > rules.MaxAmount {
			return outOfRange(rules.MoneyProp(i).String(), v)
		}
		ev.SetAmount(rules.MoneyProp(i), f)
	}
	ev.Currency, _ = str(currency)
	return nil
}

// inf reports whether v is a number (or a decimal string) too large for a
// float64, which number does not count.
func inf(v *fastjson.Value) bool {
	var s string
	switch v.Type() {
	case fastjson.TypeNumber:
		b := v.MarshalTo(nil)
		s = string(b)
	case fastjson.TypeString:
		s, _ = str(v)
		s = strings.TrimSpace(s)
		if !isDecimal(s) {
			return false
		}
	default:
		return false
	}
	f, _ := strconv.ParseFloat(s, 64)
	return math.IsInf(f, 0)
}

// outOfRange is the error of an amount beyond ±rules.MaxAmount.
func outOfRange(name string, v *fastjson.Value) *Error {
	text := string(v.MarshalTo(nil))
	if len(text) > 40 {
		text = text[:40] + "..."
	}
	return &Error{ReasonAmountOutOfRange, name + " " + text + " is beyond the largest amount accepted (1e12); " +
		"lifetime value would overflow, and no single payment is that large"}
}

// present reports whether v is there and not null or "".
func present(v *fastjson.Value) bool {
	if v == nil {
		return false
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return false
	case fastjson.TypeString:
		s, _ := str(v)
		return s != ""
	}
	return true
}

// timeOf parses the timestamp field named name.
func timeOf(name string, v *fastjson.Value) (int64, *Error) {
	s, ok := str(v)
	if !ok {
		return 0, &Error{ReasonBadTimestamp, name + " is a JSON " + v.Type().String() + ", not an RFC 3339 string"}
	}
	ms, ok := parseTime(s)
	if !ok {
		return 0, &Error{ReasonBadTimestamp, name + " " + quote(s) + " is not an RFC 3339 timestamp"}
	}
	return ms, nil
}

// quote quotes s for an error message, cut to a length fit for a Kafka header.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

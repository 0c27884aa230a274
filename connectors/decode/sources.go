package decode

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// The sources other than Segment and CloudEvents, each detected by its own
// shape. Their names are Event.Type of what they decode (Snowplow's excepted:
// its events are pages and tracks) and the keys of Options.CustomerPaths.
const (
	SourceStripe    = "stripe"
	SourceZendesk   = "zendesk"
	SourceIntercom  = "intercom"
	SourceDelighted = "delighted"
	SourceTypeform  = "typeform"
	SourceSnowplow  = "snowplow"
)

// Indexes of the sources in a Decoder's per-source arrays.
const (
	srcStripe = iota
	srcZendesk
	srcIntercom
	srcDelighted
	srcTypeform
	srcSnowplow
	numSources
)

// Sources returns the names of the sources with configurable customer
// paths, in detection order.
func Sources() []string {
	return []string{SourceStripe, SourceZendesk, SourceIntercom, SourceDelighted, SourceTypeform, SourceSnowplow}
}

// sourceIndex returns the index of a source name, or -1.
func sourceIndex(name string) int {
	for i, s := range Sources() {
		if s == name {
			return i
		}
	}
	return -1
}

// DefaultCustomerPaths returns the customer paths of a source when
// Options.CustomerPaths does not name them (nil for an unknown source):
//
//	stripe     data.object.customer (a subscription's, an invoice's or a
//	           charge's customer, or an expanded customer's id); for an
//	           event about a customer object itself, data.object.id
//	zendesk    detail.requester_id
//	intercom   data.item.contacts.contacts.0.external_id, ...contacts.0.id
//	           (API 2.x), data.item.user.user_id, data.item.user.id (1.x)
//	delighted  event_data.person_properties.customer_id,
//	           event_data.person.id, event_data.person.email
//	typeform   form_response.hidden.user_id, form_response.hidden.customer_id
//	snowplow   user_id, domain_userid, network_userid
func DefaultCustomerPaths(source string) []string {
	switch source {
	case SourceStripe:
		return []string{"data.object.customer"}
	case SourceZendesk:
		return []string{"detail.requester_id"}
	case SourceIntercom:
		return []string{"data.item.contacts.contacts.0.external_id", "data.item.contacts.contacts.0.id",
			"data.item.user.user_id", "data.item.user.id"}
	case SourceDelighted:
		return []string{"event_data.person_properties.customer_id", "event_data.person.id", "event_data.person.email"}
	case SourceTypeform:
		return []string{"form_response.hidden.user_id", "form_response.hidden.customer_id"}
	case SourceSnowplow:
		return []string{"user_id", "domain_userid", "network_userid"}
	}
	return nil
}

const zendeskPrefix = "zen:event-type:"

// detect returns the source whose shape the top-level members have, or -1.
func detect(t *top) int {
	if s, ok := str(t.object); ok && s == "event" {
		return srcStripe
	}
	if s, ok := str(t.typ); ok {
		if strings.HasPrefix(s, zendeskPrefix) {
			return srcZendesk
		}
		if s == "notification_event" {
			return srcIntercom
		}
	}
	if s, ok := str(t.eventType); ok {
		if strings.HasPrefix(s, "form_response") {
			return srcTypeform
		}
		if strings.HasPrefix(s, "survey_response.") {
			return srcDelighted
		}
	}
	if t.collectorTS != nil {
		return srcSnowplow
	}
	return -1
}

// source fills ev from a record of the given source.
func (d *Decoder) source(src int, root *fastjson.Value, ev *engine.Event) *Error {
	switch src {
	case srcStripe:
		return d.stripe(root, ev)
	case srcZendesk:
		return d.zendesk(root, ev)
	case srcIntercom:
		return d.intercom(root, ev)
	case srcDelighted:
		return d.delighted(root, ev)
	case srcTypeform:
		return d.typeform(root, ev)
	}
	return d.snowplow(root, ev)
}

// customer returns the first customer id the source's paths find, checked
// for UTF-8, or "".
func (d *Decoder) customer(src int, root *fastjson.Value) (string, *Error) {
	for i, p := range d.paths[src] {
		v := root.Get(p...)
		if v != nil && v.Type() == fastjson.TypeObject {
			v = v.Get("id") // an expanded object stands for its id
		}
		if id := d.idText(v); id != "" {
			if err := validID(d.pathNames[src][i], id, true); err != nil {
				return "", err
			}
			return id, nil
		}
	}
	return "", nil
}

// ids sets ev.ID to prefix + the id at id (none: "") and ev.CustomerID to
// the first id found at src's customer paths (none: "").
func (d *Decoder) ids(ev *engine.Event, src int, prefix, idField string, id, root *fastjson.Value) *Error {
	var err *Error
	if ev.ID, err = d.prefixedID(prefix, idField, id); err != nil {
		return err
	}
	ev.CustomerID, err = d.customer(src, root)
	return err
}

// prefixedID returns prefix + the id at v (Event.ID), or "" when v holds
// none.
func (d *Decoder) prefixedID(prefix, field string, v *fastjson.Value) (string, *Error) {
	id, err := d.id(field, v)
	if err != nil || id == "" {
		return "", err
	}
	return d.keep(prefix, id), nil
}

// label returns s for an error message: as it is when it is a short plain
// token (an event type such as invoice.paid), quoted otherwise.
func label(s string) string {
	if s == "" || len(s) > 64 {
		return quote(s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':') {
			return quote(s)
		}
	}
	return s
}

// maxUnixSeconds is 10000-01-01T00:00:00Z: Unix seconds beyond it are no
// date RFC 3339 can write.
const maxUnixSeconds = 253402300800

// unixTime reads a time given as Unix seconds (a JSON number).
func unixTime(name string, v *fastjson.Value) (int64, *Error) {
	if v.Type() != fastjson.TypeNumber {
		return 0, &Error{ReasonBadTimestamp, name + " is a JSON " + v.Type().String() + ", not Unix seconds"}
	}
	f, err := v.Float64()
	if err != nil || math.IsNaN(f) || f <= 0 || f >= maxUnixSeconds {
		return 0, &Error{ReasonBadTimestamp, name + " " + quote(string(v.MarshalTo(nil))) + " is not Unix seconds between 1970 and 9999"}
	}
	return int64(math.Round(f * 1000)), nil
}

// stripe fills ev from a Stripe event: {"object":"event", "id", "type",
// "created", "data":{"object":{...}}}.
func (d *Decoder) stripe(root *fastjson.Value, ev *engine.Event) *Error {
	ev.Type = SourceStripe
	typ, _ := str(root.Get("type"))
	if typ == "" {
		return &Error{ReasonUnknownFormat, "stripe event (\"object\":\"event\") has no type"}
	}
	ev.Name = typ
	obj := root.Get("data", "object")
	if obj == nil || obj.Type() != fastjson.TypeObject {
		return &Error{ReasonUnknownFormat, "stripe event " + label(typ) + " has no data.object"}
	}
	err := d.ids(ev, srcStripe, "stripe/", "stripe id", root.Get("id"), root)
	if err != nil {
		return err
	}
	kind, _ := str(obj.Get("object"))
	if ev.CustomerID == "" && kind == "customer" {
		if ev.CustomerID, err = d.id("stripe data.object.id", obj.Get("id")); err != nil {
			return err
		}
	}
	if ev.CustomerID == "" {
		return &Error{ReasonNoCustomerID, "stripe event " + label(typ) + " without " + d.pathText[srcStripe]}
	}
	created := root.Get("created")
	if !present(created) {
		return &Error{ReasonNoTimestamp, "stripe event " + label(typ) + " has no created"}
	}
	if ev.Time, err = unixTime("stripe created", created); err != nil {
		return err
	}
	return stripeAmount(typ, kind, obj, ev)
}

// stripeAmount sets the money a Stripe event carries as its amount
// (rules.MoneyAmount), in major units (always positive: the rule pack's
// refund category subtracts a refund), and its currency:
//
//	invoice          amount_due for invoice.payment_failed (the money at
//	                 stake), amount_paid otherwise
//	charge           amount_refunded for charge.refunded, amount otherwise
//	refund           amount
//	payment_intent   amount for payment_intent.payment_failed,
//	                 amount_received otherwise
//	checkout.session amount_total
//
// Other objects (subscriptions, customers) carry none.
func stripeAmount(typ, kind string, obj *fastjson.Value, ev *engine.Event) *Error {
	var field string
	switch kind {
	case "invoice":
		field = "amount_paid"
		if typ == "invoice.payment_failed" {
			field = "amount_due"
		}
	case "charge":
		field = "amount"
		if typ == "charge.refunded" {
			field = "amount_refunded"
		}
	case "refund":
		field = "amount"
	case "payment_intent":
		field = "amount_received"
		if typ == "payment_intent.payment_failed" {
			field = "amount"
		}
	case "checkout.session":
		field = "amount_total"
	default:
		return nil
	}
	v := obj.Get(field)
	n, ok := number(v)
	if !ok {
		if v != nil && inf(v) {
			return outOfRange("stripe data.object."+field, v)
		}
		return nil
	}
	cur, _ := str(obj.Get("currency"))
	n /= minorUnits(cur)
	if math.Abs(n) > rules.MaxAmount {
		return outOfRange("stripe data.object."+field, v)
	}
	ev.SetAmount(rules.MoneyAmount, n)
	ev.Currency = cur
	return nil
}

// minorUnits returns how many minor units make one unit of a currency in
// Stripe's amounts (https://docs.stripe.com/currencies): 1 for the
// zero-decimal currencies, 1000 for the three-decimal ones, 100 for the
// rest (an unknown or missing currency included).
func minorUnits(currency string) float64 {
	if len(currency) != 3 {
		return 100
	}
	var c [3]byte
	for i := range c {
		c[i] = currency[i] | 0x20 // ASCII lowercase
	}
	switch string(c[:]) {
	case "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf":
		return 1
	case "bhd", "jod", "kwd", "omr", "tnd":
		return 1000
	}
	return 100
}

// zendesk fills ev from a Zendesk event-subscription webhook:
// {"type":"zen:event-type:ticket.created", "id", "time", "detail":{...},
// "event":{...}}.
func (d *Decoder) zendesk(root *fastjson.Value, ev *engine.Event) *Error {
	ev.Type = SourceZendesk
	typ, _ := str(root.Get("type"))
	name := typ[len(zendeskPrefix):]
	if name == "" {
		return &Error{ReasonUnknownFormat, "zendesk event type " + quote(typ) + " names no event"}
	}
	ev.Name = name
	if name == "ticket.status_changed" {
		// The new status: event.current, a string ("SOLVED") or an
		// object with a status.
		cur := root.Get("event", "current")
		if cur != nil && cur.Type() == fastjson.TypeObject {
			cur = cur.Get("status")
		}
		if s, ok := str(cur); ok && s != "" {
			ev.Name = d.keepLower("ticket.status_changed.", s)
		}
	}
	err := d.ids(ev, srcZendesk, "zendesk/", "zendesk id", root.Get("id"), root)
	if err != nil {
		return err
	}
	if ev.CustomerID == "" {
		return &Error{ReasonNoCustomerID, "zendesk event " + label(name) + " without " + d.pathText[srcZendesk]}
	}
	tm := root.Get("time")
	if !present(tm) {
		return &Error{ReasonNoTimestamp, "zendesk event " + label(name) + " has no time"}
	}
	ev.Time, err = timeOf("zendesk time", tm)
	return err
}

// keepLower is keep(prefix, s) with s in ASCII lowercase.
func (d *Decoder) keepLower(prefix, s string) string {
	start := len(d.buf)
	d.buf = append(d.buf, prefix...)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d.buf = append(d.buf, c)
	}
	return b2s(d.buf[start:])
}

// intercom fills ev from an Intercom webhook notification:
// {"type":"notification_event", "id", "topic", "created_at",
// "data":{"item":{...}}}.
func (d *Decoder) intercom(root *fastjson.Value, ev *engine.Event) *Error {
	ev.Type = SourceIntercom
	topic, _ := str(root.Get("topic"))
	if topic == "" {
		return &Error{ReasonUnknownFormat, "intercom notification_event has no topic"}
	}
	ev.Name = topic
	err := d.ids(ev, srcIntercom, "intercom/", "intercom id", root.Get("id"), root)
	if err != nil {
		return err
	}
	if ev.CustomerID == "" {
		return &Error{ReasonNoCustomerID, "intercom notification " + label(topic) + " without " + d.pathText[srcIntercom]}
	}
	created := root.Get("created_at")
	if !present(created) {
		return &Error{ReasonNoTimestamp, "intercom notification " + label(topic) + " has no created_at"}
	}
	ev.Time, err = unixTime("intercom created_at", created)
	return err
}

// delighted fills ev from a Delighted webhook: {"event_type":
// "survey_response.created", "event_id", "event_data":{"score", "person",
// "person_properties", "created_at", "updated_at", ...}}.
func (d *Decoder) delighted(root *fastjson.Value, ev *engine.Event) *Error {
	ev.Type = SourceDelighted
	ev.Name, _ = str(root.Get("event_type"))
	data := root.Get("event_data")
	if data == nil || data.Type() != fastjson.TypeObject {
		return &Error{ReasonUnknownFormat, "delighted event " + label(ev.Name) + " has no event_data object"}
	}
	err := d.ids(ev, srcDelighted, "delighted/", "delighted event_id", root.Get("event_id"), root)
	if err != nil {
		return err
	}
	if ev.CustomerID == "" {
		return &Error{ReasonNoCustomerID, "delighted event " + label(ev.Name) + " without " + d.pathText[srcDelighted]}
	}
	// An update is dated when it was made; a new response when created.
	field, tm := "delighted event_data.created_at", data.Get("created_at")
	if ev.Name == "survey_response.updated" && present(data.Get("updated_at")) {
		field, tm = "delighted event_data.updated_at", data.Get("updated_at")
	}
	if !present(tm) {
		return &Error{ReasonNoTimestamp, "delighted event " + label(ev.Name) + " has no event_data.created_at"}
	}
	if ev.Time, err = unixTime(field, tm); err != nil {
		return err
	}
	ev.Score, ev.HasScore = number(data.Get("score"))
	return nil
}

// typeform fills ev from a Typeform webhook: {"event_id",
// "event_type":"form_response", "form_response":{"submitted_at", "hidden",
// "answers":[...]}}.
func (d *Decoder) typeform(root *fastjson.Value, ev *engine.Event) *Error {
	ev.Type = SourceTypeform
	ev.Name, _ = str(root.Get("event_type"))
	resp := root.Get("form_response")
	if resp == nil || resp.Type() != fastjson.TypeObject {
		return &Error{ReasonUnknownFormat, "typeform " + label(ev.Name) + " has no form_response object"}
	}
	err := d.ids(ev, srcTypeform, "typeform/", "typeform event_id", root.Get("event_id"), root)
	if err != nil {
		return err
	}
	if ev.CustomerID == "" {
		return &Error{ReasonNoCustomerID, "typeform " + label(ev.Name) + " without " + d.pathText[srcTypeform]}
	}
	tm := resp.Get("submitted_at")
	if !present(tm) {
		return &Error{ReasonNoTimestamp, "typeform " + label(ev.Name) + " has no form_response.submitted_at"}
	}
	if ev.Time, err = timeOf("typeform form_response.submitted_at", tm); err != nil {
		return err
	}
	// The score: the first NPS answer, else the first opinion scale.
	var answers []*fastjson.Value
	if a := resp.Get("answers"); a != nil && a.Type() == fastjson.TypeArray {
		answers, _ = a.Array()
	}
	var scale *fastjson.Value
	for _, a := range answers {
		switch t, _ := str(a.Get("field", "type")); t {
		case "nps":
			ev.Score, ev.HasScore = number(a.Get("number"))
			return nil
		case "opinion_scale":
			if scale == nil {
				scale = a.Get("number")
			}
		}
	}
	ev.Score, ev.HasScore = number(scale)
	return nil
}

// snowplow fills ev from a Snowplow enriched event in the JSON form of its
// analytics SDKs: {"event":"page_view", "event_id", "event_name",
// "user_id", "derived_tstamp", "collector_tstamp", "se_action", ...}.
func (d *Decoder) snowplow(root *fastjson.Value, ev *engine.Event) *Error {
	kind, _ := str(root.Get("event"))
	switch kind {
	case "page_view":
		ev.Type = "page"
	case "page_ping":
		ev.Type = "page_ping"
	case "struct":
		ev.Type = "track"
		ev.Name, _ = str(root.Get("se_action"))
	default: // unstruct (self-describing), transaction, ...
		ev.Type = "track"
		ev.Name, _ = str(root.Get("event_name"))
		if ev.Name == "" {
			ev.Name = schemaName(root.Get("unstruct_event", "data", "schema"))
		}
		if ev.Name == "" && kind != "unstruct" {
			ev.Name = kind
		}
	}
	if ev.Type == "track" && ev.Name == "" {
		if kind == "struct" {
			return &Error{ReasonUnknownFormat, "snowplow struct event without se_action"}
		}
		return &Error{ReasonUnknownFormat, "snowplow event " + quote(kind) + " without event_name or unstruct_event schema"}
	}
	err := d.ids(ev, srcSnowplow, "snowplow/", "snowplow event_id", root.Get("event_id"), root)
	if err != nil {
		return err
	}
	if ev.CustomerID == "" {
		return &Error{ReasonNoCustomerID, "snowplow " + label(kind) + " event without " + d.pathText[srcSnowplow]}
	}
	for _, f := range [...]string{"derived_tstamp", "dvce_created_tstamp", "collector_tstamp"} {
		// As with Segment, the first present decides.
		v := root.Get(f)
		if !present(v) {
			continue
		}
		s, ok := str(v)
		if !ok {
			return &Error{ReasonBadTimestamp, "snowplow " + f + " is a JSON " + v.Type().String() + ", not a timestamp"}
		}
		if ev.Time, ok = parseSnowplowTime(s); !ok {
			return &Error{ReasonBadTimestamp, "snowplow " + f + " " + quote(s) + " is neither RFC 3339 nor 2006-01-02 15:04:05.000 (UTC)"}
		}
		return nil
	}
	return &Error{ReasonNoTimestamp, "snowplow " + label(kind) + " event has no derived_tstamp, dvce_created_tstamp or collector_tstamp"}
}

// schemaName returns the name in an Iglu schema URI
// ("iglu:com.acme/link_click/jsonschema/1-0-0" gives "link_click"), or "".
func schemaName(v *fastjson.Value) string {
	s, _ := str(v)
	s, ok := strings.CutPrefix(s, "iglu:")
	if !ok {
		return ""
	}
	_, rest, ok := strings.Cut(s, "/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// Positions of the fields Lifeline reads in a Snowplow enriched event's TSV
// form: 131 tab-separated fields, in the order of the analytics SDKs'
// field list (https://docs.snowplow.io/docs/fundamentals/canonical-event/).
const (
	tsvFields          = 131
	tsvCollectorTstamp = 3
	tsvDvceCreated     = 4
	tsvEvent           = 5
	tsvEventID         = 6
	tsvUserID          = 12
	tsvUserIPAddress   = 13
	tsvUserFingerprint = 14
	tsvDomainUserID    = 15
	tsvNetworkUserID   = 17
	tsvSeAction        = 54
	tsvDomainSessionID = 123
	tsvDerivedTstamp   = 124
	tsvEventName       = 126
)

// tsvField returns the TSV position of a top-level field a customer path
// may name, or -1.
func tsvField(name string) int {
	switch name {
	case "user_id":
		return tsvUserID
	case "user_ipaddress":
		return tsvUserIPAddress
	case "user_fingerprint":
		return tsvUserFingerprint
	case "domain_userid":
		return tsvDomainUserID
	case "network_userid":
		return tsvNetworkUserID
	case "domain_sessionid":
		return tsvDomainSessionID
	}
	return -1
}

// isTSV reports whether value looks like a Snowplow enriched event in TSV
// form: not a JSON object or array, and holding tabs.
func isTSV(value []byte) bool {
	i := 0
	for i < len(value) && (value[i] == ' ' || value[i] == '\n' || value[i] == '\r') {
		i++
	}
	if i < len(value) && (value[i] == '{' || value[i] == '[' || value[i] == '"') {
		return false
	}
	return bytes.IndexByte(value[i:], '\t') >= 0
}

// snowplowTSV fills ev from a Snowplow enriched event in its TSV form, as
// snowplow does from the JSON form. Configured Snowplow customer paths
// that name one of user_id, domain_userid, network_userid,
// user_fingerprint, user_ipaddress or domain_sessionid apply; others find
// nothing in a TSV.
func (d *Decoder) snowplowTSV(value []byte, ev *engine.Event) *Error {
	var f [tsvFields]string
	n := 0
	for start, i := 0, 0; i <= len(value); i++ {
		if i < len(value) && value[i] != '\t' {
			continue
		}
		if n < tsvFields {
			f[n] = b2s(value[start:i])
		}
		n, start = n+1, i+1
	}
	if n != tsvFields {
		return &Error{ReasonUnknownFormat, "tab-separated record has " + itoa(n) + " fields, not a Snowplow enriched event's " + itoa(tsvFields)}
	}
	kind := f[tsvEvent]
	switch kind {
	case "page_view":
		ev.Type = "page"
	case "page_ping":
		ev.Type = "page_ping"
	case "struct":
		ev.Type, ev.Name = "track", f[tsvSeAction]
	default:
		ev.Type, ev.Name = "track", f[tsvEventName]
		if ev.Name == "" && kind != "unstruct" {
			ev.Name = kind
		}
	}
	if ev.Type == "track" && ev.Name == "" {
		if kind == "struct" {
			return &Error{ReasonUnknownFormat, "snowplow struct event without se_action"}
		}
		return &Error{ReasonUnknownFormat, "snowplow event " + quote(kind) + " without event_name"}
	}
	if id := f[tsvEventID]; id != "" {
		if err := validID("snowplow event_id", id, false); err != nil {
			return err
		}
		ev.ID = d.keep("snowplow/", id)
	}
	for i, p := range d.paths[srcSnowplow] {
		at := -1
		if len(p) == 1 {
			at = tsvField(p[0])
		}
		if at < 0 || f[at] == "" {
			continue
		}
		if err := validID(d.pathNames[srcSnowplow][i], f[at], false); err != nil {
			return err
		}
		ev.CustomerID = f[at]
		break
	}
	if ev.CustomerID == "" {
		return &Error{ReasonNoCustomerID, "snowplow " + label(kind) + " event without " + d.pathText[srcSnowplow]}
	}
	for _, t := range [...]struct {
		name string
		at   int
	}{{"derived_tstamp", tsvDerivedTstamp}, {"dvce_created_tstamp", tsvDvceCreated}, {"collector_tstamp", tsvCollectorTstamp}} {
		s := f[t.at]
		if s == "" {
			continue
		}
		ms, ok := parseSnowplowTime(s)
		if !ok {
			return &Error{ReasonBadTimestamp, "snowplow " + t.name + " " + quote(s) + " is neither RFC 3339 nor 2006-01-02 15:04:05.000 (UTC)"}
		}
		ev.Time = ms
		return nil
	}
	return &Error{ReasonNoTimestamp, "snowplow " + label(kind) + " event has no derived_tstamp, dvce_created_tstamp or collector_tstamp"}
}

// itoa is strconv.Itoa, for error messages.
func itoa(n int) string { return strconv.Itoa(n) }

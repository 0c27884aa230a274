package decode

import (
	"strings"

	"github.com/valyala/fastjson"

	"github.com/lifeline-hq/lifeline/engine"
)

// segment fills ev from a Segment Spec message (also RudderStack's shape).
// Checks run in a fixed order, so a message with several faults always
// reports the same Reason: type, then customer id, then timestamp.
func (d *Decoder) segment(t *top, recordTime int64, ev *engine.Event) *Error {
	// Type: "type", else the old Spec's "action"; a message with neither but
	// with an event name is a track call.
	field, tv := "type", t.typ
	if !present(tv) {
		field, tv = "action", t.action
	}
	var typ string
	switch {
	case present(tv):
		s, ok := str(tv)
		if !ok {
			return &Error{ReasonUnknownFormat, "segment " + field + " is a JSON " + tv.Type().String() + ", not a string"}
		}
		if typ, ok = segmentType(s); !ok {
			return &Error{ReasonUnknownFormat, "segment " + field + " " + quote(s) + " is not identify, track, page, screen, group or alias"}
		}
	case present(t.event):
		typ = "track"
	default:
		return &Error{ReasonUnknownFormat, "segment message has neither type nor action"}
	}
	ev.Type = typ
	if typ == "track" {
		ev.Name, _ = str(t.event)
	}

	odd := "" // an id field given as something that is no id
	for _, f := range [...]struct {
		name string
		v    *fastjson.Value
	}{{"segment userId", t.userID}, {"segment user_id", t.userIDSnake},
		{"segment anonymousId", t.anonID}, {"segment anonymous_id", t.anonIDSnake}} {
		var err *Error
		if ev.CustomerID, err = d.id(f.name, f.v); err != nil {
			return err
		}
		if ev.CustomerID == "" && odd == "" && present(f.v) {
			if t := f.v.Type(); t != fastjson.TypeString && t != fastjson.TypeNumber {
				odd = f.name + " is a JSON " + t.String() + ", not a string or a number"
			}
		}
		if ev.CustomerID != "" {
			break
		}
	}
	if ev.CustomerID == "" {
		if odd != "" { // say why the one given did not count
			return &Error{ReasonNoCustomerID, "segment " + typ + " has neither userId nor anonymousId: " + odd}
		}
		return &Error{ReasonNoCustomerID, "segment " + typ + " has neither userId nor anonymousId"}
	}

	tsFields := [...]struct {
		name, fallback string
		v              *fastjson.Value
	}{
		{"timestamp", "", t.timestamp},
		{"originalTimestamp", FallbackOriginalTimestamp, t.origTS},
		{"original_timestamp", FallbackOriginalTimestamp, t.origTSSnake},
		{"sentAt", FallbackSentAt, t.sentAt},
		{"sent_at", FallbackSentAt, t.sentAtSnake},
		{"receivedAt", FallbackReceivedAt, t.receivedAt},
		{"received_at", FallbackReceivedAt, t.receivedAtSnake},
	}
	found := false
	for _, f := range tsFields {
		// The first field present decides: a broken timestamp is reported,
		// not silently replaced by a later, less exact fallback.
		if present(f.v) {
			ms, err := timeOf(f.name, f.v)
			if err != nil {
				return err
			}
			ev.Time, found, d.fallback = ms, true, f.fallback
			break
		}
	}
	if !found {
		if recordTime <= 0 {
			return &Error{ReasonNoTimestamp, "segment " + typ + " has no timestamp, originalTimestamp, sentAt or receivedAt (and no record time to fall back on)"}
		}
		ev.Time, ev.TimeFromRecord, d.fallback = recordTime, true, FallbackRecord
	}

	var err *Error
	if ev.ID, err = d.id("segment messageId", t.messageID); err == nil && ev.ID == "" {
		ev.ID, err = d.id("segment message_id", t.messageIDSnake)
	}
	if err != nil {
		return err
	}
	if typ == "group" {
		if ev.Account, err = d.id("segment groupId", t.groupID); err == nil && ev.Account == "" {
			ev.Account, err = d.id("segment group_id", t.groupIDSnake)
		}
	}
	if err == nil && ev.Account == "" && t.context != nil && t.context.Type() == fastjson.TypeObject {
		if ev.Account, err = d.id("segment context.groupId", t.context.Get("groupId")); err == nil && ev.Account == "" {
			ev.Account, err = d.id("segment context.group_id", t.context.Get("group_id"))
		}
	}
	if err != nil {
		return err
	}
	if tr := segmentTraits(t); tr != nil {
		d.traits = tr.MarshalTo(d.traits[:0])
		ev.Traits = b2s(d.traits)
	}
	return amounts(t.properties, ev)
}

// segmentTraits returns the message's traits object: an identify or group
// call's traits (a group's are its account's), else the context.traits
// Segment's libraries add to every call of an identified user. nil when
// there is none, or it is empty or no object: most track calls cost
// nothing.
func segmentTraits(t *top) *fastjson.Value {
	if t.traits != nil {
		if o, err := t.traits.Object(); err == nil && o.Len() > 0 {
			return t.traits
		}
	}
	if t.context == nil {
		return nil
	}
	if v := t.context.Get("traits"); v != nil {
		if o, err := v.Object(); err == nil && o.Len() > 0 {
			return v
		}
	}
	return nil
}

// segmentType returns the Spec's lowercase name for a call type given in any
// case ("Track", "TRACK"), as a constant, so Event.Type never aliases input.
func segmentType(s string) (string, bool) {
	for _, name := range [...]string{"track", "page", "identify", "screen", "group", "alias"} {
		if strings.EqualFold(s, name) {
			return name, true
		}
	}
	return "", false
}

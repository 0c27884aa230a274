package engine

import "github.com/lifeline-hq/lifeline/rules"

// Event is one decoded customer touchpoint, the engine's only input.
//
// Decoders (connectors/decode) fill it from Segment or CloudEvents records.
// Its strings may alias the decoder's buffers: they are valid only until the
// decoder's next call, and the engine copies whatever it keeps beyond
// Apply.
type Event struct {
	// ID is the dedupe key: Segment messageId, or CloudEvents source+"/"+id
	// (with "/" and "%" in id percent-encoded, so that the key is unambiguous).
	// Empty when the source gave none; such events are never deduplicated.
	ID string
	// CustomerID identifies the customer: Segment userId, else anonymousId;
	// CloudEvents subject, else a configured data field. Never empty.
	CustomerID string
	// Account is the account (B2B group) the customer belongs to, if known:
	// Segment context.groupId or a group call's groupId.
	Account string
	// Type is the Segment call type (track, identify, page, screen, group,
	// alias) or "cloudevent" for CloudEvents.
	Type string
	// Name is the touchpoint's name: the Segment track event name, or the
	// CloudEvents type. Empty for page, screen, identify, group and alias
	// calls, which the rule pack classifies by Type.
	Name string
	// Time is the event's timestamp in Unix milliseconds: its own, or,
	// for an event without any (TimeFromRecord), its Kafka record's.
	Time int64
	// TimeFromRecord: Time is the record's timestamp, the producer's
	// clock rather than the event's. The engine never lets such a time
	// pass the newest event time its partition has applied: in a backfill
	// of old events produced today it would move the watermark to today
	// and fire every due timer at once.
	TimeFromRecord bool
	// Score is properties.score (an NPS answer, 0-10); HasScore tells
	// whether the record carried one.
	Score    float64
	HasScore bool
	// Amounts are the money amounts the event carries, indexed by
	// rules.MoneyProp (properties.revenue, total, value, price, amount;
	// Stripe's amount of its object as amount), each in major units and
	// within ±rules.MaxAmount; AmountsSet has bit 1<<prop set for each one
	// present. The rule pack's money.value picks which one is the event's
	// value (SetAmount sets one).
	Amounts    [rules.NumMoneyProps]float64
	AmountsSet uint8
	// Currency is the ISO 4217 code the amounts are in, as the source gave
	// it (properties.currency, CloudEvents data.currency, Stripe's
	// currency, in any case); "" when none, which the engine takes to be
	// the pack's currency.
	Currency string
	// Traits is the JSON text of the event's traits object, nil when it
	// carries none: a Segment identify or group call's traits, else the
	// context.traits of any call. It aliases the decoder's buffer (valid
	// until its next call); the engine reads from it only the traits the
	// rule pack declares, and only when it declares any.
	Traits string
}

// SetAmount records amount as the event's amount of property prop.
func (e *Event) SetAmount(prop rules.MoneyProp, amount float64) {
	e.Amounts[prop] = amount
	e.AmountsSet |= 1 << prop
}

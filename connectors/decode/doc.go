// Package decode turns one Kafka record (value and headers) into an
// engine.Event. It is the only place that knows the input formats Lifeline
// accepts: Segment Spec JSON (also what RudderStack's Kafka destination
// writes), CloudEvents 1.0 (structured JSON or Kafka binary mode), Stripe
// events, Zendesk event-subscription webhooks, Intercom webhook
// notifications, Delighted and Typeform webhooks, and Snowplow enriched
// events in their analytics SDKs' JSON form or their 131-field TSV. The format is detected per
// record, each by its own shape (see DecodeAt), so one topic may mix them.
//
// What a caller may rely on:
//
//   - Decode either fills the Event, with a non-empty CustomerID and a non-zero
//     Time (the event's own timestamp; the record time given to DecodeAt only
//     for a Segment message or CloudEvent without any), or returns
//     an *Error whose Reason is one of the Reason constants, fit for a metric
//     label and a dead-letter header. It never panics, whatever the bytes.
//   - The result depends only on the record and the Options: decoding the same
//     record twice gives the same Event or the same Error.
//   - A Decoder is reused from record to record and allocates nothing for a
//     record that decodes (errors allocate their message); in exchange the
//     Event's strings may alias the record value and the Decoder's buffers
//     and are valid only until its next Decode call. Copy what must outlive
//     it. A Decoder is not safe for concurrent use: give each partition
//     goroutine its own.
//
// Only the fields the engine uses are read (ids, type, event name, time,
// account, score, revenue); the rest of properties, traits and context is
// ignored. The whole value must still be valid JSON (RFC 8259), nested no
// deeper than 300 levels, and bounded so that one record cannot cost a
// partition much time or memory: at most Options.MaxBytes (1 MiB) and
// MaxValues (10,000 array elements and object members), checked in one flat
// pass before anything is parsed (too_large, too_complex). A Decoder lets go
// of a parser that grew for a record beyond 64 KiB or 1,024 values.
//
// Ids (customer, message, account, CloudEvents subject, id and source) must
// be valid UTF-8 without lone surrogate escapes (invalid_utf8): otherwise
// distinct ids would print alike.
//
// Segment fields, each list in the order tried:
//
//	Type        type, else action, lowercased (identify|track|page|screen|group|alias);
//	            track when both are missing but event is present
//	Name        event, for track calls only
//	CustomerID  userId, user_id, anonymousId, anonymous_id
//	Time        timestamp, originalTimestamp, original_timestamp, sentAt, sent_at,
//	            receivedAt, received_at
//	ID          messageId, message_id
//	Account     groupId, group_id (group calls only), context.groupId, context.group_id
//	Score       properties.score
//	Amounts     properties.revenue, .total, .value, .price, .amount (each
//	            present one; the rule pack's money.value picks the value)
//	Currency    properties.currency
//
// CloudEvents attributes (structured JSON / binary-mode headers):
//
//	Type        "cloudevent"
//	Name        type / ce_type
//	CustomerID  subject / ce_subject, else Options.CustomerField of data
//	Time        time / ce_time (required)
//	ID          source + "/" + id (ce_source, ce_id), "/" and "%" in id
//	            percent-encoded so that the key names one (source, id) pair
//	Score       data.score
//	Amounts     data.revenue, .total, .value, .price, .amount
//	Currency    data.currency
//
// specversion must be "1.0". In binary mode the value is the data, parsed as
// JSON unless a content-type header names another type.
//
// The other sources (sources.go has each one's fields): Type is the source's
// name ("stripe", "zendesk", "intercom", "delighted", "typeform"; Snowplow's
// events are "page", "page_ping" and "track"), Name its own event name
// (Stripe's type, Zendesk's type without its prefix, Intercom's topic, ...),
// ID the source's name, "/" and its event id, and CustomerID the first of
// Options.CustomerPaths (DefaultCustomerPaths) found. Their times are their
// own (Unix seconds or RFC 3339); Stripe amounts are converted from minor
// units with the currency, and are the event's amount (rules.MoneyAmount).
// An amount beyond ±rules.MaxAmount (1e12), or too large for a float64, is
// rejected as amount_out_of_range.
//
// Ids given as JSON numbers become their decimal text; null and "" count as
// missing. Amounts may be numbers or strings holding decimal numbers.
// Timestamps must be RFC 3339 strings as time.Parse(time.RFC3339) reads them
// strictly ("2015-12-12T19:11:01.249Z", "2015-12-12T20:11:01+01:00"); the
// first timestamp field present decides, and if it is unreadable the record
// is rejected rather than dated by a later, less exact fallback.
package decode

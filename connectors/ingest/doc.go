// Package ingest is Lifeline's HTTP ingest listener: for tools that deliver
// by webhook rather than Kafka (billing, support desks, surveys) and for
// Segment's HTTP Tracking API. It checks each request's credential, finds
// each record's customer with the same decoder the engine uses, produces
// the records to the input topic keyed by customer (Kafka's murmur2
// partitioner, as the Java client, so that a customer's events stay in one
// partition with their state), and answers only once the broker has
// acknowledged them.
//
// Paths (each off, 404, unless its credential is configured):
//
//	POST /v1/track /v1/identify /v1/group /v1/alias /v1/page /v1/screen /v1/batch
//	     Segment's HTTP Tracking API: HTTP Basic auth, a write key as the user.
//	POST /v1/webhooks/stripe       Stripe-Signature (t=..., v1=HMAC-SHA256 of "t.body")
//	POST /v1/webhooks/zendesk      X-Zendesk-Webhook-Signature (base64 HMAC-SHA256 of timestamp+body)
//	POST /v1/webhooks/intercom     X-Hub-Signature (sha1=hex HMAC-SHA1 of body)
//	POST /v1/webhooks/delighted    X-Delighted-Webhook-Signature (sha256=hex HMAC-SHA256 of body)
//	POST /v1/webhooks/typeform     Typeform-Signature (sha256=base64 HMAC-SHA256 of body)
//	POST /v1/webhooks/cloudevents  Authorization: Bearer <secret>; structured or binary mode
//
// What a caller may rely on:
//
//   - 200 means every record of the request was acknowledged by the broker
//     (acks=all, idempotent producer). A batch is all or nothing from the
//     caller's view: a request is checked whole before anything is produced
//     (one bad message rejects the batch, 400), and if producing fails for
//     any record the answer is 5xx, so the sender retries. Some records of a
//     failed request may already be on the topic; the engine drops the
//     redelivered ones by their dedupe key (Segment messageId, Stripe,
//     Zendesk, Intercom, Delighted and Typeform event ids, CloudEvents
//     source and id).
//   - A credential is checked before the body is decoded: a bad signature is
//     401 whatever the body holds. Comparisons are constant-time.
//   - Errors are JSON, {"error": "...", "reason": "..."}: reason is a
//     decode.Reason when the decoder rejected a record, else one of the
//     short words listed with each status in README.md ("HTTP ingest").
//   - Records are checked with the engine's own decoder options
//     (config.DecodeOptions): what is acknowledged here is what the engine
//     applies, keyed alike. A webhook path takes only its tool's records
//     (400 wrong_source otherwise).
//   - Webhook bodies are produced as they came (a signature covers the
//     exact bytes). Segment messages are rewritten the way Segment's own API
//     does: receivedAt added, type set from the path, a batch's top-level
//     context and sentAt given to each message (see segment.go).
package ingest

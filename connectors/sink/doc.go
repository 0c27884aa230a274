// Package sink delivers alerts to people. A Sink reads the alerts topic in
// a consumer group of its own (<group>-sink-<name>, read_committed), keeps
// the alerts its filter selects, and POSTs each to a receiver: a generic
// webhook (the alert record as produced, signed with HMAC-SHA256) or a
// Slack incoming webhook (a readable message). With a digest period it
// sends one message per owner per period instead.
//
// Delivery is at-least-once. A record's offset is committed only once the
// receiver answered 2xx, or once the record is on the sink's dead-letter
// topic (refused with a 4xx other than 408 and 429, or out of attempts): a
// process killed at any instant re-reads from its last commit, and a
// receiver that deduplicates by the Idempotency-Key header
// (<alert_id>:<status>) sees each alert once. A partition's alerts are
// delivered in order, one at a time; up to Concurrency partitions at once.
//
// Retries back off exponentially with full jitter (a random wait up to
// min(retry.max, retry.base·2^(n-1))), and a 429 or 503 answer's
// Retry-After, in seconds or as an HTTP date, is waited instead.
//
// README.md ("Delivering alerts") is the user's guide: configuration,
// how a receiver verifies the signature, what a restart does to a digest.
package sink

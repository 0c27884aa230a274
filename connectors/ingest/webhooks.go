package ingest

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Intercom signs with HMAC-SHA1; HMAC does not rest on SHA-1's collision resistance
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/connectors/decode"
)

// Each check follows its tool's documented scheme, over the body's exact
// bytes, and compares in constant time. Errors say what was wrong with the
// header, never what was expected.

func mac(h func() hash.Hash, secret string, parts ...[]byte) []byte {
	m := hmac.New(h, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// verifyStripe checks a Stripe-Signature header as Stripe documents it
// ("Verify manually"): elements split at commas, each key=value; t is the
// Unix timestamp, every v1 a candidate signature (there are several while
// a secret is rolled), others (v0) ignored. The expected signature is the
// hex HMAC-SHA256 of "t.body" with the endpoint secret; then the timestamp
// may be no older than tolerance (0: not checked), as Stripe's libraries
// judge it.
func verifyStripe(header string, body []byte, secret string, tolerance time.Duration, now time.Time) error {
	if header == "" {
		return errors.New("no Stripe-Signature header")
	}
	var ts string
	var sigs []string
	for _, el := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(el), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			if ts == "" {
				ts = v
			}
		case "v1":
			sigs = append(sigs, v)
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("Stripe-Signature has no t=<unix seconds> element")
	}
	if len(sigs) == 0 {
		return errors.New("Stripe-Signature has no v1 signature")
	}
	want := hex.EncodeToString(mac(sha256.New, secret, []byte(ts), []byte{'.'}, body))
	match := 0
	for _, sg := range sigs {
		match |= subtle.ConstantTimeCompare([]byte(sg), []byte(want))
	}
	if match != 1 {
		return errors.New("no v1 signature in Stripe-Signature matches the body with ingest.http.webhooks.stripe.secret")
	}
	if tolerance > 0 && now.Sub(time.Unix(t, 0)) > tolerance {
		return fmt.Errorf("Stripe-Signature timestamp %d is older than the tolerance (%s): a replay, or a clock off", t, tolerance)
	}
	return nil
}

// verifyZendesk checks X-Zendesk-Webhook-Signature: base64 of the
// HMAC-SHA256 of the X-Zendesk-Webhook-Signature-Timestamp value followed
// directly by the body.
func verifyZendesk(sig, ts string, body []byte, secret string) error {
	if sig == "" || ts == "" {
		return errors.New("no X-Zendesk-Webhook-Signature and X-Zendesk-Webhook-Signature-Timestamp headers")
	}
	want := base64.StdEncoding.EncodeToString(mac(sha256.New, secret, []byte(ts), body))
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return errors.New("X-Zendesk-Webhook-Signature does not match the timestamp and body with ingest.http.webhooks.zendesk.secret")
	}
	return nil
}

// verifyIntercom checks X-Hub-Signature: "sha1=" and the hex HMAC-SHA1 of
// the body with the app's client secret.
func verifyIntercom(header string, body []byte, secret string) error {
	return verifyHex("X-Hub-Signature", "sha1=", header, mac(sha1.New, secret, body), "intercom")
}

// verifyDelighted checks X-Delighted-Webhook-Signature: "sha256=" and the
// hex HMAC-SHA256 of the body, keyed with the account's private API key.
func verifyDelighted(header string, body []byte, secret string) error {
	return verifyHex("X-Delighted-Webhook-Signature", "sha256=", header, mac(sha256.New, secret, body), "delighted")
}

func verifyHex(name, prefix, header string, want []byte, key string) error {
	if header == "" {
		return fmt.Errorf("no %s header", name)
	}
	hexSig, ok := strings.CutPrefix(header, prefix)
	if !ok {
		return fmt.Errorf("%s does not start with %q", name, prefix)
	}
	got, err := hex.DecodeString(strings.ToLower(hexSig))
	if err != nil || !hmac.Equal(got, want) {
		return fmt.Errorf("%s does not match the body with ingest.http.webhooks.%s.secret", name, key)
	}
	return nil
}

// verifyTypeform checks Typeform-Signature: "sha256=" and the base64
// HMAC-SHA256 of the body with the webhook's secret.
func verifyTypeform(header string, body []byte, secret string) error {
	if header == "" {
		return errors.New("no Typeform-Signature header")
	}
	want := "sha256=" + base64.StdEncoding.EncodeToString(mac(sha256.New, secret, body))
	if subtle.ConstantTimeCompare([]byte(header), []byte(want)) != 1 {
		return errors.New("Typeform-Signature does not match the body with ingest.http.webhooks.typeform.secret")
	}
	return nil
}

// verifyBearer checks "Authorization: Bearer <secret>", for CloudEvents
// senders, which have no signature scheme of their own.
func verifyBearer(authz, secret string) error {
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok {
		return errors.New("no Authorization: Bearer <ingest.http.webhooks.cloudevents.secret> header")
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(secret)) != 1 {
		return errors.New("the bearer token is not ingest.http.webhooks.cloudevents.secret")
	}
	return nil
}

// cloudEventType is the Event Type the decoder gives CloudEvents.
const cloudEventType = "cloudevent"

// cloudEvent is the record of a CloudEvents HTTP request. Structured mode
// (the whole event as JSON) is produced as it came; binary mode (ce-*
// headers, the data as the body) becomes Kafka's binary mode: each ce-
// header as a ce_ record header, Content-Type as content-type, the body as
// the value. Batched mode is not served.
func (s *Server) cloudEvent(r *http.Request, body []byte, d *decode.Decoder) ([]*kgo.Record, *apiError) {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if mt == "application/cloudevents-batch+json" {
		return nil, reject(http.StatusUnsupportedMediaType, "unsupported_media_type", "batched CloudEvents (%s) are not served: send one event per request", mt)
	}
	if r.Header.Get("Ce-Specversion") == "" {
		return s.webhook(cloudEventType)(r, body, d)
	}
	var headers []decode.Header
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	sort.Strings(names) // the record's headers in one order, whatever the map's
	for _, name := range names {
		vals := r.Header[name]
		attr, ok := strings.CutPrefix(strings.ToLower(name), "ce-")
		if !ok || len(vals) == 0 {
			continue
		}
		// The HTTP binding percent-encodes header values; Kafka's carries
		// them as they are.
		v, err := url.PathUnescape(vals[0])
		if err != nil {
			v = vals[0]
		}
		headers = append(headers, decode.Header{Key: "ce_" + attr, Value: []byte(v)})
	}
	if ct != "" {
		headers = append(headers, decode.Header{Key: "content-type", Value: []byte(ct)})
	}
	rec, e := keyed(d, body, headers, cloudEventType)
	if e != nil {
		return nil, e
	}
	return []*kgo.Record{rec}, nil
}

package journey

import (
	"strconv"
	"time"
)

// event is one record to encode. Its cosmetic details (page names, product
// ids, reasons) are drawn from salt, so that encoding it twice (a bad copy,
// then the good one) gives the same details.
type event struct {
	t     int64 // ms from Start
	salt  uint64
	idx   uint32
	group uint32
	n     uint32 // order or ticket number; NPS score
	cents uint32 // money
	name  uint8  // ev*
	tier  uint8  // plan tier, tierTrial or tierOrders
	anon  bool   // carries an anonymousId
	b2b   bool   // carries context.groupId
}

// Event names.
const (
	evEmailOpened uint8 = iota
	evEmailClicked
	evPromoViewed
	evPromoClicked
	evSignedUp
	evAccountCreated
	evTrialStarted
	evOrderCompleted
	evSubStarted
	evSubRenewed
	evPaymentSucceeded
	evSignedIn
	evAppOpened
	evProductViewed
	evFeatureUsed
	evInviteSent
	evTicketOpened
	evTicketSolved
	evNPS
	evReferral
	evPaymentFailed
	evRefunded
	evSubCancelled
	evAccountDeleted
	evPage     // a page call
	evScreen   // a screen call
	evIdentify // an identify call
	numEvents
)

// head is the start of each record up to the customer id: the call type and
// the event name.
var head = [numEvents]string{
	evEmailOpened:      `{"type":"track","event":"Email Opened"`,
	evEmailClicked:     `{"type":"track","event":"Email Link Clicked"`,
	evPromoViewed:      `{"type":"track","event":"Promotion Viewed"`,
	evPromoClicked:     `{"type":"track","event":"Promotion Clicked"`,
	evSignedUp:         `{"type":"track","event":"Signed Up"`,
	evAccountCreated:   `{"type":"track","event":"Account Created"`,
	evTrialStarted:     `{"type":"track","event":"Trial Started"`,
	evOrderCompleted:   `{"type":"track","event":"Order Completed"`,
	evSubStarted:       `{"type":"track","event":"Subscription Started"`,
	evSubRenewed:       `{"type":"track","event":"Subscription Renewed"`,
	evPaymentSucceeded: `{"type":"track","event":"Payment Succeeded"`,
	evSignedIn:         `{"type":"track","event":"Signed In"`,
	evAppOpened:        `{"type":"track","event":"Application Opened"`,
	evProductViewed:    `{"type":"track","event":"Product Viewed"`,
	evFeatureUsed:      `{"type":"track","event":"Feature Used"`,
	evInviteSent:       `{"type":"track","event":"Invite Sent"`,
	evTicketOpened:     `{"type":"track","event":"Ticket Opened"`,
	evTicketSolved:     `{"type":"track","event":"Ticket Solved"`,
	evNPS:              `{"type":"track","event":"NPS Responded"`,
	evReferral:         `{"type":"track","event":"Referral Sent"`,
	evPaymentFailed:    `{"type":"track","event":"Payment Failed"`,
	evRefunded:         `{"type":"track","event":"Order Refunded"`,
	evSubCancelled:     `{"type":"track","event":"Subscription Cancelled"`,
	evAccountDeleted:   `{"type":"track","event":"Account Deleted"`,
	evPage:             `{"type":"page"`,
	evScreen:           `{"type":"screen"`,
	evIdentify:         `{"type":"identify"`,
}

// signupSeqs are the sign-up bursts; the identify carries plan "trial".
var signupSeqs = [...][]uint8{
	{evSignedUp, evIdentify},
	{evAccountCreated, evIdentify},
	{evSignedUp, evIdentify, evTrialStarted},
}

// Plan tiers.
const (
	tierTrial  = 0xfe
	tierOrders = 0xff // a customer who buys orders, not a subscription
)

var (
	tierNames = [...]string{"basic", "starter", "pro", "business", "enterprise"}
	tierCents = [...]uint32{999, 2900, 4900, 9900, 49900}
)

// Cosmetic vocabularies.
var (
	pages = [...][2]string{
		{"Home", "/"}, {"Pricing", "/pricing"}, {"Docs", "/docs"}, {"Blog", "/blog"},
		{"Dashboard", "/app"}, {"Reports", "/app/reports"}, {"Settings", "/app/settings"},
		{"Billing", "/app/billing"}, {"Integrations", "/app/integrations"},
	}
	screens       = [...]string{"Dashboard", "Reports", "Inbox", "Settings", "Profile", "Search"}
	features      = [...]string{"reports", "dashboards", "export", "alerts", "integrations", "automation", "search", "api", "sharing"}
	categories    = [...]string{"analytics", "automation", "collaboration", "security", "storage"}
	campaigns     = [...]string{"spring-launch", "newsletter", "webinar", "retargeting", "partner", "product-update"}
	creatives     = [...]string{"hero-banner", "sidebar", "pricing-card", "video", "carousel"}
	positions     = [...]string{"home_top", "home_side", "docs_footer", "app_banner"}
	methods       = [...]string{"email", "google", "github", "sso"}
	signInMethods = [...]string{"password", "sso", "google", "magic_link"}
	roles         = [...]string{"member", "member", "admin", "viewer"}
	topics        = [...]string{"billing", "bug", "how-to", "access", "performance", "integration"}
	priorities    = [...]string{"low", "normal", "normal", "high", "urgent"}
	referrals     = [...]string{"email", "link", "twitter", "linkedin"}
	failReasons   = [...]string{"card_declined", "insufficient_funds", "expired_card", "processing_error"}
	cancelReasons = [...]string{"too_expensive", "missing_feature", "switched_competitor", "not_using", "other"}
	appVersions   = [...]string{"4.2.1", "4.2.0", "4.1.7", "4.3.0-beta"}
	badTimes      = [...]string{"yesterday", "2026-13-45T25:61:00Z", "1767225600", "31/12/2025 10:00"}
)

// Build modes: a good record, or one of the bad kinds.
const (
	modeGood uint8 = iota
	badTruncated
	badNoID
	badNoTS
	badBadTS
	badArray
	numBad = badArray
)

func pickOf[T any](r *rng, s []T) T { return s[r.intn(len(s))] }

// build appends the JSON of ev in the given mode; rec numbers the record
// (its messageId).
func (g *Generator) build(b []byte, ev *event, mode uint8, rec uint64) []byte {
	r := rng{s: mix(ev.salt)}
	if mode == badArray {
		b = append(b, '[')
	}
	b = append(b, head[ev.name]...)
	var page [2]string
	switch ev.name {
	case evPage:
		page = pickOf(&r, pages[:])
		b = append(b, `,"name":"`...)
		b = append(b, page[0]...)
		b = append(b, '"')
	case evScreen:
		b = append(b, `,"name":"`...)
		b = append(b, pickOf(&r, screens[:])...)
		b = append(b, '"')
	}
	if mode != badNoID {
		b = append(b, `,"userId":"cus_`...)
		b = g.appendNum(b, uint64(ev.idx))
		if ev.anon {
			b = append(b, `","anonymousId":"anon_`...)
			b = appendHex(b, mix(g.anonKey^uint64(ev.idx)))
		}
		b = append(b, '"')
	}
	b = append(b, `,"messageId":"msg_`...)
	b = appendHex(b, mix(g.msgKey+rec))
	switch mode {
	case badNoTS:
		b = append(b, '"')
	case badBadTS:
		b = append(b, `","timestamp":"`...)
		b = append(b, badTimes[rec%uint64(len(badTimes))]...)
		b = append(b, '"')
	default:
		b = append(b, `","timestamp":"`...)
		b = g.appendTime(b, ev.t)
		b = append(b, '"')
	}

	switch ev.name {
	case evEmailOpened, evEmailClicked:
		b = append(b, `,"properties":{"email_id":"em_`...)
		b = strconv.AppendUint(b, 1+uint64(r.intn(400)), 10)
		b = append(b, `","campaign":"`...)
		b = append(b, pickOf(&r, campaigns[:])...)
		b = append(b, `"}`...)
	case evPromoViewed, evPromoClicked:
		b = append(b, `,"properties":{"promotion_id":"promo_`...)
		b = strconv.AppendUint(b, 1+uint64(r.intn(20)), 10)
		b = append(b, `","creative":"`...)
		b = append(b, pickOf(&r, creatives[:])...)
		b = append(b, `","position":"`...)
		b = append(b, pickOf(&r, positions[:])...)
		b = append(b, `"}`...)
	case evSignedUp, evAccountCreated:
		b = append(b, `,"properties":{"method":"`...)
		b = append(b, pickOf(&r, methods[:])...)
		b = append(b, `"}`...)
	case evTrialStarted:
		b = append(b, `,"properties":{"trial_days":14}`...)
	case evOrderCompleted, evSubStarted:
		b = append(b, `,"properties":{"order_id":"ord_`...)
		b = g.appendNum(b, uint64(ev.idx))
		b = append(b, '_')
		b = strconv.AppendUint(b, uint64(ev.n), 10)
		if ev.name == evSubStarted {
			b = append(b, `","plan":"`...)
			b = append(b, tierNames[ev.tier]...)
		}
		b = append(b, `","revenue":`...)
		b = appendCents(b, ev.cents)
		b = append(b, `,"currency":"USD"}`...)
	case evSubRenewed:
		b = append(b, `,"properties":{"plan":"`...)
		b = append(b, tierNames[ev.tier]...)
		b = append(b, `","revenue":`...)
		b = appendCents(b, ev.cents)
		b = append(b, `,"currency":"USD"}`...)
	case evPaymentSucceeded:
		b = append(b, `,"properties":{"revenue":`...)
		b = appendCents(b, ev.cents)
		b = append(b, `,"currency":"USD"}`...)
	case evPaymentFailed:
		b = append(b, `,"properties":{"amount":`...)
		b = appendCents(b, ev.cents)
		b = append(b, `,"currency":"USD","reason":"`...)
		b = append(b, pickOf(&r, failReasons[:])...)
		b = append(b, `"}`...)
	case evRefunded:
		b = append(b, `,"properties":{"order_id":"ord_`...)
		b = g.appendNum(b, uint64(ev.idx))
		b = append(b, '_')
		b = strconv.AppendUint(b, uint64(ev.n), 10)
		b = append(b, `","total":`...)
		b = appendCents(b, ev.cents)
		b = append(b, `,"currency":"USD"}`...)
	case evSignedIn:
		b = append(b, `,"properties":{"method":"`...)
		b = append(b, pickOf(&r, signInMethods[:])...)
		b = append(b, `"}`...)
	case evAppOpened:
		b = append(b, `,"properties":{"version":"`...)
		b = append(b, pickOf(&r, appVersions[:])...)
		b = append(b, `","from_background":`...)
		b = strconv.AppendBool(b, r.intn(2) == 0)
		b = append(b, '}')
	case evProductViewed:
		b = append(b, `,"properties":{"product_id":"prod_`...)
		b = strconv.AppendUint(b, 1+uint64(r.intn(500)), 10)
		b = append(b, `","category":"`...)
		b = append(b, pickOf(&r, categories[:])...)
		b = append(b, `"}`...)
	case evFeatureUsed:
		b = append(b, `,"properties":{"feature":"`...)
		b = append(b, pickOf(&r, features[:])...)
		b = append(b, `"}`...)
	case evInviteSent:
		b = append(b, `,"properties":{"role":"`...)
		b = append(b, pickOf(&r, roles[:])...)
		b = append(b, `"}`...)
	case evTicketOpened, evTicketSolved:
		b = append(b, `,"properties":{"ticket_id":"tkt_`...)
		b = g.appendNum(b, uint64(ev.idx))
		b = append(b, '_')
		b = strconv.AppendUint(b, uint64(ev.n), 10)
		if ev.name == evTicketOpened {
			b = append(b, `","priority":"`...)
			b = append(b, pickOf(&r, priorities[:])...)
			b = append(b, `","topic":"`...)
			b = append(b, pickOf(&r, topics[:])...)
		}
		b = append(b, `"}`...)
	case evNPS:
		b = append(b, `,"properties":{"score":`...)
		b = strconv.AppendUint(b, uint64(ev.n), 10)
		b = append(b, `,"survey":"nps-quarterly"}`...)
	case evReferral:
		b = append(b, `,"properties":{"channel":"`...)
		b = append(b, pickOf(&r, referrals[:])...)
		b = append(b, `"}`...)
	case evSubCancelled:
		b = append(b, `,"properties":{"plan":"`...)
		b = append(b, tierNames[ev.tier]...)
		b = append(b, `","reason":"`...)
		b = append(b, pickOf(&r, cancelReasons[:])...)
		b = append(b, `"}`...)
	case evAccountDeleted:
		b = append(b, `,"properties":{"reason":"`...)
		b = append(b, pickOf(&r, cancelReasons[:])...)
		b = append(b, `"}`...)
	case evPage:
		b = append(b, `,"properties":{"path":"`...)
		b = append(b, page[1]...)
		b = append(b, `","title":"`...)
		b = append(b, page[0]...)
		b = append(b, `"}`...)
	case evIdentify:
		b = append(b, `,"traits":{"email":"cus_`...)
		b = g.appendNum(b, uint64(ev.idx))
		b = append(b, `@example.com","plan":"`...)
		switch ev.tier {
		case tierTrial:
			b = append(b, "trial"...)
		case tierOrders:
			b = append(b, "pay-as-you-go"...)
		default:
			b = append(b, tierNames[ev.tier]...)
		}
		b = append(b, `"}`...)
	}
	if ev.b2b {
		b = append(b, `,"context":{"groupId":"acc_`...)
		b = g.appendNum(b, uint64(ev.group))
		b = append(b, `"}`...)
	}
	b = append(b, '}')
	switch mode {
	case badArray:
		b = append(b, ']')
	case badTruncated:
		// Cut somewhere in the middle third: an object never closed.
		third := uint64(len(b) / 3)
		b = b[:third+mix(rec)%third]
	}
	return b
}

// appendNum appends n zero-padded to the customer-number width.
func (g *Generator) appendNum(b []byte, n uint64) []byte {
	var d [20]byte
	i := len(d)
	for n > 0 || len(d)-i < g.width {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[i:]...)
}

func appendHex(b []byte, x uint64) []byte {
	const digits = "0123456789abcdef"
	var d [16]byte
	for i := 15; i >= 0; i-- {
		d[i] = digits[x&15]
		x >>= 4
	}
	return append(b, d[:]...)
}

// appendCents appends a decimal amount: 4900 → 49.00.
func appendCents(b []byte, c uint32) []byte {
	b = strconv.AppendUint(b, uint64(c/100), 10)
	return append(b, '.', byte('0'+c/10%10), byte('0'+c%10))
}

func append2(b []byte, n int64) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

// appendTime appends Start+off as RFC 3339 with milliseconds in UTC; the
// date part is cached per day.
func (g *Generator) appendTime(b []byte, off int64) []byte {
	ms := g.startMs + off
	d := ms / day // Start is after 1970: no negative times
	if d != g.day {
		g.day = d
		time.UnixMilli(d*day).UTC().AppendFormat(g.date[:0], "2006-01-02T")
	}
	b = append(b, g.date[:]...)
	rem := ms - d*day
	b = append2(b, rem/hour)
	b = append(b, ':')
	b = append2(b, rem/minute%60)
	b = append(b, ':')
	b = append2(b, rem/second%60)
	b = append(b, '.', byte('0'+rem/100%10), byte('0'+rem/10%10), byte('0'+rem%10), 'Z')
	return b
}

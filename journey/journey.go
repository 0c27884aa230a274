package journey

import "math"

// Time units, in milliseconds.
const (
	second = int64(1000)
	minute = 60 * second
	hour   = 60 * minute
	day    = 24 * hour
)

// cust is all a customer keeps between its events: 24 bytes. Everything
// else about it (its plan) is derived again from a hash when needed.
type cust struct {
	sec      uint32 // next event: whole seconds from Start
	link     uint32 // next customer in the same calendar bucket, index+1
	anchor   uint32 // seconds from Start: sign-up (acquisition), last (re)purchase (later)
	ms       uint16 // next event: milliseconds past sec
	tickets  uint16 // tickets opened so far (ticket ids)
	orders   uint16 // orders placed so far (order ids)
	phase    uint8
	act      uint8 // what happens at the next event
	left     uint8 // reach touches, or events left in the current burst
	open     uint8 // open tickets
	renewals uint8 // renewals since anchor
	flags    uint8
}

func (c *cust) next() int64 { return int64(c.sec)*second + int64(c.ms) }

func (c *cust) setNext(t int64) { c.sec, c.ms = uint32(t/second), uint16(t%second) }

func (c *cust) npsDone() uint8 { return c.flags >> 3 & 3 }

// Phases of a journey.
const (
	phNew       uint8 = iota // not arrived yet
	phReach                  // reach touches, before sign-up
	phAcq                    // signed up, not bought
	phActive                 // bought: conversion, retention, loyalty
	phCancelled              // cancelled; only win-back emails
	phSilent                 // gone silent
)

// Actions: what a customer's next event is.
const (
	actDone uint8 = iota // nothing more (never queued)
	actReach
	actSignup
	actSignupMore
	actSession
	actFollow
	actPurchase
	actPurchaseID
	actRenew
	actRepeat
	actRetry
	actRefund
	actTicketOpen
	actTicketSolve
	actNPS
	actReferral
	actEmail
	actCancel
	actWinback
	actStop // goes silent (no record)
	actWake // a change of mode (no record)
)

// Flags.
const (
	fRetry    = 1 << 0 // a failed payment will be retried successfully
	fRefunded = 1 << 1 // first order refunded
	fWonBack  = 1 << 2 // came back after churning
	// bits 3-4: NPS surveys answered
)

// Fates after the first purchase.
const (
	fateNone uint8 = iota
	fateGap
	fateDrop
	fateSilent
	fateCancel
)

// NPS classes.
const (
	npsPromoter uint8 = iota
	npsPassive
	npsDetractor
)

// plan is a customer's fixed character, derived from (Seed, customer).
// Durations are in milliseconds.
type plan struct {
	buyDelay     int64 // sign-up to first purchase
	abandonFor   int64 // non-buyers: how long they browse after signing up
	fateDelay    int64 // first purchase to fate
	fateLen      int64 // length of a quiet gap
	winbackDelay int64 // fate to win-back
	refundDelay  int64 // first purchase to refund
	npsDelay     [2]int64
	rate         float64 // engagement sessions a day
	group        uint32
	touches      uint8
	signupStyle  uint8
	platform     uint8 // 0, 1: web; 2: mobile; 3: both
	tier         uint8
	fate         uint8
	nps          uint8 // surveys answered (0-2)
	npsClass     [2]uint8
	renewEvent   uint8
	signs        bool
	buys         bool
	b2b          bool
	subscription bool
	ticketProne  bool
	badCard      bool
	refund       bool
	referrer     bool
	winback      bool
}

// arrival is the time of customer idx's first reach touch.
func (g *Generator) arrival(idx uint32) int64 {
	h := mix(g.planKey ^ (uint64(idx)+1)*0xd1b54a32d192ed03)
	span := g.endMs
	if h&0xff < 90 { // ~35%: the launch campaign of the first week
		span = min(span, 7*day)
	}
	return int64(unit(mix(h)) * float64(span))
}

func uniformDays(r *rng, lo, hi float64) int64 {
	return int64((lo + (hi-lo)*r.float()) * float64(day))
}

func (g *Generator) plan(idx uint32) (p plan) {
	r := rng{s: mix(g.planKey + uint64(idx)*0x9e3779b97f4a7c15)}
	p.touches = 1 + uint8(r.intn(4))
	p.signs = r.float() < 0.72
	p.signupStyle = uint8(r.intn(len(signupSeqs)))
	p.buys = r.float() < 0.75
	if r.float() < 0.85 {
		p.buyDelay = minute + int64(min(r.exp()*3, 25)*float64(day))
	} else {
		p.buyDelay = uniformDays(&r, 31, 50)
	}
	p.abandonFor = uniformDays(&r, 1, 14)
	// Zipf-like activity: rank uniform on [1, 100], rate ∝ rank^-Skew,
	// interpolated from a table.
	x := r.float() * float64(len(g.skew)-1)
	i := int(x)
	w := g.skew[i]
	if i+1 < len(g.skew) {
		w += (g.skew[i+1] - w) * (x - float64(i))
	}
	p.rate = min(w, 100)
	p.platform = uint8(r.intn(4))
	p.b2b = r.float() < 0.3
	p.group = uint32(r.next() % uint64(max(1, g.cfg.Customers/5)))
	p.subscription = r.float() < 0.6
	switch u := r.float(); {
	case u < 0.30:
		p.tier = 0
	case u < 0.55:
		p.tier = 1
	case u < 0.80:
		p.tier = 2
	case u < 0.95:
		p.tier = 3
	default:
		p.tier = 4
	}
	p.renewEvent = evSubRenewed
	if r.float() < 0.5 {
		p.renewEvent = evPaymentSucceeded
	}
	p.ticketProne = r.float() < 0.10
	p.badCard = r.float() < 0.12
	p.refund = r.float() < 0.06
	p.refundDelay = uniformDays(&r, 1, 10)
	if r.float() < 0.55 {
		p.nps = 1
		if r.float() < 0.5 {
			p.nps = 2
		}
	}
	p.npsDelay = [2]int64{uniformDays(&r, 14, 42), uniformDays(&r, 21, 40)}
	for k := range p.npsClass {
		switch u := r.float(); {
		case u < 0.4:
			p.npsClass[k] = npsPromoter
		case u < 0.7:
			p.npsClass[k] = npsPassive
		default:
			p.npsClass[k] = npsDetractor
		}
	}
	p.referrer = r.float() < 0.15
	switch u := r.float(); {
	case u < 0.44:
		p.fate = fateNone
	case u < 0.56:
		p.fate = fateGap
		p.fateDelay = uniformDays(&r, 5, 40)
		p.fateLen = uniformDays(&r, 14, 28)
	case u < 0.66:
		p.fate = fateDrop
		p.fateDelay = uniformDays(&r, 35, 55)
	case u < 0.82:
		p.fate = fateSilent
		p.fateDelay = uniformDays(&r, 2, 20)
		p.winback = r.float() < 0.6
		p.winbackDelay = uniformDays(&r, 61, 75)
	default:
		p.fate = fateCancel
		p.fateDelay = uniformDays(&r, 10, 60)
		p.winback = r.float() < 0.35
		p.winbackDelay = uniformDays(&r, 7, 42)
	}
	return p
}

// fire performs customer idx's due action at time now: it updates the
// state and, when the action produces a record, describes it in g.ev.
func (g *Generator) fire(c *cust, p *plan, idx uint32, now int64) bool {
	ev := &g.ev
	*ev = event{t: now, salt: g.propKey + g.nGood, idx: idx, group: p.group, tier: p.tier, b2b: p.b2b}
	switch c.act {
	case actReach:
		if c.phase == phNew {
			c.phase, c.left = phReach, p.touches
		}
		c.left--
		ev.anon = true
		switch u := g.rnd.float(); {
		case u < 0.35:
			ev.name = evEmailOpened
		case u < 0.5:
			ev.name = evEmailClicked
		case u < 0.85:
			ev.name = evPromoViewed
		default:
			ev.name = evPromoClicked
		}
	case actSignup:
		seq := signupSeqs[p.signupStyle]
		c.phase, c.anchor, c.left = phAcq, uint32(now/second), uint8(len(seq)-1)
		ev.name, ev.anon = seq[0], true
	case actSignupMore:
		seq := signupSeqs[p.signupStyle]
		ev.name, ev.anon, ev.tier = seq[len(seq)-int(c.left)], true, tierTrial
		c.left--
	case actSession:
		mobile := p.platform == 2 || p.platform == 3 && g.rnd.float() < 0.5
		switch {
		case mobile:
			ev.name = evAppOpened
		case g.rnd.float() < 0.5:
			ev.name = evSignedIn
		default:
			ev.name = evPage
		}
		n := uint8(0)
		for n < 12 && g.rnd.float() < 0.6 {
			n++
		}
		c.left = n
	case actFollow:
		c.left--
		mobile := p.platform == 2 || p.platform == 3 && g.rnd.float() < 0.5
		invite := 0.02
		if p.b2b {
			invite = 0.05
		}
		switch u := g.rnd.float(); {
		case u < invite:
			ev.name = evInviteSent
		case u < invite+0.25:
			ev.name = evProductViewed
		case u < invite+0.55:
			ev.name = evFeatureUsed
		case mobile:
			ev.name = evScreen
		default:
			ev.name = evPage
		}
	case actPurchase:
		c.phase, c.anchor, c.renewals, c.left = phActive, uint32(now/second), 0, 1
		g.purchase(c, p, idx)
	case actPurchaseID:
		c.left = 0
		ev.name = evIdentify
		if !p.subscription {
			ev.tier = tierOrders
		}
	case actRenew:
		if c.renewals < math.MaxUint8 {
			c.renewals++
		}
		ev.cents = tierCents[p.tier]
		fail := 0.06
		if p.badCard {
			fail = 0.5
		}
		if g.rnd.float() < fail {
			ev.name = evPaymentFailed
			if g.rnd.float() < 0.6 {
				c.flags |= fRetry
			} else {
				c.flags &^= fRetry
			}
		} else {
			ev.name = p.renewEvent
			c.flags &^= fRetry
		}
	case actRepeat:
		if g.rnd.float() < 0.05 { // the card is declined; the order is retried or dropped
			ev.name, ev.cents = evPaymentFailed, g.orderCents(idx, c.orders+1)
			if g.rnd.float() < 0.6 {
				c.flags |= fRetry
			}
			break
		}
		if c.orders < math.MaxUint16 {
			c.orders++
		}
		ev.name, ev.n, ev.cents = evOrderCompleted, uint32(c.orders), g.orderCents(idx, c.orders)
	case actRetry:
		c.flags &^= fRetry
		ev.name, ev.cents = evPaymentSucceeded, tierCents[p.tier]
		if !p.subscription { // the declined order goes through
			if c.orders < math.MaxUint16 {
				c.orders++
			}
			ev.cents = g.orderCents(idx, c.orders)
		}
	case actRefund:
		c.flags |= fRefunded
		ev.name, ev.n, ev.cents = evRefunded, 1, g.orderCents(idx, 1)
		if p.subscription {
			ev.cents = tierCents[p.tier]
		}
	case actTicketOpen:
		if c.tickets < math.MaxUint16 {
			c.tickets++
		}
		if c.open < math.MaxUint8 {
			c.open++
		}
		ev.name, ev.n = evTicketOpened, uint32(c.tickets)
	case actTicketSolve:
		ev.name, ev.n = evTicketSolved, uint32(c.tickets)-uint32(c.open)+1
		c.open--
	case actNPS:
		k := c.npsDone()
		c.flags = c.flags&^(3<<3) | (k+1)<<3
		ev.name = evNPS
		switch p.npsClass[k] {
		case npsPromoter:
			ev.n = 9 + uint32(g.rnd.intn(2))
		case npsPassive:
			ev.n = 7 + uint32(g.rnd.intn(2))
		default:
			ev.n = uint32(g.rnd.intn(7))
		}
	case actReferral:
		ev.name = evReferral
	case actEmail:
		ev.name = evEmailOpened
		if g.rnd.float() < 0.25 {
			ev.name = evEmailClicked
		}
	case actCancel:
		c.phase = phCancelled
		ev.name = evAccountDeleted
		if p.subscription && g.rnd.float() < 0.85 {
			ev.name = evSubCancelled
		}
	case actWinback:
		c.phase, c.anchor, c.renewals, c.left = phActive, uint32(now/second), 0, 0
		c.flags |= fWonBack
		g.purchase(c, p, idx)
	case actStop:
		c.phase = phSilent
		return false
	default: // actWake
		return false
	}
	return true
}

// purchase describes a first purchase or a win-back.
func (g *Generator) purchase(c *cust, p *plan, idx uint32) {
	if c.orders < math.MaxUint16 {
		c.orders++
	}
	ev := &g.ev
	ev.n = uint32(c.orders)
	if p.subscription {
		ev.name, ev.cents = evSubStarted, tierCents[p.tier]
	} else {
		ev.name, ev.cents = evOrderCompleted, g.orderCents(idx, c.orders)
	}
}

// orderCents is the amount of order n of customer idx: 9.99 to 499.00,
// log-uniform.
func (g *Generator) orderCents(idx uint32, n uint16) uint32 {
	u := unit(mix(g.planKey ^ uint64(idx)<<16 ^ uint64(n) ^ 0x5eed))
	return uint32(math.Exp(math.Log(999) + u*(math.Log(49900)-math.Log(999))))
}

// pick keeps the earliest candidate for a customer's next event.
type pick struct {
	t int64
	a uint8
}

func (k *pick) set(t int64, a uint8) {
	if t < k.t {
		k.t, k.a = t, a
	}
}

// poisson collects the memoryless processes competing for a customer's
// next event, with rates per day. Because they are memoryless, the next
// arrival can be drawn afresh after every event without bias, so no
// per-process state is stored.
type poisson struct {
	n     int
	total float64
	rate  [8]float64
	act   [8]uint8
}

func (q *poisson) add(rate float64, a uint8) {
	if rate > 0 {
		q.rate[q.n], q.act[q.n] = rate, a
		q.n++
		q.total += rate
	}
}

// burstNext is the follow-up action of a burst of events.
func burstNext(a uint8) uint8 {
	switch a {
	case actSignup, actSignupMore:
		return actSignupMore
	case actPurchase:
		return actPurchaseID
	default:
		return actFollow
	}
}

// schedule decides customer idx's next action after its event at now and
// queues it, unless the journey is over or the action falls past the end.
func (g *Generator) schedule(c *cust, p *plan, idx uint32, now int64) {
	k := pick{t: math.MaxInt64, a: actDone}
	var q poisson
	a := int64(c.anchor) * second
	switch c.phase {
	case phReach:
		if c.left > 0 {
			k.set(now+second+int64(g.rnd.exp()*1.5*float64(day)), actReach)
		} else if p.signs {
			k.set(now+minute+int64(g.rnd.exp()*float64(day)), actSignup)
		}
	case phAcq:
		if c.left > 0 { // bursts are not interrupted
			k.set(now+2*second+int64(g.rnd.exp()*40*float64(second)), burstNext(c.act))
			break
		}
		end := a + p.abandonFor
		if p.buys {
			end = a + p.buyDelay
			k.set(max(end, now), actPurchase)
		} else {
			k.set(max(end, now), actDone)
		}
		if now < end {
			q.add(p.rate*0.3, actSession)
			q.add(1.0/7, actEmail)
		}
	case phActive:
		if c.left > 0 {
			k.set(now+2*second+int64(g.rnd.exp()*40*float64(second)), burstNext(c.act))
			break
		}
		fate := p.fate
		if c.flags&fWonBack != 0 {
			fate = fateNone
		}
		at := a + p.fateDelay
		sessions, quiet := p.rate, false
		switch fate {
		case fateGap:
			if now < at {
				k.set(at, actWake)
			} else if end := at + p.fateLen; now < end {
				quiet = true
				k.set(end, actWake)
			}
		case fateDrop:
			if now < at {
				sessions = max(sessions, 1)
				k.set(at, actWake)
			} else {
				sessions = max(sessions, 1) * 0.1
			}
		case fateSilent:
			k.set(max(at, now), actStop)
		case fateCancel:
			k.set(max(at, now), actCancel)
		}
		if p.subscription && c.renewals < math.MaxUint8 {
			n := int64(c.renewals) + 1
			jitter := int64(mix(g.planKey^uint64(idx)<<8^uint64(n)) % uint64(hour))
			k.set(max(a+n*30*day+jitter, now), actRenew)
		}
		if n := c.npsDone(); n < p.nps {
			due := a + p.npsDelay[0]
			if n == 1 {
				due += p.npsDelay[1]
			}
			k.set(max(due, now), actNPS)
		}
		if p.refund && c.flags&(fRefunded|fWonBack) == 0 {
			k.set(max(a+p.refundDelay, now), actRefund)
		}
		solve := 1 / 1.5
		if !quiet {
			q.add(sessions, actSession)
			if p.ticketProne {
				q.add(1.0/6, actTicketOpen)
				solve = 1.0 / 20
			} else {
				q.add(1.0/50, actTicketOpen)
			}
			if p.referrer {
				q.add(1.0/25, actReferral)
			}
			if !p.subscription {
				q.add(1.0/25, actRepeat)
			}
		}
		q.add(float64(c.open)*solve, actTicketSolve)
		if c.flags&fRetry != 0 {
			q.add(0.5, actRetry)
		}
		q.add(1.0/21, actEmail)
	case phCancelled, phSilent:
		if p.winback {
			k.set(max(a+p.fateDelay+p.winbackDelay, now), actWinback)
		}
		if c.phase == phCancelled {
			q.add(1.0/14, actEmail)
		}
	}
	if q.total > 0 {
		if dt := g.rnd.exp() * float64(day) / q.total; dt < float64(k.t-now) {
			u := g.rnd.float() * q.total
			a := q.act[q.n-1]
			for i := 0; i < q.n-1; i++ {
				if u < q.rate[i] {
					a = q.act[i]
					break
				}
				u -= q.rate[i]
			}
			k.t, k.a = now+1+int64(dt), a
		}
	}
	if k.a == actDone || k.t >= g.endMs {
		return
	}
	c.act = k.a
	g.insert(idx, c, k.t)
}

// mix is the splitmix64 finalizer, a bijection of uint64.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) * 0x1p-53 }

// rng is splitmix64: small, fast and fixed forever (unlike a library
// generator whose stream might change), which determinism needs.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix(r.s)
}

func (r *rng) float() float64 { return unit(r.next()) }

// intn returns a number in [0, n), n < 2^32.
func (r *rng) intn(n int) int { return int((r.next() >> 32) * uint64(n) >> 32) }

// exp returns an exponential variate of mean 1.
func (r *rng) exp() float64 { return -math.Log(1 - r.float()) }

package rules

// The variables a rule expression can read. The engine fills a Vars from a
// customer's state before it evaluates a pack; expressions are compiled
// against these names once per load, so an unknown name is a load error,
// never a run-time one.

// Num indexes the numeric variables of Vars.Num.
type Num int

// The numeric variables. Counts are float64 so that expressions mix them
// freely with fractions.
const (
	Purchases           Num = iota // purchases made (renewals included)
	Revenue                        // lifetime value: revenue of purchases minus refunds
	OpenTickets                    // support tickets opened and not yet solved
	TicketsOpened                  // support tickets ever opened
	FailedPayments                 // failed payments ever
	Refunds                        // refunds ever
	Referrals                      // referrals sent ever
	NPS                            // latest NPS answer 0-10, or -1 when none
	Engagement7d                   // engagements in the last 7 days (today included)
	Engagement28d                  // engagements in the last 28 days
	Engagement30d                  // engagements in the last 30 days
	BaselineWeekly                 // weekly average of engagements in the 28 days before the last 7
	DaysInStage                    // days since the customer entered its stage
	DaysSinceEngagement            // days since the last engagement (since first seen when none)
	DaysSincePurchase              // days since the last purchase (since first seen when none)
	DaysSinceSeen                  // days since the last event of any kind
	DaysSinceFirstSeen             // days since the first event
	EventValue                     // the current event's revenue (0 for timers)
	Score                          // health score 0-100 (alerts only: computed after transitions)
	numVars
)

// Bool indexes the boolean variables of Vars.Bool.
type Bool int

// The boolean variables.
const (
	HasNPS         Bool = iota // the customer has answered an NPS survey
	PaymentFailing             // a payment failed and none succeeded since
	// PaymentRecovered: the current event is a purchase that clears a
	// failing payment of a customer who had purchased before (a retry
	// that succeeded): it is no new purchase.
	PaymentRecovered
	boolVars
)

// Str indexes the string variables of Vars.Str.
type Str int

// The string variables.
const (
	Stage      Str = iota // current stage ("" for a customer in none yet)
	Touchpoint            // category of the current event; "timer" when a timer fires
	EventName             // name of the current event ("" for timers and untitled calls)
	BandName              // health band (alerts only)
	strVars
)

// Vars is the environment one evaluation reads. The engine owns one per
// partition and refills it for each event or timer; expressions never
// retain it.
type Vars struct {
	Num  [numVars]float64
	Bool [boolVars]bool
	Str  [strVars]string
	// Traits are the customer's values of the pack's traits, in
	// Pack.Traits order (the engine points it at the customer's state:
	// an evaluation only reads it).
	Traits []TraitValue
	// Params are the values of the pack's params, in Pack.Params order,
	// as the customer's profile sets them (Pack.ProfileFor points it at
	// the profile's own: an evaluation only reads it).
	Params []float64
}

var numNames = [numVars]string{
	Purchases:           "purchases",
	Revenue:             "revenue",
	OpenTickets:         "open_tickets",
	TicketsOpened:       "tickets_opened",
	FailedPayments:      "failed_payments",
	Refunds:             "refunds",
	Referrals:           "referrals",
	NPS:                 "nps",
	Engagement7d:        "engagement_7d",
	Engagement28d:       "engagement_28d",
	Engagement30d:       "engagement_30d",
	BaselineWeekly:      "baseline_weekly",
	DaysInStage:         "days_in_stage",
	DaysSinceEngagement: "days_since_engagement",
	DaysSincePurchase:   "days_since_purchase",
	DaysSinceSeen:       "days_since_seen",
	DaysSinceFirstSeen:  "days_since_first_seen",
	EventValue:          "event_value",
	Score:               "score",
}

var boolNames = [boolVars]string{
	HasNPS:           "has_nps",
	PaymentFailing:   "payment_failing",
	PaymentRecovered: "payment_recovered",
}

var strNames = [strVars]string{
	Stage:      "stage",
	Touchpoint: "touchpoint",
	EventName:  "event",
	BandName:   "band",
}

// TimeField names a customer timestamp a timer can count from.
type TimeField int

// The timestamps timers count from (see Timer.Since).
const (
	FirstSeen TimeField = iota
	LastSeen
	LastEngagement
	LastPurchase
	StageEntered
	LastPaymentFailed
	timeFields
)

var timeNames = [timeFields]string{
	FirstSeen:         "first_seen",
	LastSeen:          "last_seen",
	LastEngagement:    "last_engagement",
	LastPurchase:      "last_purchase",
	StageEntered:      "stage_entered",
	LastPaymentFailed: "last_payment_failed",
}

// Times holds a customer's timestamps in Unix milliseconds (0: never).
type Times [timeFields]int64

// VarNames lists every variable name an expression may use, for docs and
// error messages.
func VarNames() []string {
	var names []string
	names = append(names, numNames[:]...)
	names = append(names, boolNames[:]...)
	names = append(names, strNames[:]...)
	return names
}

// TimeFieldNames lists the names Timer.Since accepts.
func TimeFieldNames() []string { return append([]string(nil), timeNames[:]...) }

// lookupVar finds a variable by name: kind is 'n', 'b' or 's', or 0 when
// unknown.
func lookupVar(name string) (kind byte, idx int) {
	for i, n := range numNames {
		if n == name {
			return 'n', i
		}
	}
	for i, n := range boolNames {
		if n == name {
			return 'b', i
		}
	}
	for i, n := range strNames {
		if n == name {
			return 's', i
		}
	}
	return 0, 0
}

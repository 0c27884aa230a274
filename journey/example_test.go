package journey_test

import (
	"fmt"
	"os"

	"github.com/lifeline-hq/lifeline/journey"
)

// Records come in event-time order; Value is one Segment Spec JSON line.
func Example() {
	g, err := journey.New(journey.Config{Customers: 5, Days: 7})
	if err != nil {
		panic(err)
	}
	for i := 0; i < 3; i++ {
		r, _ := g.Next()
		fmt.Println(r.Key, r.Time.Format("2006-01-02 15:04:05.000"), r.Bad)
	}
	// Output:
	// cus_000001 2026-01-02 14:31:30.485 false
	// cus_000001 2026-01-03 16:23:46.303 false
	// cus_000002 2026-01-03 22:57:18.867 false
}

// Write is what `lifeline gen` does: every record as NDJSON.
func ExampleWrite() {
	n, err := journey.Write(os.Stdout, journey.Config{Customers: 1, Days: 14, Seed: 51, BadRate: -1})
	fmt.Println(n, err)
	// Output:
	// {"type":"track","event":"Promotion Viewed","userId":"cus_000000","anonymousId":"anon_9a20077791054889","messageId":"msg_3db209390428d942","timestamp":"2026-01-06T20:42:32.880Z","properties":{"promotion_id":"promo_18","creative":"pricing-card","position":"home_top"}}
	// {"type":"track","event":"Email Opened","userId":"cus_000000","anonymousId":"anon_9a20077791054889","messageId":"msg_72766333aa0d8759","timestamp":"2026-01-08T12:12:41.956Z","properties":{"email_id":"em_71","campaign":"product-update"}}
	// {"type":"track","event":"Email Opened","userId":"cus_000000","anonymousId":"anon_9a20077791054889","messageId":"msg_9825f446bdf950d1","timestamp":"2026-01-09T10:14:22.652Z","properties":{"email_id":"em_15","campaign":"partner"}}
	// {"type":"track","event":"Promotion Viewed","userId":"cus_000000","anonymousId":"anon_9a20077791054889","messageId":"msg_0d858274a78e6279","timestamp":"2026-01-10T02:34:48.800Z","properties":{"promotion_id":"promo_16","creative":"hero-banner","position":"app_banner"}}
	// {"type":"track","event":"Signed Up","userId":"cus_000000","anonymousId":"anon_9a20077791054889","messageId":"msg_c7c5753c5f3b5322","timestamp":"2026-01-10T07:22:21.932Z","properties":{"method":"email"}}
	// {"type":"identify","userId":"cus_000000","anonymousId":"anon_9a20077791054889","messageId":"msg_ba109969d60ac234","timestamp":"2026-01-10T07:22:32.127Z","traits":{"email":"cus_000000@example.com","plan":"trial"}}
	// {"type":"track","event":"Trial Started","userId":"cus_000000","anonymousId":"anon_9a20077791054889","messageId":"msg_c1a00e55637dc4b9","timestamp":"2026-01-10T07:23:14.239Z","properties":{"trial_days":14}}
	// {"type":"track","event":"Subscription Started","userId":"cus_000000","messageId":"msg_2f717e37bd42c1f8","timestamp":"2026-01-10T14:27:28.439Z","properties":{"order_id":"ord_000000_1","plan":"pro","revenue":49.00,"currency":"USD"}}
	// {"type":"identify","userId":"cus_000000","messageId":"msg_df53a847de81f6aa","timestamp":"2026-01-10T14:27:57.482Z","traits":{"email":"cus_000000@example.com","plan":"pro"}}
	// {"type":"track","event":"Signed In","userId":"cus_000000","messageId":"msg_ed4aff98167ba6b7","timestamp":"2026-01-12T10:25:51.687Z","properties":{"method":"password"}}
	// 10 <nil>
}

// Package journey generates realistic, deterministic customer journeys as
// Segment Spec JSON events, one JSON object per line (NDJSON), in event-time
// order. It is the source of `lifeline gen`, of the demo, of the tests and of
// the benchmarks.
//
// # Guarantees
//
//   - Determinism: the same Config gives byte-identical output, record for
//     record, on the same platform. Different seeds give different journeys.
//     (Go may fuse floating-point operations differently on other
//     architectures, so byte identity across CPU architectures is not
//     promised.) BadRate does not change the good records: bad records are
//     inserted, never substituted.
//   - Order: Record.Time never decreases from one record to the next. Ties are
//     broken by customer, deterministically.
//   - Streaming: nothing is buffered beyond the current minute of event time.
//     Memory is 24 bytes per customer plus 4 bytes per simulated minute
//     (capped), so 10 million customers × 30 days needs about 240 MB; every
//     other fact about a customer is derived again from a hash of (Seed,
//     customer) when it is needed.
//   - Speed: well above half a million records a second on one core; Next
//     allocates only when its key arena (8 KiB of customer ids) fills up.
//
// # The journeys
//
// Customer i (0-based) is "cus_" + i in decimal, zero-padded to
// max(6, digits(Customers-1)): "cus_000123". Its timeline follows the lifecycle
// of the default rule pack (rules/README.md) with the leaks practitioners
// see:
//
//   - reach: 35% of customers arrive in the first week (a launch campaign),
//     the rest uniformly over the run. Each gets 1-4 reach touches (Email
//     Opened, Email Link Clicked, Promotion Viewed, Promotion Clicked) about
//     1.5 days apart. Events before sign-up carry an anonymousId
//     ("anon_" + 16 hex digits) besides the userId, so the engine sees one
//     customer throughout (a deliberate simplification of Segment, where
//     pre-sign-up calls carry the anonymousId alone).
//   - acquisition: 72% sign up (Signed Up or Account Created, an identify call
//     with traits email and plan "trial", and for some Trial Started). Of
//     those, a quarter never buy: they browse for a few days and vanish
//     (abandoned sign-up); 15% of the buyers buy only after 30-50 days (the
//     abandoned-signup alert fires, then resolves); the rest buy within days.
//     Leads get nurture emails.
//   - conversion: the first purchase is a Subscription Started (60%, plans
//     basic 9.99 / starter 29.00 / pro 49.00 / business 99.00 / enterprise
//     499.00 a month) or an Order Completed (revenue 9.99-499.00), both with
//     properties.revenue and currency, followed by an identify with the plan.
//     6% are refunded within 10 days (Order Refunded, properties.total).
//   - retention: engagement sessions (Signed In, Application Opened, Product
//     Viewed, Feature Used, Invite Sent, page calls on the web, screen calls
//     on mobile; about 2.5 events a session) at a per-customer rate drawn with
//     Skew. Subscriptions renew every 30 days (Subscription Renewed or Payment
//     Succeeded with properties.revenue); order customers place repeat orders
//     (Order Completed) about every 25 days. A renewal fails (Payment Failed,
//     properties.amount) 6% of the time, or half the time for the 12% of
//     customers with a bad card; an order is declined 5% of the time. 60% of
//     failures are recovered by a Payment Succeeded within days; the rest stay
//     unpaid until the next renewal or order, if any.
//   - loyalty: 55% answer an NPS survey 2-6 weeks after buying (NPS Responded,
//     properties.score an integer: 40% promoters 9-10, 30% passives 7-8, 30%
//     detractors 0-6), and half of those answer again a month later; 15% send
//     Referral Sent now and then.
//   - support: Ticket Opened / Ticket Solved with properties.ticket_id
//     ("tkt_" + customer number + "_" + n), solved oldest first. One customer
//     in ten is ticket-prone: tickets every ~6 days, solved in ~20, so they
//     pile up to 3 and more.
//   - churn and its signals, one fate per buyer: 44% none; 12% go quiet for
//     14-28 days and come back (silent-customer); 10% use the product heavily
//     (at least one session a day) for 5-8 weeks, then drop to a tenth
//     (usage-drop); 16% stop all activity 2-20 days after buying (silence,
//     churned by the 60-day timer); 18% cancel (Subscription Cancelled, or
//     Account Deleted) 10-60 days after buying and then receive win-back
//     emails. 60% of the silent and 35% of the cancelled customers come back
//     with a purchase (win-back): cancelled ones after 1-6 weeks, silent ones
//     after 61-75 days. Customers with little activity also cross the
//     silence and usage-drop thresholds by chance, as real ones do.
//
// Over the defaults (1000 customers, 90 days) every one of these happens many
// times; the package tests check it by replaying the stream.
//
// Calls are mostly "track", with "page" and "screen" calls in sessions and
// "identify" at sign-up and first purchase. Customers of B2B accounts (30%)
// carry context.groupId ("acc_" + account number; about five customers an
// account). Every record has a messageId ("msg_" + 16 hex digits, unique in
// the run) and a "timestamp" in RFC 3339 with milliseconds, UTC.
//
// # Bad records
//
// About BadRate of all records are deliberately bad, each a single line
// inserted just before a good record and dated like it (Record.Time): a
// truncated JSON object, a message with neither userId nor anonymousId
// (Record.Key ""), one without any timestamp, one with an unparsable
// timestamp, and a JSON array wrapping a message (unknown format); the kinds
// are equally likely. Record.Bad marks them.
package journey

package rules

import "testing"

// TestDefaultPackSourceNames: the default pack maps each source's event
// types (rules/README.md, "Sources") and Segment's names in RudderStack's
// spellings, none of them to two categories.
func TestDefaultPackSourceNames(t *testing.T) {
	p := Default()
	for _, tc := range []struct{ call, ev, want string }{
		{"stripe", "invoice.paid", "purchase"},
		{"stripe", "invoice.payment_failed", "payment_failed"},
		{"stripe", "customer.subscription.created", "signup"},
		{"stripe", "customer.subscription.deleted", "cancel"},
		{"stripe", "customer.subscription.updated", ""},
		{"stripe", "charge.refunded", "refund"},
		{"zendesk", "ticket.created", "support_opened"},
		{"zendesk", "ticket.status_changed.solved", "support_solved"},
		{"zendesk", "ticket.status_changed.closed", ""},
		{"intercom", "conversation.user.created", "support_opened"},
		{"intercom", "conversation.admin.closed", "support_solved"},
		{"delighted", "survey_response.created", "nps"},
		{"delighted", "survey_response.updated", "nps"},
		{"typeform", "form_response", "nps"},
		{"page", "", "engagement"},
		{"page_ping", "", "engagement"},
		{"track", "order completed", "purchase"},
		{"track", "order_completed", "purchase"},
		{"track", "payment_failed", "payment_failed"},
		{"track", "nps_responded", "nps"},
		{"track", "ticket_opened", "support_opened"},
	} {
		if got := p.CategoryName(p.Classify(tc.call, tc.ev)); got != tc.want {
			t.Errorf("Classify(%q, %q) = %q, want %q", tc.call, tc.ev, got, tc.want)
		}
	}
}

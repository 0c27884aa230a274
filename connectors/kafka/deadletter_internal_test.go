package kafka

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// capMessage keeps a message of up to 1 KiB as it is and cuts a longer
// one at a character boundary, saying how much it cut: the kept text and
// the count give back the length of the whole.
func TestCapMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
	}{
		{"short", "malformed_json: invalid number \"01}\" at offset 5"},
		{"exactly 1 KiB", strings.Repeat("a", 1024)},
		{"1 KiB and a byte", strings.Repeat("a", 1025)},
		{"14 KB (issue 13's deep JSON)", "malformed_json: " + strings.Repeat("cannot parse array: ", 700)},
		{"2-byte characters", strings.Repeat("é", 1000)},
		{"3-byte characters", "x" + strings.Repeat("€", 1000)},
		{"4-byte characters", "xy" + strings.Repeat("😀", 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := capMessage(tc.msg)
			if len(tc.msg) <= 1024 {
				if got != tc.msg {
					t.Errorf("a %d-byte message was changed to %q", len(tc.msg), got)
				}
				return
			}
			if len(got) > 1024 || !utf8.ValidString(got) {
				t.Errorf("capped to %d bytes (valid UTF-8: %v), want at most 1024 of UTF-8", len(got), utf8.ValidString(got))
			}
			kept, marker, ok := strings.Cut(got, "… (")
			if !ok || !strings.HasSuffix(marker, " bytes cut)") {
				t.Fatalf("capped message does not end in \"… (N bytes cut)\": ...%q", got[max(0, len(got)-40):])
			}
			n, err := strconv.Atoi(strings.TrimSuffix(marker, " bytes cut)"))
			if err != nil || !strings.HasPrefix(tc.msg, kept) || len(kept)+n != len(tc.msg) {
				t.Errorf("kept %d bytes and says %d cut (%v): want a prefix and the rest of the %d bytes", len(kept), n, err, len(tc.msg))
			}
			if len(kept) < 1024-40 {
				t.Errorf("kept only %d bytes", len(kept))
			}
		})
	}
}

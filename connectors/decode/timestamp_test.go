package decode

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // the same instant in a form time.Parse reads; "" when rejected
	}{
		{"2015-12-12T19:11:01.249Z", "2015-12-12T19:11:01.249Z"},
		{"2006-01-02T15:04:05Z", "2006-01-02T15:04:05Z"},
		{"2006-01-02T15:04:05.000Z", "2006-01-02T15:04:05Z"},
		{"2006-01-02T15:04:05.5Z", "2006-01-02T15:04:05.5Z"},
		{"2006-01-02T15:04:05.12Z", "2006-01-02T15:04:05.12Z"},
		{"2006-01-02T15:04:05.123456789123Z", "2006-01-02T15:04:05.123Z"},
		{"2006-01-02T15:04:05+07:00", "2006-01-02T08:04:05Z"},
		{"2006-01-02T15:04:05.999-07:30", "2006-01-02T22:34:05.999Z"},
		{"2006-01-02T15:04:05+23:59", "2006-01-01T15:05:05Z"},
		{"2006-01-02T15:04:05-00:00", "2006-01-02T15:04:05Z"},
		{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z"},
		{"0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"},
		{"0000-02-29T00:00:00Z", "0000-02-29T00:00:00Z"},
		{"9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"},
		{"1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.5Z"},
		{"1600-03-01T00:00:00Z", "1600-03-01T00:00:00Z"},

		{"", ""},
		{"2006-01-02", ""},
		{"2006-01-02T15:04:05", ""},
		{"2006-01-02T15:04Z", ""},
		{"2006-01-02 15:04:05Z", ""},
		{"2006-01-02t15:04:05Z", ""},
		{"2006-01-02T15:04:05z", ""},
		{"2006-01-02T15:04:05,123Z", ""},
		{"2006-01-02T15:04:05.Z", ""},
		{"2006-01-02T15:04:05.123", ""},
		{"2006-01-02T15:04:05+0700", ""},
		{"2006-01-02T15:04:05+07", ""},
		{"2006-01-02T15:04:05+24:00", ""},
		{"2006-01-02T15:04:05+07:60", ""},
		{"2006-01-02T15:04:05 +07:00", ""},
		{"2006-01-02T15:04:05ZZ", ""},
		{"2006-01-02T24:00:00Z", ""},
		{"2006-01-02T23:60:00Z", ""},
		{"2006-01-02T23:59:60Z", ""},
		{"2006-00-02T15:04:05Z", ""},
		{"2006-13-02T15:04:05Z", ""},
		{"2006-01-00T15:04:05Z", ""},
		{"2006-01-32T15:04:05Z", ""},
		{"2006-04-31T15:04:05Z", ""},
		{"2023-02-29T00:00:00Z", ""},
		{"1900-02-29T00:00:00Z", ""},
		{"+2006-01-02T15:04:05Z", ""},
		{"20060-01-02T15:04:05Z", ""},
		{"2006-1-02T15:04:05Z", ""},
		{"2006-01-02T5:04:05Z", ""},
		{"２006-01-02T15:04:05Z", ""},
		{"2006-01-02T15:04:05.1a3Z", ""},
		{"1449947461266", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseTime(tc.in)
			if tc.want == "" {
				if ok {
					t.Fatalf("parseTime(%q) = %d, want rejection", tc.in, got)
				}
				return
			}
			want, err := time.Parse(time.RFC3339Nano, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || got != want.UnixMilli() {
				t.Fatalf("parseTime(%q) = %d, %v; want %d", tc.in, got, ok, want.UnixMilli())
			}
		})
	}
}

func TestParseTimeAllocs(t *testing.T) {
	if a := testing.AllocsPerRun(100, func() { parseTime("2006-01-02T15:04:05.999-07:30") }); a != 0 {
		t.Errorf("%v allocations, want 0", a)
	}
}

// strictRFC3339 is the shape of timestamps parseTime must accept whenever
// time.Parse does: what Go's own strict fast path reads.
var strictRFC3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

// FuzzParseTime checks parseTime against time.Parse(time.RFC3339): whatever
// parseTime accepts, time.Parse accepts as the same instant; whatever
// time.Parse accepts in the strict RFC 3339 shape, parseTime accepts too.
// (time.Parse's lenient fallback also reads one-digit hours and commas
// before the fraction; parseTime does not, on purpose.)
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2015-12-12T19:11:01.249Z", "2006-01-02T15:04:05+07:00", "2006-01-02T15:04:05.123456789-07:30",
		"2024-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "2006-01-02T15:04:05,5Z", "2006-01-02T1:04:05Z",
		"2006-01-02T15:04:05+24:00", "9999-12-31T23:59:59.9999999999Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTime(s)
		tm, err := time.Parse(time.RFC3339, s)
		switch {
		case ok && err != nil:
			t.Fatalf("parseTime(%q) = %d, but time.Parse rejects it: %v", s, got, err)
		case ok && got != tm.UnixMilli():
			t.Fatalf("parseTime(%q) = %d, time.Parse gives %d", s, got, tm.UnixMilli())
		case !ok && err == nil && strictRFC3339.MatchString(s):
			t.Fatalf("parseTime(%q) rejects what time.Parse reads as %s", s, strconv.Quote(tm.Format(time.RFC3339Nano)))
		}
	})
}

// TestParseSnowplowTime: Snowplow's zone-less TSV timestamps are UTC; RFC
// 3339 is read as parseTime reads it; parseTime itself still refuses the
// zone-less form.
func TestParseSnowplowTime(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // "" for rejected
	}{
		{"2013-11-26 00:02:05", "2013-11-26T00:02:05Z"},
		{"2013-11-26 00:02:05.123", "2013-11-26T00:02:05.123Z"},
		{"2013-11-26T00:02:05.123", "2013-11-26T00:02:05.123Z"},
		{"2013-11-26T00:02:05.123+01:00", "2013-11-25T23:02:05.123Z"},
		{"2013-11-26 00:02", ""},
		{"2013-11-26 24:02:05", ""},
		{"26/11/2013 00:02:05", ""},
	} {
		got, ok := parseSnowplowTime(c.in)
		if c.want == "" {
			if ok {
				t.Errorf("parseSnowplowTime(%q) = %d, want rejected", c.in, got)
			}
			continue
		}
		if !ok || got != ms(t, c.want) {
			t.Errorf("parseSnowplowTime(%q) = %d, %v; want %s", c.in, got, ok, c.want)
		}
	}
	for _, s := range []string{"2013-11-26 00:02:05", "2013-11-26T00:02:05", "2013-11-26 00:02:05Z"} {
		if _, ok := parseTime(s); ok {
			t.Errorf("parseTime(%q) accepted a timestamp RFC 3339 does not allow", s)
		}
	}
}

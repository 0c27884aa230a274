package decode

import (
	"errors"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
)

// JSON whose tokens are fine but whose structure is broken is reported in
// the decoder's words, with the offset when it can be told: none of the
// parser's own vocabulary ("cannot parse object value: ...", "unparsed
// tail"), none of the rest of the input quoted, whatever its size. These
// messages go into dead-letter headers and replay's bad lines.
func TestStructureErrorsInOwnWords(t *testing.T) {
	big := `"` + strings.Repeat("x", 200_000) + `"` // 200 KB after the error
	for _, tc := range []struct {
		name, value, want string
	}{
		{"empty", ``, "JSON ends where a value should be at offset 0"},
		{"truncated object", `{"type":"track","userId":"u"`, "JSON ends inside an object at offset 28"},
		{"unclosed object", `{`, "JSON ends inside an object at offset 1"},
		{"unclosed array", `[`, "JSON ends inside an array at offset 1"},
		{"value missing at the end", `{"a":`, "JSON ends where a value should be at offset 5"},
		{"key without colon", `{"a" 1}`, "JSON object key is not followed by a colon at offset 5"},
		{"members without comma", `{"a":1 "b":2}`, "JSON object members are not separated by a comma at offset 7"},
		{"elements without comma", `[1 2]`, "JSON array elements are not separated by a comma at offset 3"},
		{"key not a string", `{1:2}`, "JSON object key is not a string at offset 1"},
		{"trailing comma", `{"a":1,}`, "JSON object key is not a string at offset 7"},
		{"value missing", `{"a":}`, "unexpected character in JSON at offset 5"},
		{"two values", `{}{}`, "more after the JSON value"},
		{"missing comma, 200 KB after", `{"a":1 ` + big + `}`, "JSON object members are not separated by a comma"},
		{"array in an object, 200 KB after", `{"a":[1 ` + big + `]}`, "JSON array elements are not separated by a comma"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev engine.Event
			err := New(Options{}).Decode([]byte(tc.value), nil, &ev)
			var de *Error
			if !errors.As(err, &de) || de.Reason != ReasonMalformedJSON {
				t.Fatalf("Decode = %v, want reason malformed_json", err)
			}
			if de.Msg != tc.want {
				t.Errorf("message %q, want %q", de.Msg, tc.want)
			}
			for _, internal := range []string{"cannot parse", "unparsed tail", "unexpected tail", "fastjson", `'""`} {
				if strings.Contains(err.Error(), internal) {
					t.Errorf("message %q shows the parser's %q", err, internal)
				}
			}
			if len(err.Error()) > 120 {
				t.Errorf("message of %d bytes: %.200s", len(err.Error()), err)
			}
		})
	}
}

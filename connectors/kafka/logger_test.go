package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestLogger: franz-go's chatter is one level down (its info lines, several
// per transaction, are debug), and its errors carry Lifeline's key.
func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(zerolog.New(&buf).Level(zerolog.InfoLevel))
	if got := l.Level(); got != kgo.LogLevelWarn {
		t.Errorf("at info, franz-go is asked for level %v, want warn: its info lines are not built at all", got)
	}
	l.Log(kgo.LogLevelInfo, "beginning transaction", "transactional_id", "lifeline-1")
	if buf.Len() != 0 {
		t.Errorf("a franz-go info line reached an info logger: %s", buf.String())
	}
	l.Log(kgo.LogLevelWarn, "unable to commit", "err", errors.New("NOT_COORDINATOR"), "group", "lifeline")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if line["level"] != "warn" || line["error"] != "NOT_COORDINATOR" || line["group"] != "lifeline" || line["err"] != nil {
		t.Errorf("warn line %v: want level warn, key error, the other fields kept", line)
	}

	buf.Reset()
	l = newLogger(zerolog.New(&buf).Level(zerolog.DebugLevel))
	l.Log(kgo.LogLevelInfo, "beginning transaction")
	l.Log(kgo.LogLevelDebug, "wrote Produce v11")
	if out := buf.String(); !strings.Contains(out, `"level":"debug","message":"beginning transaction"`) || strings.Contains(out, "Produce") {
		t.Errorf("at debug: franz-go info should be debug and its debug dropped:\n%s", out)
	}
}

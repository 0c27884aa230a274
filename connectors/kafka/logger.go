package kafka

import (
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// logger writes franz-go's logs through Lifeline's zerolog logger, one
// level down: franz-go's info lines (several per transaction, thousands a
// minute) are Lifeline's debug, its debug lines trace. Errors carry the key
// "error", as Lifeline's own do (franz-go writes "err").
type logger struct{ zl zerolog.Logger }

func newLogger(zl zerolog.Logger) *logger { return &logger{zl: zl} }

// Level tells franz-go which lines to build at all.
func (l *logger) Level() kgo.LogLevel {
	switch l.zl.GetLevel() {
	case zerolog.TraceLevel:
		return kgo.LogLevelDebug
	case zerolog.DebugLevel:
		return kgo.LogLevelInfo
	case zerolog.InfoLevel, zerolog.WarnLevel:
		return kgo.LogLevelWarn
	case zerolog.ErrorLevel, zerolog.FatalLevel, zerolog.PanicLevel:
		return kgo.LogLevelError
	}
	return kgo.LogLevelNone
}

// Log implements kgo.Logger.
func (l *logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var e *zerolog.Event
	switch level {
	case kgo.LogLevelError:
		e = l.zl.Error()
	case kgo.LogLevelWarn:
		e = l.zl.Warn()
	case kgo.LogLevelInfo:
		e = l.zl.Debug()
	case kgo.LogLevelDebug:
		e = l.zl.Trace()
	default:
		return
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		k, _ := keyvals[i].(string)
		if err, ok := keyvals[i+1].(error); ok && k == "err" {
			e = e.Err(err)
			continue
		}
		e = e.Interface(k, keyvals[i+1])
	}
	e.Msg(msg)
}

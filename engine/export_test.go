package engine

// AppendRFC3339Millis exposes the output timestamp formatter to tests.
var AppendRFC3339Millis = appendRFC3339Millis

// FailNextCheckpoint makes the next checkpoint's commit fail.
func (e *Engine) FailNextCheckpoint() { e.failCheckpoint.Store(true) }

package engine

// AppendRFC3339Millis exposes the output timestamp formatter to tests.
var AppendRFC3339Millis = appendRFC3339Millis

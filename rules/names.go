package rules

// NumName returns a numeric variable's name as expressions write it.
func NumName(n Num) string { return numNames[n] }

// TimeFieldName returns a timestamp's name as timers write it.
func TimeFieldName(f TimeField) string { return timeNames[f] }

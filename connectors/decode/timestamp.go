package decode

// parseTime parses an RFC 3339 timestamp into Unix milliseconds without
// allocating. It accepts exactly what time.Parse(time.RFC3339, s) accepts on
// its strict fast path:
//
//	2006-01-02T15:04:05Z
//	2006-01-02T15:04:05.000Z          (any number of fraction digits)
//	2006-01-02T15:04:05.123456+02:00  (any offset from -23:59 to +23:59)
//
// Fractions below the millisecond are truncated, as time.Time.UnixMilli does.
// It rejects what RFC 3339 allows but Go does not (a lowercase "t" or "z", a
// space for the "T") and what only Go's lenient fallback allows (a comma
// before the fraction, one-digit hours), so the accepted set is the same on
// every platform and Go version.
func parseTime(s string) (ms int64, ok bool) { return parseTimeAs(s, false) }

// parseSnowplowTime parses a Snowplow enriched event's timestamp: RFC 3339
// as parseTime reads it, or the TSV form without a zone and with a space
// for the "T" ("2013-11-26 00:02:05.123"), which Snowplow writes in UTC.
func parseSnowplowTime(s string) (ms int64, ok bool) { return parseTimeAs(s, true) }

// parseTimeAs is parseTime; zoneless also accepts a space for the "T" and
// no zone (UTC).
func parseTimeAs(s string, zoneless bool) (ms int64, ok bool) {
	if len(s) < len("2006-01-02T15:04:05Z") && !(zoneless && len(s) == len("2006-01-02 15:04:05")) {
		return 0, false
	}
	if s[4] != '-' || s[7] != '-' || (s[10] != 'T' && !(zoneless && s[10] == ' ')) || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	y1, ok1 := num2(s, 0)
	y2, ok2 := num2(s, 2)
	month, ok3 := num2(s, 5)
	day, ok4 := num2(s, 8)
	hour, ok5 := num2(s, 11)
	minute, ok6 := num2(s, 14)
	sec, ok7 := num2(s, 17)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return 0, false
	}
	year := y1*100 + y2
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	rest := s[19:]

	// Fraction: any number of digits; the first three are the milliseconds.
	var frac int64
	if len(rest) >= 2 && rest[0] == '.' && isDigit(rest[1]) {
		n := 1
		for ; n < len(rest) && isDigit(rest[n]); n++ {
			if n <= 3 {
				frac = frac*10 + int64(rest[n]-'0')
			}
		}
		for i := n; i <= 3; i++ { // fewer than three digits: scale up
			frac *= 10
		}
		rest = rest[n:]
	}

	// Zone: Z or ±hh:mm.
	var offset int64 // seconds east of UTC
	switch {
	case len(rest) == 0 && zoneless:
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := num2(rest, 1)
		om, okm := num2(rest, 4)
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}

	secs := daysFromCivil(int64(year), int64(month), int64(day))*86400 +
		int64(hour*3600+minute*60+sec) - offset
	return secs*1000 + frac, true
}

// num2 reads the two decimal digits at s[i:i+2]; the caller ensures they exist.
func num2(s string, i int) (int, bool) {
	a, b := s[i]-'0', s[i+1]-'0' // bytes below '0' wrap to large values
	if a > 9 || b > 9 {
		return 0, false
	}
	return int(a)*10 + int(b), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days from 1970-01-01 to the given
// proleptic Gregorian date (Howard Hinnant's days_from_civil).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400                     // [0, 399]
	doy := (153*((m+9)%12)+2)/5 + d - 1    // [0, 365], March-based
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return era*146097 + doe - 719468
}

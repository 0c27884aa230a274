package decode

import (
	"encoding/binary"
	"math/bits"
	"strconv"
)

// checkStrict finishes the validation of a value that fastjson's parser has
// accepted, so that Decode accepts exactly RFC 8259 JSON (as encoding/json's
// Valid does) for less than a second full validation (fastjson.Validate)
// would cost.
//
// fastjson checks the structure (brackets, commas, colons, string keys, the
// literals true/false/null, nothing after the value) but is lenient inside
// tokens: it takes any run of [0-9.eE+-] for a number, NaN and Inf, raw
// control characters in strings and unknown escapes. Only those remain to be
// checked, which one flat pass with no recursion does. checkStrict relies on
// the structure being valid and must not be called on anything else.
//
// It returns the offset of the first offending byte and what is wrong, or -1.
func checkStrict(b []byte) (int, string) {
	i := 0
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"': // the most common by far: keys and string values
			j, msg := checkString(b, i+1)
			if msg != "" {
				return j, msg
			}
			i = j
		case c == ':' || c == ',' || c == '{' || c == '}' || c == '[' || c == ']' ||
			c == ' ' || c == '\n' || c == '\t' || c == '\r':
			i++
		case c == '-' || isDigit(c):
			j, ok := scanNumber(b, i)
			if !ok {
				return i, "invalid number " + snippet(b, i)
			}
			i = j
		case c == 't':
			i += len("true") // the parser has seen it
		case c == 'f':
			i += len("false")
		case c == 'n' && i+4 <= len(b) && string(b[i:i+4]) == "null":
			i += len("null")
		default: // NaN, Inf, +1, .5: numbers that fastjson tolerates
			return i, "invalid value " + snippet(b, i)
		}
	}
	return -1, ""
}

// snippet quotes the few bytes of b from i on, for an error message.
func snippet(b []byte, i int) string {
	return strconv.Quote(string(b[i:min(i+8, len(b))]))
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// checkString checks the string body starting at b[i] (after its opening
// quote) for raw control characters and invalid escapes, and returns the
// offset just past its closing quote.
func checkString(b []byte, i int) (int, string) {
	for {
		// Skip ordinary bytes (none below 0x20, no '"' or '\\') eight at a
		// time; the lowest bit of the mask marks the first special byte
		// exactly.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if m := hasLess(w, 0x20) | hasZero(w^(lsb*'"')) | hasZero(w^(lsb*'\\')); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			return i, "unterminated string" // the parser rules this out
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, ""
		case c < 0x20:
			return i, "control character " + strconv.QuoteRune(rune(c)) + " in string"
		case c == '\\':
			if i+1 >= len(b) {
				return i, "unterminated string"
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, "invalid escape " + snippet(b, i) + " in string"
				}
				i += 6
			default:
				return i, "invalid escape " + snippet(b, i) + " in string"
			}
		default:
			i++
		}
	}
}

// hasZero has the high bit set in each byte of x that is zero, and possibly in
// bytes above one that is (a borrow), never below: the lowest set bit is exact.
func hasZero(x uint64) uint64 { return (x - lsb) &^ x & msb }

// hasLess is hasZero for bytes below n (n <= 128), with the same exactness.
func hasLess(x uint64, n uint64) uint64 { return (x - lsb*n) &^ x & msb }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber matches RFC 8259's number at b[i:] and returns its end. The byte
// after it must end the token: fastjson's token would otherwise have
// included it ("1-2", "01", "1.e5", "-Inf").
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for ; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for ; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) {
		switch c := b[i]; {
		case isDigit(c), c == '.', c == 'e', c == 'E', c == '+', c == '-',
			'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			return i, false
		}
	}
	return i, true
}

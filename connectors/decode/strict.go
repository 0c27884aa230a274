package decode

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"

	"github.com/valyala/fastjson"
)

// checkStrict finishes the validation of a value that fastjson's parser has
// accepted, so that Decode accepts exactly RFC 8259 JSON (as encoding/json's
// Valid does). It is scan without limits, for tests.
func checkStrict(b []byte) (int, string) {
	_, at, msg, _ := scan(b, math.MaxInt)
	return at, msg
}

// maxDepth is how deep a record's JSON may nest: fastjson's own limit, so
// that scan, not the parser's recursion (whose error message grows by a
// line per level), rejects deeper values.
const maxDepth = fastjson.MaxDepth

// scan checks, in one flat pass with no recursion, what fastjson's parser
// leaves out, and bounds what parsing b may cost. It runs before the parser,
// so that a record too complex to parse cheaply is rejected at the price of
// reading it up to the limit.
//
// fastjson checks the structure (brackets, commas, colons, string keys,
// nothing after the value) but is lenient inside tokens: it takes any run of
// [0-9.eE+-] for a number, NaN and Inf, raw control characters in strings and
// unknown escapes. scan rejects those, for less than a second full validation
// (fastjson.Validate) would cost, and leaves the structure to the parser: on
// input whose structure is broken it may stop at a token error or find none,
// but every error it reports is a real one.
//
// It also counts the values, as the opening brackets and commas that start
// them (an array's elements, an object's members), and the nesting depth, and
// stops as soon as either passes its limit (maxValues, maxDepth), reporting
// tooComplex.
//
// It returns the number of values, then the offset of the first offending
// byte and what is wrong, or -1.
func scan(b []byte, maxValues int) (values, at int, msg string, tooComplex bool) {
	i, depth := 0, 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"': // the most common by far: keys and string values
			j, msg := checkString(b, i+1)
			if msg != "" {
				return values, j, msg, false
			}
			i = j
		case ',':
			if values++; values > maxValues {
				return values, i, "more than " + strconv.Itoa(maxValues) + " JSON values", true
			}
			i++
		case '{', '[':
			if values++; values > maxValues {
				return values, i, "more than " + strconv.Itoa(maxValues) + " JSON values", true
			}
			if depth++; depth > maxDepth {
				return values, i, "JSON nested deeper than " + strconv.Itoa(maxDepth) + " levels", true
			}
			i++
		case '}', ']':
			depth--
			i++
		case ':', ' ', '\n', '\t', '\r':
			i++
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			j, ok := scanNumber(b, i)
			if !ok {
				return values, i, "invalid number " + snippet(b, i), false
			}
			i = j
		case 't':
			if i+4 > len(b) || string(b[i:i+4]) != "true" {
				return values, i, "invalid value " + snippet(b, i), false
			}
			i += len("true")
		case 'f':
			if i+5 > len(b) || string(b[i:i+5]) != "false" {
				return values, i, "invalid value " + snippet(b, i), false
			}
			i += len("false")
		case 'n':
			if i+4 > len(b) || string(b[i:i+4]) != "null" {
				return values, i, "invalid value " + snippet(b, i), false
			}
			i += len("null")
		default: // NaN, Inf, +1, .5: numbers that fastjson tolerates
			return values, i, "invalid value " + snippet(b, i), false
		}
	}
	return values, -1, "", false
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
			return i, "unterminated string"
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

package schemas

import "strconv"

// intVerdict is what parseInt makes of a JSON value.
type intVerdict int

const (
	intOK         intVerdict = iota // an integer within range
	intOutOfRange                   // an integer outside range
	intNotInteger                   // not a number, or a number that is not an integer
)

// maxExp5 is the largest decimal exponent (after the radix point is taken
// into account) that math/big.Rat.SetString accepts. The schema validator
// reads numbers with it and treats a number it cannot read as no integer,
// so DecodeJob does the same to agree with it.
const maxExp5 = 1_000_000

// parseInt reads the valid JSON value v as an integer in [lo, hi] with
// 0 < lo <= hi < 1e18. As in JSON Schema a number is an integer when its
// value is one, whatever its spelling: 5, 5.0, 0.5e1 and 500e-2 all are. It
// reads the number's digits, never its float value, so it is exact and takes
// time linear in the length of v.
func parseInt(v []byte, lo, hi int64) (int64, intVerdict) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, intNotInteger
	}
	// Fast path: a short plain integer.
	if len(v) <= 18 && allDigits(v) {
		n, _ := strconv.ParseInt(string(v), 10, 64)
		if n < lo || n > hi {
			return n, intOutOfRange
		}
		return n, intOK
	}

	// The grammar is JSON's: -?int(.frac)?([eE][+-]?exp)?
	i := 0
	neg := v[0] == '-'
	if neg {
		i++
	}
	start := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	intDigits := v[start:i]
	var fracDigits []byte
	if i < len(v) && v[i] == '.' {
		i++
		start = i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		fracDigits = v[start:i]
	}
	var exp int64
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		lit := v[i:]
		if len(lit) > 0 && lit[0] == '+' {
			lit = lit[1:]
		}
		var err error
		if exp, err = strconv.ParseInt(string(lit), 10, 64); err != nil {
			return 0, intNotInteger // the exponent overflows int64
		}
	}

	// Significant digits, without leading zeros, and the power of ten
	// (exp5, as math/big calls it) that scales them.
	digits := trimLeadingZeros(append(append([]byte(nil), intDigits...), fracDigits...))
	if len(digits) == 0 {
		if 0 < lo {
			return 0, intOutOfRange
		}
		return 0, intOK
	}
	exp5 := exp - int64(len(fracDigits)) // wraps exactly as math/big's does
	if n := exp5; n != 0 {
		if n < 0 {
			n = -n
		}
		if n < 0 || n > maxExp5 {
			return 0, intNotInteger
		}
	}
	if exp5 < 0 {
		tz := 0
		for tz < len(digits) && digits[len(digits)-1-tz] == '0' {
			tz++
		}
		if int64(tz) < -exp5 {
			return 0, intNotInteger
		}
		digits = digits[:int64(len(digits))+exp5]
		exp5 = 0
	}
	if neg {
		return 0, intOutOfRange // a negative integer, and lo > 0
	}
	if int64(len(digits))+exp5 > 18 {
		return 0, intOutOfRange
	}
	n, _ := strconv.ParseInt(string(digits), 10, 64)
	for ; exp5 > 0; exp5-- {
		n *= 10
	}
	if n < lo || n > hi {
		return n, intOutOfRange
	}
	return n, intOK
}

// allDigits reports whether v is a non-empty run of ASCII digits.
func allDigits(v []byte) bool {
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(v) > 0
}

// trimLeadingZeros returns d without its leading '0' digits.
func trimLeadingZeros(d []byte) []byte {
	for len(d) > 0 && d[0] == '0' {
		d = d[1:]
	}
	return d
}

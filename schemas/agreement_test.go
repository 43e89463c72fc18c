package schemas

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestDecodeJobAgreesOnGeneratedJobs builds job-shaped payloads from a fixed
// seed, each field drawn from values near the rules' edges, and checks that
// DecodeJob and job.v1.schema.json give the same verdict on every one. It
// reaches the structured cases a byte-level fuzzer seldom finds.
func TestDecodeJobAgreesOnGeneratedJobs(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for range n {
		data := []byte(genJob(rng))
		job, err := DecodeJob(data)
		schemaErr := Validate(JobSchema, data)
		if (err == nil) != (schemaErr == nil) {
			t.Fatalf("disagreement on %s:\nDecodeJob: %v\nschema: %v", data, err, schemaErr)
		}
		if err == nil {
			accepted++
			checkRoundTrip(t, job)
		}
	}
	// The generator should produce a fair share of both verdicts.
	if accepted < n/20 || accepted > n-n/20 {
		t.Fatalf("%d of %d generated jobs accepted; the generator has drifted", accepted, n)
	}
}

// genJob returns a random job-shaped JSON object.
func genJob(rng *rand.Rand) string {
	var members []string
	if rng.IntN(20) != 0 {
		members = append(members, member(rng, "id", genString(rng, "aZ09._:-", 1, 130)))
	}
	gens := map[string]func(*rand.Rand) string{
		"target":       func(r *rand.Rand) string { return genString(r, "aZ09_-", 0, 66) },
		"method":       genMethod,
		"path":         func(r *rand.Rand) string { return `"/` + genText(r, "a/?=&%é", 0, 20) + `"` },
		"headers":      genHeaders,
		"body":         genAny,
		"body_base64":  genBase64,
		"timeout_ms":   func(r *rand.Rand) string { return genNumber(r, 86400000) },
		"max_attempts": func(r *rand.Rand) string { return genNumber(r, 100) },
		"not_after":    genDateTime,
		"reply_to":     genSubject,
		"trace_id":     genTraceID,
		"meta":         genAny,
	}
	for name, gen := range gens {
		if rng.IntN(3) == 0 {
			v := gen(rng)
			if rng.IntN(25) == 0 {
				v = genAny(rng) // a value of the wrong type, mostly
			}
			members = append(members, member(rng, name, v))
		}
	}
	if rng.IntN(30) == 0 {
		members = append(members, member(rng, "Colour", `"red"`))
	}
	if rng.IntN(15) == 0 && len(members) > 0 { // a duplicate key
		members = append(members, members[rng.IntN(len(members))])
	}
	rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	return "{" + strings.Join(members, ",") + "}"
}

// member returns `"name":value`, sometimes with the name escaped.
func member(rng *rand.Rand, name, value string) string {
	key := strconv.Quote(name)
	if rng.IntN(20) == 0 {
		key = fmt.Sprintf(`"\u%04x%s"`, name[0], name[1:])
	}
	return key + ":" + value
}

// genString returns a quoted string of n characters from alphabet, n in
// [lo, hi], and sometimes one odd character.
func genString(rng *rand.Rand, alphabet string, lo, hi int) string {
	s := randChars(rng, alphabet, lo+rng.IntN(hi-lo+1))
	return strconv.Quote(s)
}

// genText is genString with more odd characters: spaces, controls, escapes.
func genText(rng *rand.Rand, alphabet string, lo, hi int) string {
	q := genString(rng, alphabet, lo, hi)
	return q[1 : len(q)-1]
}

// randChars returns n characters from alphabet, one of them sometimes odd.
func randChars(rng *rand.Rand, alphabet string, n int) string {
	runes := []rune(alphabet)
	var b strings.Builder
	for range n {
		b.WriteRune(runes[rng.IntN(len(runes))])
	}
	s := b.String()
	if rng.IntN(8) == 0 {
		odd := []string{" ", "\t", "\x00", "\x7f", "\r\n", ".", "*", ">", "=", "é", "\u2028", "\ufffd", "A", "z", "\\"}
		i := rng.IntN(len(s) + 1)
		for i < len(s) && s[i]&0xc0 == 0x80 { // keep UTF-8 sequences whole
			i++
		}
		s = s[:i] + odd[rng.IntN(len(odd))] + s[i:]
	}
	return s
}

func genMethod(rng *rand.Rand) string {
	ms := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "post", "TRACE", "", "CONNECT"}
	return strconv.Quote(ms[rng.IntN(len(ms))])
}

func genHeaders(rng *rand.Rand) string {
	var hs []string
	for range rng.IntN(4) {
		name := randChars(rng, "aZ-_!#~", 1+rng.IntN(6))
		if rng.IntN(20) == 0 {
			name = ""
		}
		value := strconv.Quote(randChars(rng, "a1 ;=/é\t", rng.IntN(8)))
		if rng.IntN(20) == 0 {
			value = genAny(rng)
		}
		hs = append(hs, strconv.Quote(name)+":"+value)
		if rng.IntN(8) == 0 {
			hs = append(hs, strconv.Quote(name)+":"+strconv.Quote("v"))
		}
	}
	return "{" + strings.Join(hs, ",") + "}"
}

func genBase64(rng *rand.Rand) string {
	s := randChars(rng, "aZ09+/", 4*rng.IntN(4))
	switch rng.IntN(4) {
	case 0:
		s += randChars(rng, "aZ", 2) + "=="
	case 1:
		s += randChars(rng, "aZ", 3) + "="
	case 2:
		s += randChars(rng, "aZ=", rng.IntN(4))
	}
	return strconv.Quote(s)
}

// genNumber returns a JSON number near [1, max], spelled in many ways.
func genNumber(rng *rand.Rand, max int) string {
	vals := []int{0, 1, 2, max - 1, max, max + 1, rng.IntN(max + 2)}
	v := vals[rng.IntN(len(vals))]
	sign := ""
	if rng.IntN(10) == 0 {
		sign = "-"
	}
	switch rng.IntN(7) {
	case 0:
		return sign + strconv.Itoa(v) + ".0"
	case 1:
		return sign + strconv.Itoa(v) + ".5"
	case 2:
		return sign + strconv.Itoa(v) + "00e-2"
	case 3:
		return sign + "0." + strconv.Itoa(v) + "e" + strconv.Itoa(len(strconv.Itoa(v)))
	case 4:
		return sign + strconv.Itoa(v) + "E+0"
	case 5:
		return sign + "1e" + strconv.Itoa(rng.IntN(30)-10)
	default:
		return sign + strconv.Itoa(v)
	}
}

// genDateTime returns a date-time with random, mostly plausible parts.
func genDateTime(rng *rand.Rand) string {
	two := func(max int) string { return fmt.Sprintf("%02d", rng.IntN(max+1)) }
	s := fmt.Sprintf("%04d-%s-%s%s%s:%s:%s", rng.IntN(3000), two(13), two(31),
		[]string{"T", "t", " ", "T"}[rng.IntN(4)], two(24), two(60), two(60))
	if rng.IntN(3) == 0 {
		s += "." + randChars(rng, "0123456789", rng.IntN(12))
	}
	zones := []string{"Z", "z", "+" + two(24) + ":" + two(60), "-" + two(24) + ":" + two(60), "", "+0100", "-00:00"}
	s += zones[rng.IntN(len(zones))]
	if rng.IntN(4) == 0 { // a leap second at the end of a UTC day
		s = "2016-12-31T23:59:60" + []string{"Z", "+00:00", "-01:00", "+01:00"}[rng.IntN(4)]
	}
	return strconv.Quote(s)
}

func genSubject(rng *rand.Rand) string {
	var tokens []string
	for range 1 + rng.IntN(4) {
		tokens = append(tokens, randChars(rng, "aZ09_-$", rng.IntN(6)))
	}
	s := strings.Join(tokens, ".")
	if rng.IntN(10) == 0 {
		s = strings.Repeat("ab.", 84) + randChars(rng, "x", rng.IntN(6))
	}
	return strconv.Quote(s)
}

func genTraceID(rng *rand.Rand) string {
	s := randChars(rng, "0123456789abcdef", 31+rng.IntN(3))
	if rng.IntN(10) == 0 {
		s = strings.Repeat("0", 32)
	}
	return strconv.Quote(s)
}

// genAny returns a random JSON value of any type.
func genAny(rng *rand.Rand) string {
	vals := []string{`null`, `true`, `false`, `0`, `-1.5e3`, `"text"`, `""`, `[]`, `{}`,
		`[1,{"a":[null]}]`, `{"nested":{"x":"y"}}`, `"\u00e9\n"`, `12345678901234567890`}
	return vals[rng.IntN(len(vals))]
}

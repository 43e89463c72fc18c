package config

import (
	"fmt"
	"slices"
	"strings"
)

// expand returns s with every ${NAME} replaced by the value of the
// environment variable NAME, as lookupEnv reports it, and every $${ replaced
// by a literal ${. A replaced value is not expanded again. missing lists, once
// each and in order, the referenced variables that are not set; err reports a
// malformed reference. Any other $ is kept as it is.
func expand(s string, lookupEnv func(string) (string, bool)) (out string, missing []string, err error) {
	if !strings.Contains(s, "${") {
		return s, nil, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", nil, fmt.Errorf(`unterminated "${" (write "$${" for a literal "${")`)
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				return "", nil, fmt.Errorf("invalid environment variable reference %q", "${"+name+"}")
			}
			if v, ok := lookupEnv(name); ok {
				b.WriteString(v)
			} else if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
			i += 2 + end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), missing, nil
}

// validEnvName reports whether name is a usable environment variable name:
// a letter or '_', then letters, digits and '_'.
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// noEnv is the environment of Parse when it is given none: every variable is
// unset.
func noEnv(string) (string, bool) { return "", false }

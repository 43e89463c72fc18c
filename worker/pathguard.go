package worker

import (
	"net/url"
	"strings"
)

// dotSlashEscapes decodes the escapes of a dot, a slash and a backslash.
var dotSlashEscapes = strings.NewReplacer("%2e", ".", "%2E", ".", "%2f", "/", "%2F", "/", "%5c", "\\", "%5C", "\\")

// escapesBase reports whether a job's path, once its percent-encoding is
// decoded (%2e is a dot, %2f a slash), climbs above where it starts with
// dot-segments: appended to an endpoint's base path ("https://h/api" +
// "/../admin"), it would leave that base once a server or proxy resolves
// the dots. Such a path is refused; any other is sent byte for byte. The
// query is not looked at.
func escapesBase(path string) bool {
	p, _, _ := strings.Cut(path, "?")
	if dec, err := url.PathUnescape(p); err == nil {
		p = dec
	} else {
		// Not decodable as a whole: decode what can be, so a bad escape
		// elsewhere does not hide a %2e%2e.
		p = dotSlashEscapes.Replace(p)
	}
	// Some servers take a backslash for a slash.
	p = strings.ReplaceAll(p, "\\", "/")
	depth := 0
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if depth == 0 {
				return true
			}
			depth--
		default:
			depth++
		}
	}
	return false
}

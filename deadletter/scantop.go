package deadletter

// scanTop calls fn with each key (quoted, as written) and raw value of the
// top-level JSON object data, in order, without decoding or validating the
// values. It reports false when data is not an object it can walk or fn
// returned false; callers then fall back to encoding/json.
func scanTop(data []byte, fn func(key, value []byte) bool) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return true
	}
	for i < len(data) {
		if data[i] != '"' {
			return false
		}
		keyEnd := skipString(data, i)
		if keyEnd < 0 {
			return false
		}
		j := skipSpace(data, keyEnd)
		if j >= len(data) || data[j] != ':' {
			return false
		}
		j = skipSpace(data, j+1)
		end := skipValue(data, j)
		if end < 0 || !fn(data[i:keyEnd], data[j:end]) {
			return false
		}
		i = skipSpace(data, end)
		switch {
		case i >= len(data):
			return false
		case data[i] == '}':
			return true
		case data[i] != ',':
			return false
		}
		i = skipSpace(data, i+1)
	}
	return false
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at d[i] ('"'),
// or -1.
func skipString(d []byte, i int) int {
	for j := i + 1; j < len(d); j++ {
		switch d[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at d[i], or -1.
func skipValue(d []byte, i int) int {
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				if j = skipString(d, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(d) && d[j] != ',' && d[j] != '}' && d[j] != ']' && d[j] != ' ' && d[j] != '\n' && d[j] != '\t' && d[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

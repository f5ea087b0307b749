package config

import (
	"bytes"
	"fmt"
	"strings"
)

// indentProblem finds the first line whose indentation YAML cannot place,
// in a file the parser has already refused. The parser reports where the
// broken block starts, with its own wording ("did not find expected '-'
// indicator"); the operator needs the line that is off and what is wrong
// with it. It returns false when the file has shapes it does not follow
// (flow collections over several lines, tabs), so the parser's report
// stands.
func indentProblem(data []byte) (line int, msg string, ok bool) {
	levels := []int{0} // the indentations of the blocks open at this line
	opens := false     // the previous line ends in "key:" or "-": a block may start below it
	scalarAt := -1     // inside a block scalar (| or >) started at this indentation
	for i, raw := range bytes.Split(data, []byte("\n")) {
		text := strings.TrimRight(string(raw), "\r")
		body := strings.TrimLeft(text, " ")
		ind := len(text) - len(body)
		if body == "" || body[0] == '#' {
			continue
		}
		if scalarAt >= 0 {
			if ind > scalarAt {
				continue
			}
			scalarAt = -1
		}
		if body[0] == '\t' || strings.ContainsAny(body, "[{") && !balanced(body) {
			return 0, "", false
		}
		if i == 0 && body == "---" {
			continue
		}
		top := levels[len(levels)-1]
		switch {
		case ind > top && opens:
			levels = append(levels, ind)
		case ind > top:
			return i + 1, fmt.Sprintf("indented %d spaces under a line that has a value; line it up with it (%d)", ind, top), true
		default:
			open := joinInts(levels)
			for len(levels) > 1 && levels[len(levels)-1] > ind {
				levels = levels[:len(levels)-1]
			}
			if top := levels[len(levels)-1]; top != ind {
				return i + 1, fmt.Sprintf("indented %d spaces, matching no block above (%s)", ind, open), true
			}
		}
		content := stripComment(body)
		if item, ok := strings.CutPrefix(content, "-"); ok && (item == "" || item[0] == ' ') {
			rest := strings.TrimLeft(item, " ")
			if rest != "" {
				levels = append(levels, ind+len(content)-len(rest)) // the item's keys line up after "- "
			}
			content = rest
		}
		opens = content == "" || strings.HasSuffix(content, ":")
		if strings.HasSuffix(content, "|") || strings.HasSuffix(content, ">") || strings.HasSuffix(content, "|-") || strings.HasSuffix(content, ">-") {
			scalarAt = ind
		}
	}
	return 0, "", false
}

// stripComment drops a trailing " # comment" outside quotes.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && i > 0 && s[i-1] == ' ':
			return strings.TrimRight(s[:i], " ")
		}
	}
	return strings.TrimRight(s, " ")
}

// balanced tells whether the flow collections opened on a line close on it.
func balanced(s string) bool {
	return strings.Count(s, "[") == strings.Count(s, "]") && strings.Count(s, "{") == strings.Count(s, "}")
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

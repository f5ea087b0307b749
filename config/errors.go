package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration file, at a line (1-based;
// 0 when the problem concerns the whole file, such as a read failure).
type Error struct {
	File string
	Line int
	Msg  string

	cause error // the underlying error, for errors.Is (fs.ErrNotExist, ...)
}

// Error formats the problem as "FILE:LINE: message", the form editors and
// CI logs turn into a link.
func (e Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Unwrap returns the underlying error, if any.
func (e Error) Unwrap() error { return e.cause }

// Errors is every problem found in one file. Load and Parse return it as
// *Errors so that an operator fixes all of them in one round.
type Errors struct {
	List []Error
}

// Error prints one problem per line, ordered by line.
func (e *Errors) Error() string {
	if e == nil || len(e.List) == 0 {
		return "no configuration errors"
	}
	var b strings.Builder
	for i, x := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(x.Error())
	}
	return b.String()
}

// Unwrap exposes each problem to errors.Is and errors.As.
func (e *Errors) Unwrap() []error {
	if e == nil {
		return nil
	}
	out := make([]error, len(e.List))
	for i, x := range e.List {
		out[i] = x
	}
	return out
}

// maxErrors bounds the list so that a file of garbage yields a readable
// report, not megabytes of it.
const maxErrors = 200

// maxMessage bounds one message and maxQuoted a value quoted in it, in bytes.
const (
	maxMessage = 600
	maxQuoted  = 100
)

// problems collects errors for one file.
type problems struct {
	file    string
	list    []Error
	dropped int
}

func (p *problems) add(line int, format string, args ...any) {
	if len(p.list) >= maxErrors {
		p.dropped++
		return
	}
	for i, a := range args {
		// Messages quote what the operator wrote; a megabyte-long value
		// is shown by its beginning.
		if s, ok := a.(string); ok && len(s) > maxQuoted {
			args[i] = strings.ToValidUTF8(s[:maxQuoted], "") + "…"
		}
	}
	msg := fmt.Sprintf(format, args...)
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "") + "…"
	}
	p.list = append(p.list, Error{File: p.file, Line: line, Msg: msg})
}

func (p *problems) addCause(line int, cause error, format string, args ...any) {
	p.add(line, format, args...)
	if p.dropped == 0 {
		p.list[len(p.list)-1].cause = cause
	}
}

// err returns the collected problems sorted by line (stable, so problems on
// one line keep the order they were found in), or nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	list := slices.Clone(p.list)
	slices.SortStableFunc(list, func(a, b Error) int { return cmp.Compare(a.Line, b.Line) })
	list = slices.CompactFunc(list, func(a, b Error) bool { return a.Line == b.Line && a.Msg == b.Msg })
	if p.dropped > 0 {
		list = append(list, Error{File: p.file, Msg: fmt.Sprintf("%d more problems not shown; fix the ones above first", p.dropped)})
	}
	return &Errors{List: list}
}

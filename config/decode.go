package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/waitingroom/waitingroom/providers"
)

// MaxFileSize bounds the configuration file. A registry of thousands of
// hosts fits in a fraction of it; anything bigger is a mistake (the wrong
// file, a log) that should be reported rather than parsed.
const MaxFileSize = 4 << 20

// maxNodes bounds the work of decoding, aliases included, so that a small
// file using anchors to repeat a large list many times ("billion laughs")
// is refused instead of exhausting memory and time. A registry of 10,000
// hosts with a dozen settings each stays well below it.
const maxNodes = 300_000

// decoder decodes a yaml.Node tree into the File structs by itself, rather
// than through yaml.Node.Decode, so that every problem — an unknown key, a
// value of the wrong type, a bad duration — is reported with its line and
// its key, all of them in one pass, and so that the line of every setting
// is known to the validator afterwards.
type decoder struct {
	p      *problems
	lines  map[string]int // setting path ("hosts[2].provider") → line
	budget int
	fields map[reflect.Type][]fieldInfo
	labels map[string]string // path → how messages name it: host "app.example.com"
	failed map[string]bool   // paths whose value could not be decoded
	// exhausted: the budget ran out; what was decoded is incomplete and
	// not worth validating.
	exhausted bool
	// kinds are the provider kinds; rest holds, per provider or host
	// path, the keys that are not common settings: the kind's own, decoded
	// once every provider's kind is known (decodeKinds).
	kinds providers.Kinds
	rest  map[string][]pair
	// hints: a setting's explanation of its form, said when it has the
	// wrong one (a field's hint tag).
	hints map[string]string
}

// bad reports a value that could not be decoded. The validator then says
// nothing more about that setting: one problem, one message.
func (d *decoder) bad(path string, line int, format string, args ...any) {
	d.failed[path] = true
	d.p.add(line, format, args...)
}

type fieldInfo struct {
	key   string
	index int
	hint  string
}

var (
	durationType = reflect.TypeFor[Duration]()
	// A kind's settings (package providers/*) use time.Duration: they
	// cannot name config's type.
	stdDurationType = reflect.TypeFor[time.Duration]()
	providerType    = reflect.TypeFor[Provider]()
	hostType        = reflect.TypeFor[Host]()
)

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeFile parses data strictly. It returns the decoded file (as far as it
// could be decoded), the line of every setting present, the settings whose
// value could not be decoded, and whether the file is worth validating
// (false when nothing or too little could be decoded).
func decodeFile(p *problems, data []byte, kinds providers.Kinds) (f File, lines map[string]int, failed map[string]bool, ok bool) {
	d := &decoder{p: p, lines: map[string]int{}, budget: maxNodes, fields: map[reflect.Type][]fieldInfo{}, labels: map[string]string{}, failed: map[string]bool{},
		kinds: kinds, rest: map[string][]pair{}, hints: map[string]string{}}
	if len(data) > MaxFileSize {
		p.add(0, "the file is %d bytes; the limit is %d (is this the right file?)", len(data), MaxFileSize)
		return f, d.lines, d.failed, false
	}
	if line, msg, ok := badText(data); ok {
		p.add(line, "%s", msg)
		return f, d.lines, d.failed, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return f, d.lines, d.failed, true // an empty file: every default
		}
		d.syntax(err, data)
		return f, d.lines, d.failed, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntax(err, data)
	case len(extra.Content) > 0 && !isNull(extra.Content[0]):
		p.add(extra.Line, "a second YAML document starts here; the configuration is one document (remove the \"---\" line or the rest)")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return f, d.lines, d.failed, true // comments only
		}
		root = root.Content[0]
	}
	root = d.resolve(root)
	if root == nil || isNull(root) {
		return f, d.lines, d.failed, true // "~" or an empty document
	}
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "the configuration must be a mapping of settings (listen: ..., hosts: ...), got %s", describeNode(root))
		return f, d.lines, d.failed, false
	}
	d.mapping(root, reflect.ValueOf(&f).Elem(), "")
	if !d.exhausted {
		d.decodeKinds(&f)
	}
	return f, d.lines, d.failed, !d.exhausted
}

// syntax reports a YAML syntax error with the line the parser gives.
func (d *decoder) syntax(err error, data []byte) {
	msg := err.Error()
	if line, why, ok := indentProblem(data); ok {
		// Most syntax errors in a hand-written file are indentation; the
		// parser would name the start of the block, in its own words.
		d.p.addCause(line, err, "bad indentation: %s", why)
		return
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserError(m[2]) {
			// The YAML library prints the parser's 0-based line (its
			// scanner errors are 1-based): the line where the broken
			// list or mapping starts, or where the problem is.
			line++
		}
		// At the end of the file the parser counts one line more than
		// there is.
		d.p.addCause(min(line, lastLine(data)), err, "invalid YAML: %s", m[2])
		return
	}
	// The parser omits the line when the problem is on the first one.
	d.p.addCause(1, err, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// parserError tells the YAML parser's messages from its scanner's.
func parserError(msg string) bool {
	switch msg {
	case "did not find expected <stream-start>", "did not find expected <document start>",
		"did not find expected node content", "did not find expected '-' indicator",
		"did not find expected key", "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"found undefined tag handle", "found duplicate %YAML directive", "found incompatible YAML document",
		"found duplicate %TAG directive":
		return true
	}
	return false
}

// badText finds bytes that make the file something other than text: the
// YAML parser reports them without a line, we report where they are.
func badText(data []byte) (line int, msg string, bad bool) {
	line = 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return line, fmt.Sprintf("the file is not UTF-8 text (byte 0x%02x at offset %d); is it binary or in another encoding?", data[i], i), true
		case isBreak(data, i, r):
			line++
		case r == '\t' || r == '\r' || r == 0x85:
		case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0xfffe || r == 0xffff:
			return line, fmt.Sprintf("control character %U at offset %d; a configuration file is plain text", r, i), true
		case r == 0xfeff && i > 0:
			return line, fmt.Sprintf("byte order mark in the middle of the file at offset %d", i), true
		}
		i += size
	}
	return 0, "", false
}

// isBreak tells whether the rune r at data[i] ends a line for YAML: LF,
// CR not followed by LF, NEL, LS, PS. The parser's line numbers count
// these, so ours do too.
func isBreak(data []byte, i int, r rune) bool {
	switch r {
	case '\n', 0x85, 0x2028, 0x2029:
		return true
	case '\r':
		return i+1 >= len(data) || data[i+1] != '\n'
	}
	return false
}

// lastLine is the number of the file's last line with content.
func lastLine(data []byte) int {
	line, lastBreakEnd := 1, 0
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if isBreak(data, i, r) {
			line++
			lastBreakEnd = i + size
		}
		i += size
	}
	if lastBreakEnd == len(data) && line > 1 {
		line--
	}
	return line
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// resolve follows an alias to the node it names, charging the budget.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// spend charges n nodes of work; false once the budget is exhausted, which
// is reported once.
func (d *decoder) spend(n int) bool {
	if d.budget <= 0 {
		return false
	}
	d.budget -= n
	if d.budget <= 0 {
		d.p.add(0, "the document is too large or repeats anchors too often (more than %d values); decoding stopped", maxNodes)
		d.exhausted = true
		return false
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) fieldsOf(t reflect.Type) []fieldInfo {
	if fs, ok := d.fields[t]; ok {
		return fs
	}
	var fs []fieldInfo
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		fs = append(fs, fieldInfo{key: tag, index: i, hint: t.Field(i).Tag.Get("hint")})
	}
	d.fields[t] = fs
	return fs
}

// pair is one key: value of a mapping, after merge keys ("<<: *base") are
// expanded.
type pair struct {
	key, value *yaml.Node
}

// pairs lists a mapping's entries. Explicit keys win over merged ones, as
// YAML specifies; a key written twice is an error (the YAML library would
// silently keep the last one).
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	return d.mergedPairs(n, path, map[*yaml.Node]bool{n: true})
}

// mergedPairs is pairs for a mapping reached through merge keys; visiting
// holds the mappings being merged, so that a mapping merging itself
// (&a {<<: *a}) is an error rather than an endless loop.
func (d *decoder) mergedPairs(n *yaml.Node, path string, visiting map[*yaml.Node]bool) []pair {
	seen := map[string]int{}
	var out []pair
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.spend(1) {
			return out
		}
		k = d.resolve(k)
		if k == nil || k.Kind != yaml.ScalarNode {
			d.p.add(n.Content[i].Line, "%s: a key must be a plain name, got %s", d.where(path), describeNode(n.Content[i]))
			continue
		}
		if k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge") {
			merges = append(merges, v)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.p.add(k.Line, "%q is set twice in %s (first on line %d); remove one", k.Value, d.where(path), first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{k, v})
	}
	for _, m := range merges {
		out = d.merge(out, seen, m, path, visiting, 0)
	}
	return out
}

func (d *decoder) merge(out []pair, seen map[string]int, m *yaml.Node, path string, visiting map[*yaml.Node]bool, depth int) []pair {
	line := m.Line
	m = d.resolve(m)
	switch {
	case m == nil || depth > 8 || len(visiting) > 8:
		d.p.add(line, "%s: merge key \"<<\" nests too deeply", d.where(path))
		return out
	case visiting[m]:
		d.p.add(line, "%s: merge key \"<<\" merges a mapping into itself", d.where(path))
		return out
	case !d.spend(1):
		return out
	}
	switch m.Kind {
	case yaml.SequenceNode:
		for _, item := range m.Content {
			out = d.merge(out, seen, item, path, visiting, depth+1)
		}
		return out
	case yaml.MappingNode:
		visiting[m] = true
		defer delete(visiting, m)
		for _, p := range d.mergedPairs(m, path, visiting) {
			if _, ok := seen[p.key.Value]; ok {
				continue
			}
			seen[p.key.Value] = p.key.Line
			out = append(out, p)
		}
		return out
	}
	d.p.add(line, "%s: merge key \"<<\" needs a mapping or a list of mappings, got %s", d.where(path), describeNode(m))
	return out
}

// where names a section for messages.
func (d *decoder) where(path string) string {
	if path == "" {
		return "the top level"
	}
	if l, ok := d.labels[path]; ok {
		return l
	}
	return path
}

// name says which setting a message is about: defaults.idle_timeout,
// host "app.example.com": start, provider "exec": timeout.
func (d *decoder) name(path string) string {
	if l, ok := d.labels[path]; ok {
		return l
	}
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return path
	}
	if l, ok := d.labels[path[:i]]; ok {
		return l + ": " + strings.TrimPrefix(path[i:], ".")
	}
	return path
}

// label names an item of a list by its name key, when it has one, so that
// messages say `host "app.example.com"` rather than hosts[7].
func (d *decoder) label(item *yaml.Node, path, list string, i int) {
	noun := map[string]string{"hosts": "host", "users": "user", "tokens": "token"}[list]
	if noun == "" {
		return
	}
	nameKey := map[string]string{"host": "host"}[noun]
	if nameKey == "" {
		nameKey = "name"
	}
	if item = d.resolve(item); item != nil && item.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(item.Content); j += 2 {
			if k, v := item.Content[j], d.resolve(item.Content[j+1]); k.Value == nameKey && v != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
				d.labels[path] = fmt.Sprintf("%s %q", noun, v.Value)
				return
			}
		}
	}
	d.labels[path] = fmt.Sprintf("%s %d (%s)", noun, i+1, path)
}

// mapping decodes a mapping node into the struct v. The keys a provider
// or a host does not have in common with every kind wait in d.rest for
// decodeKinds.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	fs := d.fieldsOf(v.Type())
	for _, p := range d.pairs(n, path) {
		if d.exhausted {
			return
		}
		key := p.key.Value
		f, ok := field(fs, key)
		switch {
		case ok:
			d.field(p, v, f, path)
		case path == "" && strings.HasPrefix(key, "x-"):
			// Extension keys, as in Compose files: a place for anchors
			// (x-defaults: &defaults {...}) that hosts merge with <<.
		case v.Type() == providerType || v.Type() == hostType:
			d.rest[path] = append(d.rest[path], p)
		default:
			d.p.add(p.key.Line, "%s", d.unknownKey(key, path, v.Type(), fs))
		}
	}
}

func field(fs []fieldInfo, key string) (fieldInfo, bool) {
	for _, f := range fs {
		if f.key == key {
			return f, true
		}
	}
	return fieldInfo{}, false
}

// field decodes one key: value into its field of the struct v.
func (d *decoder) field(p pair, v reflect.Value, f fieldInfo, path string) {
	sub := join(path, f.key)
	d.lines[sub] = p.key.Line
	if f.hint != "" {
		d.hints[sub] = f.hint
	}
	d.value(p.value, v.Field(f.index), sub, f.key)
}

// decodeKinds decodes the keys of each provider and host that belong to
// its kind into the kind's own settings (Kind.Settings, Kind.Target). A
// key of another kind is named as such; a key of no kind is unknown.
// Providers of an unknown type, and their hosts, are reported by the
// validator; only keys that belong to no kind are reported here.
func (d *decoder) decodeKinds(f *File) {
	for _, name := range slices.Sorted(maps.Keys(f.Providers)) {
		p := f.Providers[name]
		path := "providers." + name
		k, ok := d.kinds.Lookup(cmp.Or(p.Type, name))
		if !ok {
			d.restOfNoKind(path, providerType, func(k providers.Kind) any { return k.Settings() })
			continue
		}
		s := k.Settings()
		d.restOfKind(path, providerType, s, func(k providers.Kind) any { return k.Settings() }, func(line int, key string, other providers.Kind) {
			d.p.add(line, "provider %q: %q is a setting of %s providers, not %s", name, key, other.Name, k.Name)
		})
		p.Settings = s
		f.Providers[name] = p
	}
	for i := range f.Hosts {
		h := &f.Hosts[i]
		path := "hosts[" + strconv.Itoa(i) + "]"
		p, defined := f.Providers[h.Provider]
		k, ok := d.kinds.Lookup(cmp.Or(p.Type, h.Provider))
		if !defined || !ok {
			d.restOfNoKind(path, hostType, func(k providers.Kind) any { return k.Target() })
			continue
		}
		t := k.Target()
		d.restOfKind(path, hostType, t, func(k providers.Kind) any { return k.Target() }, func(line int, key string, other providers.Kind) {
			d.p.add(line, "%s: %q is a setting of %s hosts, but provider %q is %s (%s hosts take %s)",
				d.where(path), key, other.Name, h.Provider, k.Name, k.Name, strings.Join(keysOf(d.fieldsOf(reflect.TypeOf(t).Elem())), ", "))
		})
		h.Target = t
	}
}

// restOfKind decodes the keys of path left for its kind into dst, a
// pointer to the kind's settings; settingsOf gives any kind's settings, to
// name a key of another kind (otherKind reports it).
func (d *decoder) restOfKind(path string, common reflect.Type, dst any, settingsOf func(providers.Kind) any, otherKind func(line int, key string, other providers.Kind)) {
	v := reflect.ValueOf(dst).Elem()
	fs := d.fieldsOf(v.Type())
	for _, p := range d.rest[path] {
		if d.exhausted {
			return
		}
		key := p.key.Value
		if f, ok := field(fs, key); ok {
			d.field(p, v, f, path)
			continue
		}
		if other, ok := d.kindWith(key, settingsOf); ok {
			otherKind(p.key.Line, key, other)
			continue
		}
		known := append(slices.Clone(d.fieldsOf(common)), fs...)
		d.p.add(p.key.Line, "%s", d.unknownKey(key, path, common, known))
	}
}

// restOfNoKind reports the keys of path, whose kind is not known, that
// belong to no kind.
func (d *decoder) restOfNoKind(path string, common reflect.Type, settingsOf func(providers.Kind) any) {
	known := slices.Clone(d.fieldsOf(common))
	for _, k := range d.kinds {
		known = append(known, d.fieldsOf(reflect.TypeOf(settingsOf(k)).Elem())...)
	}
	for _, p := range d.rest[path] {
		if _, ok := d.kindWith(p.key.Value, settingsOf); !ok {
			d.p.add(p.key.Line, "%s", d.unknownKey(p.key.Value, path, common, known))
		}
	}
}

// kindWith finds the first kind, by name, whose settings have key.
func (d *decoder) kindWith(key string, settingsOf func(providers.Kind) any) (providers.Kind, bool) {
	for _, name := range d.kinds.Names() {
		k, _ := d.kinds.Lookup(name)
		if _, ok := field(d.fieldsOf(reflect.TypeOf(settingsOf(k)).Elem()), key); ok {
			return k, true
		}
	}
	return providers.Kind{}, false
}

func keysOf(fs []fieldInfo) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key
	}
	return out
}

// value decodes n into v, which has the type of the setting at path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path, key string) {
	line := n.Line
	if n = d.resolve(n); n == nil {
		d.bad(path, line, "%s: alias leads nowhere", d.name(path))
		return
	}
	if !d.spend(1) {
		return
	}
	t := v.Type()
	switch {
	case t == durationType || t == stdDurationType:
		if n.Kind != yaml.ScalarNode {
			d.bad(path, line, "%s: expected a duration like 30m, got %s", d.name(path), describeNode(n))
			return
		}
		if isNull(n) {
			return
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.bad(path, line, "%s: %v", d.name(path), err)
			return
		}
		v.Set(reflect.ValueOf(dur).Convert(t))
	case t.Kind() == reflect.Struct:
		switch {
		case isNull(n):
		case n.Kind != yaml.MappingNode:
			d.bad(path, line, "%s: expected a mapping of settings (key: value), got %s", d.name(path), describeNode(n))
		default:
			d.mapping(n, v, path)
		}
	case t.Kind() == reflect.Map:
		switch {
		case isNull(n):
		case n.Kind != yaml.MappingNode:
			d.bad(path, line, "%s: expected a mapping of names to settings, got %s", d.name(path), describeNode(n))
		default:
			m := reflect.MakeMap(t)
			for _, p := range d.pairs(n, path) {
				if d.exhausted {
					break
				}
				name := p.key.Value
				sub := path + "." + name
				d.lines[sub] = p.key.Line
				if path == "providers" {
					d.labels[sub] = fmt.Sprintf("provider %q", name)
				}
				elem := reflect.New(t.Elem()).Elem()
				d.value(p.value, elem, sub, name)
				m.SetMapIndex(reflect.ValueOf(name), elem)
			}
			v.Set(m)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		switch {
		case isNull(n):
		case n.Kind != yaml.SequenceNode:
			d.bad(path, line, "%s: expected a list (lines starting with \"- \"), got %s", d.name(path), describeNode(n))
		default:
			s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
			for i, item := range n.Content {
				if d.exhausted {
					break
				}
				sub := path + "[" + strconv.Itoa(i) + "]"
				d.lines[sub] = item.Line
				d.label(item, sub, key, i)
				if it := d.resolve(item); it == nil || isNull(it) {
					d.bad(sub, item.Line, "%s: item %d is empty", d.name(path), i+1)
					continue
				}
				d.value(item, s.Index(i), sub, fmt.Sprintf("%s item %d", key, i+1))
			}
			v.Set(s)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		d.strings(n, line, v, path, key)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool:
		if isNull(n) {
			return
		}
		b := reflect.New(t.Elem())
		if d.scalar(n, line, b.Elem(), path, key) {
			v.Set(b)
		}
	default:
		d.scalar(n, line, v, path, key)
	}
}

// strings decodes a list of strings, remembering each item's line.
func (d *decoder) strings(n *yaml.Node, line int, v reflect.Value, path, key string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if h := d.hints[path]; h != "" {
			hint = " (" + h + ")"
		}
		d.bad(path, line, "%s: expected a list of strings, got %s%s", d.name(path), describeNode(n), hint)
		return
	}
	if !d.spend(len(n.Content)) {
		return
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		d.lines[path+"["+strconv.Itoa(i)+"]"] = item.Line
		it := d.resolve(item)
		if it == nil || it.Kind != yaml.ScalarNode || isNull(it) {
			d.bad(path, item.Line, "%s: item %d: expected a string, got %s", d.name(path), i+1, describeNode(item))
			continue
		}
		out = append(out, it.Value)
	}
	v.Set(reflect.ValueOf(out))
}

// scalar decodes a string, int or bool.
func (d *decoder) scalar(n *yaml.Node, line int, v reflect.Value, path, key string) bool {
	if n.Kind != yaml.ScalarNode {
		d.bad(path, line, "%s: expected %s, got %s", d.name(path), describeType(v.Type()), describeNode(n))
		return false
	}
	if isNull(n) {
		return true
	}
	switch v.Kind() {
	case reflect.String:
		if n.ShortTag() == "!!binary" {
			d.bad(path, line, "%s: expected a string, got binary data", d.name(path))
			return false
		}
		v.SetString(n.Value)
		return true
	case reflect.Int:
		var i int
		if n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.bad(path, line, "%s: expected a whole number, got %s", d.name(path), describeNode(n))
			return false
		}
		v.SetInt(int64(i))
		return true
	case reflect.Bool:
		var b bool
		if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.bad(path, line, "%s: expected true or false, got %s", d.name(path), describeNode(n))
			return false
		}
		v.SetBool(b)
		return true
	}
	// Every field type of File is handled above; a new one needs a case.
	d.bad(path, line, "%s: settings of type %s are not supported by the decoder", d.name(path), v.Type())
	return false
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	}
	return t.String()
}

// describeNode says what the operator wrote, briefly.
func describeNode(n *yaml.Node) string {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		v := n.Value
		if utf8.RuneCountInString(v) > 40 {
			v = string([]rune(v)[:40]) + "…"
		}
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + v
		case "!!bool":
			return "the boolean " + v
		}
		return strconv.Quote(v)
	}
	return "something else"
}

// unknownKey explains a key the schema does not have, suggesting the key
// that was probably meant.
func (d *decoder) unknownKey(key, path string, t reflect.Type, fs []fieldInfo) string {
	msg := fmt.Sprintf("unknown key %q in %s", key, d.where(path))
	if path == "" {
		msg = fmt.Sprintf("unknown top-level key %q", key)
	}
	if s, ok := suggest(key, keysOf(fs)); ok {
		return msg + fmt.Sprintf(" (did you mean %q?)", s)
	}
	switch {
	case t == reflect.TypeFor[File]() && d.hasKey(reflect.TypeFor[Defaults](), key, nil):
		return msg + fmt.Sprintf(" (it belongs under defaults: or a host: defaults.%s)", key)
	case t == hostType && d.hasKey(providerType, key, func(k providers.Kind) any { return k.Settings() }):
		return msg + fmt.Sprintf(" (%q is a provider setting: put it under providers.NAME)", key)
	case t == providerType && d.hasKey(hostType, key, func(k providers.Kind) any { return k.Target() }):
		return msg + fmt.Sprintf(" (%q is a host setting: put it on each host using this provider)", key)
	case t == reflect.TypeFor[File]() && d.hasKey(hostType, key, func(k providers.Kind) any { return k.Target() }):
		return msg + fmt.Sprintf(" (%q is a host setting: put it on an item of hosts:)", key)
	}
	return msg
}

// hasKey tells whether the struct t, or any kind's settings (settingsOf,
// when given), has key.
func (d *decoder) hasKey(t reflect.Type, key string, settingsOf func(providers.Kind) any) bool {
	if _, ok := field(d.fieldsOf(t), key); ok {
		return true
	}
	if settingsOf == nil {
		return false
	}
	_, ok := d.kindWith(key, settingsOf)
	return ok
}

// suggest returns the known key closest to key, if it is close enough to
// be a typo: same letters up to case and -/_, or a small edit distance.
func suggest(key string, known []string) (string, bool) {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	best, bestDist := "", 1<<30
	for _, k := range known {
		if norm(k) == norm(key) {
			return k, true
		}
		if dist := editDistance(norm(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	limit := 1
	if len(key) >= 5 {
		limit = 2
	}
	if len(key) >= 10 {
		limit = 3
	}
	return best, best != "" && bestDist <= limit
}

// editDistance is the Damerau–Levenshtein distance (optimal string
// alignment): a swapped pair of letters counts as one edit.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // no key is that long; not a typo of one
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

package tests

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/schemas"
)

// The contract's pages (docs/contract.md and the pages it links) are checked
// here against the code, so that they cannot drift from it unnoticed. Every
// list the checks compare against comes from the code itself: the config keys
// from dispatcher/config/keys.go, the error classes, reasons, headers, exit
// statuses, commands and flags from their declarations (parsed with go/ast),
// the metric names from a live registry. Nothing needs a server.

const (
	docsDir       = "../docs"
	contractPage  = "contract.md"
	configPage    = "config.md"
	cliPage       = "cli.md"
	targetNameKey = "<name>" // stands for any target's name in a key path
)

// readDoc returns the text of a page of docs/.
func readDoc(t *testing.T, page string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(docsDir, page))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseGoDir parses the non-test Go files of dir, relative to tests/.
func parseGoDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	return files
}

// constValues returns the literal values of the constants of files whose
// names start with prefix, by name.
func constValues(files []*ast.File, prefix string) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, prefix) || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						continue
					}
					v := lit.Value
					if lit.Kind == token.STRING {
						v, _ = strconv.Unquote(v)
					}
					out[name.Name] = v
				}
			}
		}
	}
	return out
}

// listValues keys the values of a vocabulary list by themselves.
func listValues(vs []string) map[string]string {
	out := make(map[string]string, len(vs))
	for _, v := range vs {
		out[v] = v
	}
	return out
}

// mdTable is a Markdown table: its header cells and rows of cells, with the
// line number of each row.
type mdTable struct {
	head  []string
	rows  [][]string
	lines []int
}

// mdTables returns the tables of a Markdown page.
func mdTables(text string) []mdTable {
	var out []mdTable
	var cur *mdTable
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			cur = nil
			continue
		}
		cells := splitRow(line)
		switch {
		case cur == nil:
			out = append(out, mdTable{head: cells})
			cur = &out[len(out)-1]
		case strings.Trim(line, "|-: ") == "":
			// the separator row
		default:
			cur.rows = append(cur.rows, cells)
			cur.lines = append(cur.lines, i+1)
		}
	}
	return out
}

// splitRow splits a table row into trimmed cells; `\|` does not split.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			b.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}

// codeSpan is a table cell that is exactly one code span; it yields the
// span's content.
var codeSpan = regexp.MustCompile("^`([^`]+)`$")

// --- config keys -----------------------------------------------------------

// loaderKeys returns the dotted paths of every leaf key the config loader
// accepts, as dispatcher/config/keys.go declares them: the keys of its
// map[string]field literals and of its fields["key"] = ... assignments,
// nested as its decoder methods nest them. Below targets, a target's name
// is targetNameKey.
func loaderKeys(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../dispatcher/config/keys.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := &keyWalker{methods: map[string]*ast.FuncDecl{}, active: map[string]bool{}}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil {
			w.methods[fd.Name.Name] = fd
		}
	}
	root := keyTree{}
	decode, ok := w.methods["config"]
	if !ok {
		t.Fatal("keys.go has no (*decoder).config: the key walk must follow the file's new shape")
	}
	w.collect(root, decode.Body)
	var out []string
	root.leaves("", &out)
	slices.Sort(out)
	return out
}

// keyTree is a tree of config keys.
type keyTree map[string]keyTree

func (k keyTree) child(name string) keyTree {
	if k[name] == nil {
		k[name] = keyTree{}
	}
	return k[name]
}

func (k keyTree) leaves(prefix string, out *[]string) {
	for name, sub := range k {
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		if len(sub) == 0 {
			*out = append(*out, p)
		} else {
			sub.leaves(p, out)
		}
	}
}

// keyWalker walks the decoder methods of keys.go.
type keyWalker struct {
	methods map[string]*ast.FuncDecl
	active  map[string]bool // methods being walked (no recursion)
}

// collect adds to into the keys that n declares.
func (w *keyWalker) collect(into keyTree, n ast.Node) {
	ast.Inspect(n, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.CompositeLit:
			if !isFieldMap(x.Type) {
				return true
			}
			for _, e := range x.Elts {
				kv := e.(*ast.KeyValueExpr)
				if name, ok := stringLit(kv.Key); ok {
					w.collect(into.child(name), kv.Value)
				}
			}
			return false
		case *ast.AssignStmt: // fields["endpoints"] = ...
			if ix, ok := x.Lhs[0].(*ast.IndexExpr); ok && len(x.Lhs) == 1 {
				if name, ok := stringLit(ix.Index); ok {
					w.collect(into.child(name), x.Rhs[0])
					return false
				}
			}
		case *ast.CallExpr:
			sel, ok := x.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			// d.fields("defaults", ...) and d.entries("targets", ...) name
			// their key path with a literal.
			if len(x.Args) > 0 && (sel.Sel.Name == "fields" || sel.Sel.Name == "entries") {
				if path, ok := stringLit(x.Args[0]); ok {
					at := into // "": the node being decoded
					if path != "" {
						for _, p := range strings.Split(path, ".") {
							at = at.child(p)
						}
					}
					if sel.Sel.Name == "entries" {
						at = at.child(targetNameKey)
					}
					for _, a := range x.Args[1:] {
						w.collect(at, a)
					}
					return false
				}
			}
			if fd := w.methods[sel.Sel.Name]; fd != nil && !w.active[fd.Name.Name] {
				w.active[fd.Name.Name] = true
				w.collect(into, fd.Body)
				delete(w.active, fd.Name.Name)
			}
		}
		return true
	})
}

// isFieldMap reports whether e is the type map[string]field.
func isFieldMap(e ast.Expr) bool {
	m, ok := e.(*ast.MapType)
	if !ok {
		return false
	}
	k, ok1 := m.Key.(*ast.Ident)
	v, ok2 := m.Value.(*ast.Ident)
	return ok1 && ok2 && k.Name == "string" && v.Name == "field"
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// configDoc builds a config file holding value at the key path (targetNameKey
// read as "t"), merged into base.
func configDoc(t *testing.T, base map[string]any, path string, value any) []byte {
	t.Helper()
	doc := map[string]any{}
	for k, v := range base {
		doc[k] = deepCopy(v)
	}
	parts := strings.Split(strings.ReplaceAll(path, targetNameKey, "t"), ".")
	at := doc
	for _, p := range parts[:len(parts)-1] {
		next, ok := at[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			at[p] = next
		}
		at = next
	}
	at[parts[len(parts)-1]] = value
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func deepCopy(v any) any {
	if m, ok := v.(map[string]any); ok {
		c := make(map[string]any, len(m))
		for k, v := range m {
			c[k] = deepCopy(v)
		}
		return c
	}
	return v
}

// unknownKeyAt reports whether parsing data reports path as an unknown key.
func unknownKeyAt(data []byte, path string) bool {
	_, err := config.Parse(data, nil)
	var ce *config.Error
	if !errors.As(err, &ce) {
		return false
	}
	path = strings.ReplaceAll(path, targetNameKey, "t")
	for _, fe := range ce.Errors {
		if fe.Path == path && strings.HasPrefix(fe.Msg, "unknown key") {
			return true
		}
	}
	return false
}

// docKey is a row of a key table of config.md.
type docKey struct {
	key, def string
	full     string // the loader's path of key
	line     int
}

// docConfigKeys returns the rows of the key tables of config.md (tables whose
// first header cell is "key"), each resolved to the loader's path: a per-target
// setting to defaults.<key>, a target-only key to targets.<name>.<key>.
func docConfigKeys(t *testing.T, loader map[string]bool) []docKey {
	t.Helper()
	var out []docKey
	for _, tb := range mdTables(readDoc(t, configPage)) {
		if len(tb.head) < 3 || tb.head[0] != "key" || tb.head[2] != "default" {
			continue
		}
		for i, row := range tb.rows {
			m := codeSpan.FindStringSubmatch(row[0])
			if m == nil || len(row) < 3 {
				t.Errorf("%s:%d: a key table row must start with the key as one code span: %q", configPage, tb.lines[i], row[0])
				continue
			}
			dk := docKey{key: m[1], def: row[2], line: tb.lines[i]}
			for _, full := range []string{"defaults." + dk.key, "targets." + targetNameKey + "." + dk.key, dk.key} {
				if loader[full] {
					dk.full = full
					break
				}
			}
			if dk.full == "" {
				t.Errorf("%s:%d: key %q is documented but the config loader does not accept it", configPage, dk.line, dk.key)
				continue
			}
			out = append(out, dk)
		}
	}
	return out
}

// TestDocsConfigKeys checks that every key the config loader accepts is
// documented in a key table of docs/config.md, and that every documented key
// exists.
func TestDocsConfigKeys(t *testing.T) {
	keys := loaderKeys(t)
	loader := map[string]bool{}
	for _, k := range keys {
		loader[k] = true
	}
	// The walk of keys.go must agree with the loader: each key it found is
	// accepted, and a made-up key is not.
	base := map[string]any{"targets": map[string]any{"t": map[string]any{"endpoints": []string{"https://example.com"}}}}
	for _, k := range keys {
		if unknownKeyAt(configDoc(t, base, k, nil), k) {
			t.Errorf("the walk of keys.go found %q, but the loader rejects it: fix loaderKeys", k)
		}
	}
	for _, k := range []string{"defaults.retry.no_such_key", "targets." + targetNameKey + ".no_such_key", "no_such_key"} {
		if !unknownKeyAt(configDoc(t, base, k, nil), k) {
			t.Fatalf("the loader accepted the made-up key %q: the unknown-key probe is broken", k)
		}
	}
	for _, want := range []string{"defaults.", "targets." + targetNameKey + ".", "nats."} {
		if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, want) }) {
			t.Fatalf("the walk of keys.go found no key under %s (found %v): fix loaderKeys", want, keys)
		}
	}

	documented := map[string]int{}
	for _, dk := range docConfigKeys(t, loader) {
		if prev, dup := documented[dk.full]; dup {
			t.Errorf("%s:%d: key %q is documented twice (also line %d)", configPage, dk.line, dk.key, prev)
		}
		documented[dk.full] = dk.line
	}
	for _, k := range keys {
		switch {
		case documented[k] > 0:
		case strings.HasPrefix(k, "targets."+targetNameKey+".") && documented["defaults."+strings.TrimPrefix(k, "targets."+targetNameKey+".")] > 0:
			// a per-target setting, documented once for defaults and targets
		default:
			t.Errorf("config key %s is accepted by the loader but not documented in a key table of docs/%s", k, configPage)
		}
	}
}

// TestDocsConfigDefaults checks every default of docs/config.md that is given
// as a value (a code span): setting the key to it changes nothing.
func TestDocsConfigDefaults(t *testing.T) {
	keys := loaderKeys(t)
	loader := map[string]bool{}
	for _, k := range keys {
		loader[k] = true
	}
	base := map[string]any{"targets": map[string]any{"t": map[string]any{"endpoints": []string{"https://example.com"}}}}
	baseDoc, err := yaml.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	want, err := config.Parse(baseDoc, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := docConfigKeys(t, loader)
	checked := 0
	for _, dk := range rows {
		m := codeSpan.FindStringSubmatch(dk.def)
		if m == nil {
			continue // "none", "required", or a rule in words
		}
		checked++
		var v any
		if err := yaml.Unmarshal([]byte(m[1]), &v); err != nil {
			t.Errorf("%s:%d: default of %s, %s, is not a YAML value: %v", configPage, dk.line, dk.key, dk.def, err)
			continue
		}
		got, err := config.Parse(configDoc(t, base, dk.full, v), nil)
		if err != nil {
			t.Errorf("%s:%d: setting %s to its documented default %s is refused: %v", configPage, dk.line, dk.full, dk.def, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:%d: %s is documented with default %s, but setting it to that changes the config:\n got %+v\nwant %+v",
				configPage, dk.line, dk.full, dk.def, got, want)
		}
	}
	if checked < len(rows)/2 {
		t.Errorf("only %d of %d documented defaults are values in code spans: the check would miss drift", checked, len(rows))
	}
}

// TestDocsConfigExamples checks that every YAML example of a whole config
// file in the docs (one with a targets key) is valid.
func TestDocsConfigExamples(t *testing.T) {
	// Any variable is set, to a value that also passes as a signing secret.
	env := func(string) (string, bool) { return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true }
	n := 0
	for _, page := range []string{configPage, contractPage} {
		for _, block := range codeBlocks(readDoc(t, page), "yaml") {
			var top map[string]any
			if yaml.Unmarshal([]byte(block.text), &top) != nil || top["targets"] == nil {
				continue
			}
			n++
			if _, err := config.Parse([]byte(block.text), env); err != nil {
				t.Errorf("%s:%d: the example config is invalid:\n%v", page, block.line, err)
			}
		}
	}
	if n == 0 {
		t.Errorf("docs/%s has no example config", configPage)
	}
}

// codeBlock is a fenced code block and the line it starts on.
type codeBlock struct {
	text string
	line int
}

// codeBlocks returns the fenced code blocks of text tagged lang, each with
// the text before it.
func codeBlocks(text, lang string) []codeBlock {
	var out []codeBlock
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```"+lang {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		out = append(out, codeBlock{text: strings.Join(lines[start:min(i, len(lines))], "\n"), line: start})
	}
	return out
}

// --- vocabulary ------------------------------------------------------------

// TestDocsVocabulary checks that every error class, dead-letter reason,
// outcome, Dispatch-* and webhook header, cut part, park reason, audit
// action and result, and every stream and KV bucket of the code is in the
// contract.
func TestDocsVocabulary(t *testing.T) {
	contract := readDoc(t, contractPage)
	schemasGo := parseGoDir(t, "../schemas")
	for _, tc := range []struct {
		what   string
		values map[string]string
		// row: the value must start a table cell; else appear as a code span.
		row bool
		// fold: compare case-insensitively (HTTP header names).
		fold bool
	}{
		{"error class (schemas.ErrorClasses)", listValues(schemas.ErrorClasses), true, false},
		{"dead-letter reason (schemas.Reasons)", listValues(schemas.Reasons), true, false},
		{"outcome (schemas.Outcomes)", listValues(schemas.Outcomes), true, false},
		{"header (schemas.Header*)", constValues(schemasGo, "Header"), false, true},
		{"cut part (schemas.CutParts)", listValues(schemas.CutParts), true, false},
		{"park reason (schemas.ParkReasons)", listValues(schemas.ParkReasons), false, false},
		{"audit action (schemas.AuditActions)", listValues(schemas.AuditActions), false, false},
		{"audit result (schemas.AuditResults)", listValues(schemas.AuditResults), false, false},
		{"stream, bucket (schemas.Topology)", topologyNames(), false, false},
	} {
		if len(tc.values) == 0 {
			t.Errorf("no %s found in the code: the search is broken", tc.what)
		}
		doc := contract
		if tc.fold {
			doc = strings.ToLower(doc)
		}
		for _, name := range slices.Sorted(maps.Keys(tc.values)) {
			v := tc.values[name]
			if tc.fold {
				v = strings.ToLower(v)
			}
			needle := "`" + v + "`"
			if tc.row {
				needle = "| " + needle
			}
			if !strings.Contains(doc, needle) {
				t.Errorf("%s %s = %q is not in docs/%s (looked for %q)", tc.what, name, tc.values[name], contractPage, needle)
			}
		}
	}
}

// topologyNames are the streams and buckets of schemas.Topology as the
// contract spells them: <S>_JOBS, <b>_pauses.
func topologyNames() map[string]string {
	topo := schemas.Topology{Prefix: "x"}
	names := map[string]string{}
	for what, name := range map[string]string{
		"JobsStream": topo.JobsStream(), "SchedStream": topo.SchedStream(), "DLQStream": topo.DLQStream(),
		"FallbackStream": topo.FallbackStream(), "AuditStream": topo.AuditStream(),
		"InstancesBucket": topo.InstancesBucket(), "BreakersBucket": topo.BreakersBucket(),
		"KeysBucket": topo.KeysBucket(), "PausesBucket": topo.PausesBucket(),
	} {
		if rest, ok := strings.CutPrefix(name, "X_"); ok {
			names[what] = "<S>_" + rest
		} else {
			names[what] = "<b>" + strings.TrimPrefix(name, "x")
		}
	}
	return names
}

// TestDocsExitStatuses checks that every exit status of cmd/dispatcher has a
// row in the contract's table of exit statuses.
func TestDocsExitStatuses(t *testing.T) {
	contract := readDoc(t, contractPage)
	codes := constValues(parseGoDir(t, "../cmd/dispatcher"), "exit")
	if len(codes) == 0 {
		t.Fatal("no exit* constant found in cmd/dispatcher: the search is broken")
	}
	for name, v := range codes {
		if !strings.Contains(contract, "| `"+v+"` |") {
			t.Errorf("exit status %s = %s has no row in docs/%s", name, v, contractPage)
		}
	}
}

// --- command line ----------------------------------------------------------

// pflagMethod matches the pflag methods that define a flag.
var pflagMethod = regexp.MustCompile(`^(Bool|String|StringSlice|StringArray|Int|Int32|Int64|Uint|UintSlice|Float64|Duration|Count)(Var)?P?$`)

// isFlagSet reports whether e is how cmd/dispatcher spells a flag set:
// fl (from fl := cmd.Flags()) or cmd.Flags() / cmd.PersistentFlags().
func isFlagSet(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "fl"
	case *ast.CallExpr:
		sel, ok := x.Fun.(*ast.SelectorExpr)
		return ok && (sel.Sel.Name == "Flags" || sel.Sel.Name == "PersistentFlags")
	}
	return false
}

// TestDocsCommands checks that every command of cmd/dispatcher (as its
// cobra.Command literals and AddCommand calls wire them) and every flag it
// defines is in docs/cli.md.
func TestDocsCommands(t *testing.T) {
	cli := readDoc(t, cliPage)
	files := parseGoDir(t, "../cmd/dispatcher")
	use := map[string]string{}        // function -> its command's name
	children := map[string][]string{} // function -> functions of its subcommands
	flags := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.CompositeLit:
					if sel, ok := x.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Command" {
						for _, e := range x.Elts {
							kv, ok := e.(*ast.KeyValueExpr)
							if !ok {
								continue
							}
							if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Use" {
								if s, ok := stringLit(kv.Value); ok && s != "" {
									use[fd.Name.Name] = strings.Fields(s)[0]
								}
							}
						}
					}
				case *ast.CallExpr:
					sel, ok := x.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					if sel.Sel.Name == "AddCommand" {
						for _, a := range x.Args {
							if c, ok := a.(*ast.CallExpr); ok {
								if id, ok := c.Fun.(*ast.Ident); ok {
									children[fd.Name.Name] = append(children[fd.Name.Name], id.Name)
								}
							}
						}
					}
					if m := pflagMethod.FindStringSubmatch(sel.Sel.Name); m != nil && isFlagSet(sel.X) {
						i := 0
						if m[2] == "Var" {
							i = 1
						}
						if i < len(x.Args) {
							if name, ok := stringLit(x.Args[i]); ok {
								flags[name] = true
							}
						}
					}
				}
				return true
			})
		}
	}
	var root string
	for fn, name := range use {
		if name == "dispatcher" {
			root = fn
		}
	}
	if root == "" {
		t.Fatal(`no cobra.Command with Use "dispatcher" found: the search is broken`)
	}
	var paths []string
	var walk func(fn, prefix string)
	walk = func(fn, prefix string) {
		p := strings.TrimSpace(prefix + " " + use[fn])
		paths = append(paths, p)
		for _, c := range children[fn] {
			walk(c, p)
		}
	}
	walk(root, "")
	if len(paths) < 2 {
		t.Fatalf("found only the commands %v: the search is broken", paths)
	}
	for _, p := range paths {
		if !strings.Contains(cli, "`"+p+"`") && !strings.Contains(cli, "`"+p+" ") {
			t.Errorf("command %q is not in docs/%s", p, cliPage)
		}
	}
	if len(flags) == 0 {
		t.Fatal("no flag definition found: the search is broken")
	}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		if !strings.Contains(cli, "`--"+name+"`") && !strings.Contains(cli, "`--"+name+" ") && !strings.Contains(cli, "`--"+name+"`,") {
			t.Errorf("flag --%s is not in docs/%s", name, cliPage)
		}
	}
}

// --- metrics ---------------------------------------------------------------

// TestDocsMetrics checks the contract's table of metrics against the series
// the service registers: every series of the dispatcher_ namespace has a row
// naming its labels, and every row is a series.
func TestDocsMetrics(t *testing.T) {
	contract := readDoc(t, contractPage)
	m := everySeries()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // metric -> its row
	for _, tb := range mdTables(contract) {
		if len(tb.head) == 0 || tb.head[0] != "metric" {
			continue
		}
		for i, row := range tb.rows {
			mm := codeSpan.FindStringSubmatch(row[0])
			if mm == nil {
				t.Errorf("%s:%d: a metric row must start with the metric as one code span", contractPage, tb.lines[i])
				continue
			}
			rows[mm[1]] = strings.Join(row, " | ")
		}
	}
	seen := map[string]bool{}
	for _, fam := range families {
		name := fam.GetName()
		if !strings.HasPrefix(name, metrics.Namespace+"_") {
			continue
		}
		seen[name] = true
		row, ok := rows[name]
		if !ok {
			t.Errorf("metric %s has no row in the metrics table of docs/%s", name, contractPage)
			continue
		}
		for _, mt := range fam.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if !strings.Contains(row, "`"+lp.GetName()+"`") {
					t.Errorf("the row of metric %s in docs/%s does not name its label %s", name, contractPage, lp.GetName())
				}
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no dispatcher_ series gathered: the check is broken")
	}
	for name := range rows {
		if !seen[name] {
			t.Errorf("docs/%s lists metric %s, which the service does not register", contractPage, name)
		}
	}
}

// everySeries returns a Metrics that has had one event of each kind, so
// that every labelled series of the service exists.
func everySeries() *metrics.Metrics {
	m := metrics.New(metrics.BuildInfo{})
	m.Target("t", "https://e.example")
	m.AttemptStarted("t", "https://e.example")
	m.AttemptDone("t", "https://e.example", 503, "http_5xx", time.Millisecond)
	m.JobEnded("t", schemas.OutcomeFallback, schemas.ReasonCircuitOpen)
	m.RetryScheduled("t", "http_5xx", time.Second)
	m.Parked("t", schemas.ParkHold)
	m.PauseChanged("t", true)
	m.BreakerChanged("t", "https://e.example", "closed", "open")
	m.EndpointSwitched("t", "https://e.example", "https://f.example")
	m.RecordTooLarge("t", schemas.RecordDeadLetter)
	m.SetBacklog(metrics.Backlog{Targets: []metrics.TargetBacklog{{Target: "t", Pending: 1}},
		Partitions: []metrics.ConsumerBacklog{{Partition: 0, Kind: metrics.KindJobs}}})
	m.SetFleet(1, []metrics.FleetBreaker{{Target: "t", Endpoint: "https://e.example", Open: true}})
	m.SetLimits("t", 1, 0)
	m.SetHealth("t", "STALLED")
	m.Reload(true)
	return m
}

// exportedNames are the names of every dispatcher_ series the service can
// expose, histograms' _bucket, _sum and _count included.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	families, err := everySeries().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, metrics.Namespace+"_") {
			continue
		}
		out[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, sfx := range []string{"_bucket", "_sum", "_count"} {
				out[name+sfx] = true
			}
		}
	}
	return out
}

// --- messages --------------------------------------------------------------

// schemaLink finds the links to the schemas in the contract.
var schemaLink = regexp.MustCompile(`\.\./schemas/([a-z0-9.]+\.schema\.json)`)

// TestDocsMessageExamples checks that every JSON example of the contract
// is valid against the schema linked last before it (and a job example
// decodes as a job), and that every schema has an example.
func TestDocsMessageExamples(t *testing.T) {
	contract := readDoc(t, contractPage)
	lines := strings.Split(contract, "\n")
	examples := map[string]int{}
	for _, block := range codeBlocks(contract, "json") {
		before := strings.Join(lines[:block.line], "\n")
		links := schemaLink.FindAllStringSubmatch(before, -1)
		if len(links) == 0 {
			t.Errorf("%s:%d: a JSON example must follow the link to its schema", contractPage, block.line)
			continue
		}
		name := links[len(links)-1][1]
		examples[name]++
		if err := schemas.Validate(name, []byte(block.text)); err != nil {
			t.Errorf("%s:%d: the example does not validate against %s: %v", contractPage, block.line, name, err)
		}
		if name == schemas.JobSchema {
			if _, err := schemas.DecodeJob([]byte(block.text)); err != nil {
				t.Errorf("%s:%d: the job example does not decode: %v", contractPage, block.line, err)
			}
		}
	}
	for _, name := range schemas.Names() {
		if examples[name] == 0 {
			t.Errorf("docs/%s has no example of %s (a JSON block after a link to ../schemas/%s)", contractPage, name, name)
		}
	}
}

// --- links -----------------------------------------------------------------

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`^#{1,6}\s+(.*)$`)
)

// anchors returns the GitHub anchors of the headings of a Markdown page.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	count := map[string]int{}
	inCode := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
		}
		m := mdHeading.FindStringSubmatch(line)
		if inCode || m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := count[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		count[a]++
	}
	return out
}

// TestDocsLinks checks the links of README.md and docs/*.md: a relative
// link names a file of the repository (and a heading of it, when it has an
// anchor). And no file of the repository points outside it, at the shared
// contract the project started from.
func TestDocsLinks(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, page)
		for _, m := range mdLink.FindAllStringSubmatch(string(data), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(link, "#")
			target := page
			if file != "" {
				target = filepath.Join(filepath.Dir(page), file)
			}
			if r, err := filepath.Rel(root, target); err != nil || strings.HasPrefix(r, "..") {
				t.Errorf("%s: link %s points outside the repository", rel, link)
				continue
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: link %s: %v", rel, link, err)
				continue
			}
			if anchor != "" && strings.HasSuffix(target, ".md") {
				text, err := os.ReadFile(target)
				if err != nil {
					t.Fatal(err)
				}
				if !anchors(string(text))[anchor] {
					t.Errorf("%s: link %s: no such heading", rel, link)
				}
			}
		}
	}

	// Built from pieces, so that this file does not match itself.
	outside := []string{"../" + "shared", "CONTRACT" + ".md"}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "data") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".json", ".yaml", ".yml", ".conf", ".service":
		default:
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, s := range outside {
			if strings.Contains(string(data), s) {
				t.Errorf("%s mentions %q: the repository must stand alone; point at docs/%s", rel, s, contractPage)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

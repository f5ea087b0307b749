package main

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/providers/kinds"
)

// readersInConfig are the files of package config that hand settings on
// (to the registry's hosts). Reads in the decoder, validator, defaults
// and redaction do not count: a setting only they read reaches nobody.
var readersInConfig = map[string]bool{"hosts.go": true}

// notRead are settings nobody reads on purpose, with the reason.
var notRead = map[string]string{}

// TestEveryConfigFieldReachesItsConsumer fails on a setting that is parsed,
// defaulted and validated but that no package reads (limits.max_host_length
// was one): it type-checks the project's non-test code and collects every
// read of a field of a config type, then walks config.File by reflection.
func TestEveryConfigFieldReachesItsConsumer(t *testing.T) {
	read := configFieldReads(t)
	var missing []string
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, yamlPath string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeFor[config.File]().PkgPath() || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			key := typ.Name() + "." + f.Name
			y := strings.TrimPrefix(yamlPath+"."+strings.Split(f.Tag.Get("yaml"), ",")[0], ".")
			if !read[key] && notRead[key] == "" {
				missing = append(missing, key+" ("+y+")")
			}
			walk(f.Type, y)
		}
	}
	walk(reflect.TypeFor[config.File](), "")
	if len(seen) < 10 {
		t.Fatalf("walked only %d config types", len(seen))
	}
	// Each kind's settings and host settings are configuration too:
	// something besides their own Check and Default must read them.
	for _, k := range kinds.All() {
		for what, v := range map[string]any{"providers." + k.Name: k.Settings(), "hosts[] of " + k.Name: k.Target()} {
			typ := reflect.TypeOf(v).Elem()
			for i := range typ.NumField() {
				f := typ.Field(i)
				key := typ.PkgPath() + "." + typ.Name() + "." + f.Name
				if !read[key] {
					missing = append(missing, key+" ("+what+"."+strings.Split(f.Tag.Get("yaml"), ",")[0]+")")
				}
			}
		}
	}
	for _, m := range missing {
		t.Errorf("setting %s is read by no package: wire it to its consumer, or remove it", m)
	}
}

// configFieldReads type-checks every project package (its non-test
// files; in config only readersInConfig) against the compiler's export
// data and returns "Type.Field" for each field of a config type read, and
// "PKGPATH.Type.Field" for each field of a provider kind's settings read
// outside their Check and Default methods.
func configFieldReads(t *testing.T) map[string]bool {
	t.Helper()
	const module = "github.com/waitingroom/waitingroom"
	cmd := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}\t{{.Dir}}\t{{join .GoFiles \",\"}}\t{{.Module}}", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	type pkg struct {
		path, dir string
		files     []string
	}
	var pkgs []pkg
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		exports[f[0]] = f[1]
		if strings.HasPrefix(f[0], module+"/") && !strings.Contains(f[0], "/internal/testutil") && !strings.Contains(f[0], "/bench") && !strings.HasSuffix(f[0], "/e2e") && f[3] != "" {
			pkgs = append(pkgs, pkg{f[0], f[2], strings.Split(f[3], ",")})
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(exports[path])
	})
	read := map[string]bool{}
	for _, p := range pkgs {
		var files []*ast.File
		var counted []*ast.File
		for _, name := range p.files {
			af, err := parser.ParseFile(fset, filepath.Join(p.dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, af)
			if p.path != module+"/config" || readersInConfig[name] {
				counted = append(counted, af)
			}
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
		if _, err := (&types.Config{Importer: imp}).Check(p.path, fset, files, info); err != nil {
			t.Fatalf("type-checking %s: %v", p.path, err)
		}
		for _, af := range counted {
			ast.Inspect(af, func(n ast.Node) bool {
				if fd, ok := n.(*ast.FuncDecl); ok && fd.Recv != nil && (fd.Name.Name == "Check" || fd.Name.Name == "Default") {
					return false // a kind's own validation and defaults reach nobody
				}
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				s := info.Selections[sel]
				if s == nil || s.Kind() != types.FieldVal || s.Obj().Pkg() == nil {
					return true
				}
				recv := s.Recv()
				if ptr, ok := recv.(*types.Pointer); ok {
					recv = ptr.Elem()
				}
				named, ok := recv.(*types.Named)
				if !ok {
					return true
				}
				switch path := s.Obj().Pkg().Path(); {
				case path == module+"/config":
					read[named.Obj().Name()+"."+s.Obj().Name()] = true
				case strings.HasPrefix(path, module+"/providers/"):
					read[path+"."+named.Obj().Name()+"."+s.Obj().Name()] = true
				}
				return true
			})
		}
	}
	return read
}

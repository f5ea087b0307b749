package kinds

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// Every kind in the table is one config can decode and the Set can build:
// a name of its own, sleep modes, settings structs of the field types the
// decoder reads (each with a yaml tag), and a target whose value travels
// as controller.Backend.
func TestEveryKindIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range All() {
		t.Run(k.Name, func(t *testing.T) {
			if k.Name == "" || strings.ToLower(k.Name) != k.Name || seen[k.Name] {
				t.Fatalf("name %q: want a unique lower-case name", k.Name)
			}
			seen[k.Name] = true
			if len(k.Sleep) == 0 || k.Settings == nil || k.Target == nil || k.New == nil {
				t.Fatalf("kind %q lacks Sleep, Settings, Target or New", k.Name)
			}
			checkStruct(t, "Settings", k.Settings())
			tg := k.Target()
			checkStruct(t, "Target", tg)
			if _, ok := reflect.ValueOf(tg).Elem().Interface().(controller.Backend); !ok {
				t.Errorf("Target: %T has no String method on its value: it cannot travel as controller.Backend", reflect.ValueOf(tg).Elem().Interface())
			}
		})
	}
	if len(seen) < 3 {
		t.Fatalf("only %d kinds", len(seen))
	}
}

func checkStruct(t *testing.T, what string, v any) {
	t.Helper()
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		t.Fatalf("%s returns %T; want a pointer to a new struct", what, v)
	}
	st := rv.Elem().Type()
	for i := range st.NumField() {
		f := st.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			t.Errorf("%s.%s has no yaml key", st.Name(), f.Name)
		}
		switch {
		case f.Type == reflect.TypeFor[time.Duration](),
			f.Type.Kind() == reflect.String, f.Type.Kind() == reflect.Bool, f.Type.Kind() == reflect.Int,
			f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
		default:
			t.Errorf("%s.%s is a %s: config decodes strings, bools, ints, durations and string lists", st.Name(), f.Name, f.Type)
		}
	}
}

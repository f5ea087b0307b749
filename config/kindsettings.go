package config

import (
	"reflect"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/redact"
)

// A kind's settings (providers.Kind.Settings and Target) are pointers to
// structs of strings, bools, ints, durations and string lists: config
// copies and redacts them by reflection, without knowing the kind.

// cloneSettings returns a deep copy of s, a pointer to a kind's settings
// struct (nil stays nil).
func cloneSettings[T any](s T) T {
	v := reflect.ValueOf(s)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return s
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	for i := range c.Elem().NumField() {
		f := c.Elem().Field(i)
		if f.Kind() == reflect.Slice && !f.IsNil() && f.CanSet() {
			f.Set(reflect.AppendSlice(reflect.MakeSlice(f.Type(), 0, f.Len()), f))
		}
	}
	return c.Interface().(T)
}

// redactSettings hides the secrets in a copy of a kind's settings: every
// string as a URL or text (redactUserinfo), every string list as an argv
// (redact.Args). A kind's new setting is hidden without a line here.
func redactSettings[T any](s T) T {
	s = cloneSettings(s)
	v := reflect.ValueOf(s)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return s
	}
	for i := range v.Elem().NumField() {
		f := v.Elem().Field(i)
		switch {
		case !f.CanSet():
		case f.Kind() == reflect.String:
			f.SetString(redactUserinfo(f.String()))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String && !f.IsNil():
			f.Set(reflect.ValueOf(redact.Args(f.Interface().([]string))).Convert(f.Type()))
		}
	}
	return s
}

// backend is the value a host's kind settings travel as in
// controller.Target: a copy of the struct the pointer t points to.
func backend(t controller.Backend) controller.Backend {
	v := reflect.ValueOf(cloneSettings(t))
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return t
	}
	if b, ok := v.Elem().Interface().(controller.Backend); ok {
		return b
	}
	return v.Interface().(controller.Backend)
}

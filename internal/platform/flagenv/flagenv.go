// Package flagenv gives every flag of a flag.FlagSet an environment
// variable, named by one rule: the prefix, then the flag's name upper-cased
// with '.' and '-' as '_' (processor.job-threads → IMAGEPIPE_PROCESSOR_JOB_THREADS).
// Values are parsed by the flags themselves, so a variable accepts exactly
// what its flag accepts; every bad value is reported, joined. Aliases keep
// older names working.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Set is how one program maps flags to environment variables.
type Set struct {
	// Prefix of every variable, without the trailing underscore.
	Prefix string
	// Aliases maps an older variable name to the flag it sets. When both
	// the alias and the flag's own variable are set, the flag's own wins.
	Aliases map[string]string
}

// Name is the variable of a flag.
func (s Set) Name(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return s.Prefix + "_" + strings.ToUpper(r.Replace(flagName))
}

// Apply sets each flag of fs from its variable (or, failing that, from an
// alias), reading them with getenv. Empty values are ignored.
func (s Set) Apply(fs *flag.FlagSet, getenv func(string) string) error {
	byFlag := s.aliasesByFlag()
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		names := append([]string{s.Name(f.Name)}, sorted(byFlag[f.Name])...)
		for _, env := range names {
			v := getenv(env)
			if v == "" {
				continue
			}
			old := f.Value.String()
			if err := f.Value.Set(v); err != nil {
				_ = f.Value.Set(old) // a failed Set may have stored a zero
				errs = append(errs, fmt.Errorf("%s=%q: %s", env, v, explain(f, err)))
			}
			return
		}
	})
	return errors.Join(errs...)
}

// Names lists every variable Apply reads for fs, aliases included, sorted.
func (s Set) Names(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, s.Name(f.Name)) })
	for alias := range s.Aliases {
		names = append(names, alias)
	}
	return sorted(names)
}

// Document appends "(env NAME)" to every flag's usage, and the aliases that
// still work, so -h shows the whole mapping.
func (s Set) Document(fs *flag.FlagSet) {
	byFlag := s.aliasesByFlag()
	fs.VisitAll(func(f *flag.Flag) {
		env := s.Name(f.Name)
		if a := byFlag[f.Name]; len(a) > 0 {
			env += ", or the older " + strings.Join(sorted(a), ", ")
		}
		f.Usage += " (env " + env + ")"
	})
}

func (s Set) aliasesByFlag() map[string][]string {
	byFlag := map[string][]string{}
	for alias, name := range s.Aliases {
		byFlag[name] = append(byFlag[name], alias)
	}
	return byFlag
}

// explain says what a bad value should have been; a flag.Value that is not
// a flag.Getter (none of the standard ones) keeps its own error.
func explain(f *flag.Flag, err error) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return err.Error()
	}
	switch g.Get().(type) {
	case int, int64, uint, uint64:
		return "not an integer"
	case time.Duration:
		return "not a duration (e.g. 5s)"
	case bool:
		return "not a boolean"
	}
	return err.Error()
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// Package flagenv lets every flag of a command also be set by an environment
// variable, the way twelve-factor deployments and containers configure
// servers. The variable's name is a prefix plus the flag name in upper case
// with dashes turned into underscores (--listen → CONVOFLOW_FLOW_LISTEN), and
// --help names it next to each flag. A flag given on the command line wins
// over its variable.
package flagenv

import (
	"flag"
	"fmt"
	"strings"
)

// Name returns the environment variable that sets the flag called name.
func Name(prefix, name string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args into fs, then sets every flag that args left alone from
// its environment variable (looked up with getenv, so tests can pass their
// own). Call it instead of fs.Parse, after all flags are defined.
func Parse(fs *flag.FlagSet, prefix string, args []string, getenv func(string) string) error {
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage = fmt.Sprintf("%s (env %s)", f.Usage, Name(prefix, f.Name))
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		env := Name(prefix, f.Name)
		if v := getenv(env); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("invalid value %q for %s: %w", v, env, serr)
			}
		}
	})
	return err
}

// StringList is a repeatable string flag (--function-map A=B --function-map C=D).
// Set from an environment variable, the value is split on commas.
type StringList []string

// String implements [flag.Value].
func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set implements [flag.Value]; each call appends one or more comma-separated items.
func (l *StringList) Set(v string) error {
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

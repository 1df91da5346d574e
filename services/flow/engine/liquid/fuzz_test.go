package liquid_test

import (
	"errors"
	"testing"

	"github.com/convoflow/convoflow/services/flow/engine/liquid"
)

// FuzzRender feeds arbitrary templates to Render and Check with a full
// Studio context. Neither may panic (a panic recovered inside Render shows
// up as ErrInternal, which fails the target too, so the fuzzer still finds
// library bugs); every error is a *TemplateError; output respects the 16 KB
// limit; and a template Check rejects must not render.
func FuzzRender(f *testing.F) {
	for _, seed := range []string{
		"",
		"Hello {{trigger.conversation.Body}}",
		"{% if flow.variables.count %}{{flow.variables.count | plus: 1}}{% else %}1{% endif %}",
		"{% for item in widgets.http_1.parsed.result %}{{ item.question }}{% endfor %}",
		"{{widgets.http_1.parsed | to_json}}",
		`{{ widgets.http_1.headers["x-twilio-function-concurrency"] }}`,
		"{{ 'now' | date: '%Y-%m-%d %H:%M %Z' }}",
		"{% for i in (1..16) %}{{i}}{% endfor %}",
		"{% assign s = 'ab' %}{% for i in (1..15) %}{% assign s = s | append: s %}{% endfor %}",
		"{% capture c %}{{ flow.data }}{% endcapture %}{{ c | size }}",
		"{% case x %}{% when 1 %}a{% else %}b{% endcase %}",
		"{% tablerow i in (1..3) cols: 2 %}{{i}}{% endtablerow %}",
		"{% for x in flow.variables.list reversed offset: 1 limit: 1 %}{% cycle 'a', 'b' %}{% else %}e{% endfor %}",
		"{{ 'a b' | truncate: -3 | truncatewords: -1 | slice: -9, -2 | url_encode }}",
		"{{ (1..3) | concat: (5..1) | sort | uniq | reverse | join: '-' }}",
		"{% raw %}{{ x }}{% endraw %}{% comment %}{% if %}{% endcomment %}",
	} {
		f.Add(seed)
	}
	r := newRenderer(f)
	vars := studioContext()
	f.Fuzz(func(t *testing.T, src string) {
		checkErr := r.Check(src)
		out, err := r.Render(src, vars)
		if err != nil {
			if errors.Is(err, liquid.ErrInternal) {
				t.Fatalf("Render(%q) panicked inside: %v", src, err)
			}
			var te *liquid.TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("Render(%q) error %T is not a *TemplateError", src, err)
			}
			return
		}
		if checkErr != nil {
			t.Fatalf("Check(%q) = %v but Render succeeded", src, checkErr)
		}
		if len(out) > liquid.MaxOutputBytes {
			t.Fatalf("Render(%q) returned %d bytes", src, len(out))
		}
	})
}

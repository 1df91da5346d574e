package liquid_test

import (
	"slices"
	"testing"

	"github.com/convoflow/convoflow/services/flow/engine/liquid"
)

func TestUnknownFilters(t *testing.T) {
	t.Parallel()
	r := liquid.New(liquid.Options{})
	tests := []struct {
		name, src string
		want      []string
	}{
		{"no_markup", "plain | text", nil},
		{"known_standard_and_studio", "{{ a | upcase | at_least: 2 }}{{ b | to_json }}", nil},
		{"unknown_in_output", "{{ a | shout }}", []string{"shout"}},
		{"unknown_after_known", "{{ a | upcase | shout: 'x' | whisper }}", []string{"shout", "whisper"}},
		{"pipe_inside_string", `{{ "a | shout" | upcase }}`, nil},
		{"in_tags_and_branches", "{% assign x = a | shout %}{% if x %}{{ x | whisper }}{% else %}{{ x | shout }}{% endif %}", []string{"shout", "whisper"}},
		{"in_loops", "{% for i in list %}{{ i | shout }}{% endfor %}", []string{"shout"}},
		{"comment_ignored", "{% comment %}{{ a | shout }}{% endcomment %}", nil},
		{"does_not_parse", "{{ a | shout ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := r.UnknownFilters(tt.src); !slices.Equal(got, tt.want) {
				t.Fatalf("UnknownFilters(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

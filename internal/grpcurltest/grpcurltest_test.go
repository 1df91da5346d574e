package grpcurltest_test

import (
	"slices"
	"testing"

	"github.com/convoflow/convoflow/internal/grpcurltest"
)

func TestArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want []string
	}{
		{args: []string{"list"}, want: []string{"-plaintext", "A", "list"}},
		{args: []string{"-d", "{}", "svc/M"}, want: []string{"-plaintext", "-d", "{}", "A", "svc/M"}},
		{args: nil, want: []string{"-plaintext", "A"}},
		{args: []string{"-H", "authorization: Bearer K", "-d", "{}", "svc/M"}, want: []string{"-plaintext", "-H", "authorization: Bearer K", "-d", "{}", "A", "svc/M"}},
	}
	for _, tt := range tests {
		if got := grpcurltest.Args("A", tt.args...); !slices.Equal(got, tt.want) {
			t.Errorf("Args(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

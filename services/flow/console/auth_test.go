package console

import "testing"

func TestLocalPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ next, want string }{
		{"/console/flows/FW1?revision=2", "/console/flows/FW1?revision=2"},
		{"/console/", "/console/"},
		{"", "/console/"},
		{"/elsewhere", "/console/"},
		{"https://evil.example/console/", "/console/"},
		{"//evil.example/console/", "/console/"},
		{`/console/\evil.example`, "/console/"},
		{"javascript:alert(1)", "/console/"},
		{"%zz", "/console/"},
	}
	for _, tt := range tests {
		if got := localPath(tt.next); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

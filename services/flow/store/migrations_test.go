package store_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/convoflow/convoflow/services/flow/store"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	sql := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name    string
		files   fstest.MapFS
		want    []int // versions in order, when ok
		wantErr string
	}{
		{"ordered_by_number_not_name", fstest.MapFS{
			"m/0010_late.sql": sql("c"), "m/0002_b.sql": sql("b"), "m/0001_a.sql": sql("a"),
		}, []int{1, 2, 10}, ""},
		{"misnamed", fstest.MapFS{"m/0001_a.sql": sql("a"), "m/init.sql": sql("x")}, nil, `"init.sql": want NNNN_description.sql`},
		{"not_sql", fstest.MapFS{"m/0001_a.txt": sql("a")}, nil, "want NNNN_description.sql"},
		{"zero", fstest.MapFS{"m/0000_a.sql": sql("a")}, nil, "want NNNN_description.sql"},
		{"shared_version", fstest.MapFS{"m/0001_a.sql": sql("a"), "m/01_b.sql": sql("b")}, nil, "share version 1"},
		{"empty", fstest.MapFS{"m/.keep": sql("")}, nil, "want NNNN_description.sql"},
		{"none", fstest.MapFS{"other/0001_a.sql": sql("a")}, nil, "file does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := store.LoadMigrations(tc.files, "m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadMigrations = %v, %v; want error containing %q", ms, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
				if want := string(tc.files["m/"+m.Name].Data); m.SQL != want {
					t.Errorf("%s: SQL %q, want %q", m.Name, m.SQL, want)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("versions %v, want %v", got, tc.want)
			}
		})
	}
}

package liquid

import (
	"errors"
	"fmt"
	"testing"
)

// These tests look inside the Renderer (same package) because caching is
// invisible through the public API except as speed.

func TestCacheParsesOnce(t *testing.T) {
	t.Parallel()
	r := New(Options{})
	src := "{{ flow.variables.count | plus: 1 }}"
	first, err := r.parse(src)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := r.Render(src, nil); err != nil {
			t.Fatal(err)
		}
	}
	again, err := r.parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if first.root != again.root {
		t.Error("the template was parsed again")
	}
	if n := r.cache.len(); n != 1 {
		t.Errorf("cache holds %d entries, want 1", n)
	}
}

func TestCacheSkipsPlainText(t *testing.T) {
	t.Parallel()
	r := New(Options{})
	for i := range 5 {
		if _, err := r.Render(fmt.Sprintf("plain %d", i), nil); err != nil {
			t.Fatal(err)
		}
		if err := r.Check(fmt.Sprintf("plain %d {", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries for text without markup, want 0", n)
	}
}

func TestCacheKeepsParseErrors(t *testing.T) {
	t.Parallel()
	r := New(Options{})
	src := "{% if x %}never closed"
	err1 := r.Check(src)
	_, err2 := r.Render(src, nil)
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v and %v: want the same cached *TemplateError", err1, err2)
	}
	if !errors.Is(err2, ErrSyntax) {
		t.Errorf("error %v does not wrap ErrSyntax", err2)
	}
}

func TestCacheBounded(t *testing.T) {
	t.Parallel()
	r := New(Options{CacheSize: 4})
	for i := range 50 {
		src := fmt.Sprintf("{{ %d | plus: 1 }}", i)
		got, err := r.Render(src, nil)
		if err != nil || got != fmt.Sprint(i+1) {
			t.Fatalf("Render(%q) = %q, %v", src, got, err)
		}
		if n := r.cache.len(); n > 4 {
			t.Fatalf("cache holds %d entries, bound is 4", n)
		}
	}
	if n := r.cache.len(); n != 4 {
		t.Errorf("cache holds %d entries, want it full at 4", n)
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	r := New(Options{CacheSize: -1})
	for range 3 {
		if got, err := r.Render("{{ 1 | plus: 1 }}", nil); err != nil || got != "2" {
			t.Fatalf("Render = %q, %v", got, err)
		}
	}
	if n := r.cache.len(); n != 0 {
		t.Errorf("disabled cache holds %d entries", n)
	}
}

// Package cputime reads the CPU time the current process has used, for
// benchmarks that report work per CPU second beside work per wall second:
// on a shared machine wall time also measures the neighbours' load.
package cputime

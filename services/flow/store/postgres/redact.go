package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/convoflow/convoflow/services/flow/store"
)

// A DSN carries a password, and errors end up in logs. So the store never
// puts a DSN, nor an error text it did not scrub, in what it reports: Open's
// errors describe the database by describeDSN and pass every message through
// scrub, and they wrap only errors known to hold no secret (see safeError).
// pgx redacts passwords from its own messages too, but only as far as it can
// recognise them in a DSN it failed to parse.

// mask replaces secrets in messages.
const mask = "xxxxx"

// isURL reports whether dsn is in URL form (libpq's two schemes).
func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// secretKeys are the parameters whose values are secrets.
var secretKeys = []string{"password", "sslpassword"}

// describeKeys are the key=value parameters a description may show.
var describeKeys = []string{"host", "port", "dbname", "user"}

// DescribeDSN names the database dsn points at without any secret, for
// callers' logs and errors: the same description the store's own use.
func DescribeDSN(dsn string) string { return describeDSN(dsn, nil) }

// describeDSN names the database dsn points at without any secret: a URL
// with its password and secret parameters masked (net/url's Redacted), or,
// for key=value strings, only the host, port, database and user. cfg, when
// dsn parsed, supplies the values for a key=value string.
func describeDSN(dsn string, cfg *pgconn.Config) string {
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			// Where the password ends in a malformed URL is anybody's
			// guess; show none of it.
			return "(malformed postgres URL)"
		}
		q := u.Query()
		for _, k := range secretKeys {
			if q.Has(k) {
				q.Set(k, mask)
			}
		}
		u.RawQuery = q.Encode()
		return u.Redacted()
	}
	if cfg != nil {
		return fmt.Sprintf("host=%s port=%d dbname=%s user=%s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	}
	kv := parseKeyValues(dsn)
	var parts []string
	for _, k := range describeKeys {
		if v, ok := kv[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return "(malformed DSN)"
	}
	return strings.Join(parts, " ")
}

// dsnSecrets returns everything in dsn that may be a password, also from
// DSNs that do not parse, so that scrub can remove them from messages.
func dsnSecrets(dsn string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if un, err := url.PathUnescape(s); err == nil && un != s {
			out = append(out, un)
		}
		if esc := url.QueryEscape(s); esc != s {
			out = append(out, esc)
		}
	}
	if isURL(dsn) {
		rest := dsn[strings.Index(dsn, "://")+3:]
		// In a URL that may not parse, take the userinfo to end at the
		// last '@': anything after its first ':' may be the password. (An
		// '@' further on, in the query, only makes more text masked.)
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			if userinfo := rest[:i]; strings.Contains(userinfo, ":") {
				add(userinfo[strings.IndexByte(userinfo, ':')+1:])
			}
		}
		if u, err := url.Parse(dsn); err == nil {
			if p, ok := u.User.Password(); ok {
				add(p)
			}
			for _, k := range secretKeys {
				for _, v := range u.Query()[k] {
					add(v)
				}
			}
		}
		// A query that does not parse: take every value of a secret key.
		if _, query, ok := strings.Cut(rest, "?"); ok {
			for _, kv := range strings.Split(query, "&") {
				k, v, _ := strings.Cut(kv, "=")
				for _, sk := range secretKeys {
					if strings.EqualFold(k, sk) {
						add(v)
					}
				}
			}
		}
		return out
	}
	for k, v := range parseKeyValues(dsn) {
		for _, sk := range secretKeys {
			if k == sk {
				add(v)
			}
		}
	}
	// A value the lenient parser could not delimit: everything after
	// "password=" up to the next space, quoted or not.
	for _, sk := range secretKeys {
		for rest := dsn; ; {
			i := strings.Index(rest, sk+"=")
			if i < 0 {
				break
			}
			rest = rest[i+len(sk)+1:]
			v := rest
			if j := strings.IndexFunc(v, unicode.IsSpace); j >= 0 {
				v = v[:j]
			}
			add(strings.Trim(v, "'"))
		}
	}
	return out
}

// configSecrets returns the passwords pgx resolved (from the DSN, PGPASSWORD
// or a passfile).
func configSecrets(cfg *pgconn.Config) []string {
	if cfg.Password == "" {
		return nil
	}
	return []string{cfg.Password}
}

// parseKeyValues reads a key=value connection string leniently (values may
// be single-quoted with backslash escapes); it is used for descriptions and
// scrubbing only, never to connect.
func parseKeyValues(s string) map[string]string {
	out := map[string]string{}
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		if s == "" {
			return out
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return out
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeftFunc(s[eq+1:], unicode.IsSpace)
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			for len(s) > 0 && s[0] != '\'' {
				if s[0] == '\\' && len(s) > 1 {
					s = s[1:]
				}
				val.WriteByte(s[0])
				s = s[1:]
			}
			s = strings.TrimPrefix(s, "'")
		} else {
			end := strings.IndexFunc(s, unicode.IsSpace)
			if end < 0 {
				end = len(s)
			}
			val.WriteString(s[:end])
			s = s[end:]
		}
		out[key] = val.String()
	}
}

// dsnHasParam reports whether dsn sets the parameter key, so that a zero
// option can leave the DSN's setting in force.
func dsnHasParam(dsn, key string) bool {
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		return err == nil && u.Query().Has(key)
	}
	_, ok := parseKeyValues(dsn)[key]
	return ok
}

// scrub removes secrets from msg, and line breaks, so that a message is one
// line in a log (pgx's connection errors list one line per host tried).
func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, mask)
		}
	}
	if strings.ContainsAny(msg, "\r\n\t") {
		msg = strings.Join(strings.Fields(msg), " ")
	}
	return msg
}

// safeError is an error whose message was scrubbed, and which unwraps only
// to errors that hold no secret: the store's sentinels, context errors, and
// the server's *pgconn.PgError, never pgx's connection or parse errors
// (which keep the configuration with its password).
type safeError struct {
	msg  string
	safe []error
}

func (e *safeError) Error() string   { return e.msg }
func (e *safeError) Unwrap() []error { return e.safe }

// newSafeError makes a safeError of msg, keeping of cause what is safe to
// unwrap. cause may itself be a sentinel.
func newSafeError(msg string, secrets []string, cause error) error {
	e := &safeError{msg: scrub(msg, secrets)}
	for _, target := range []error{store.ErrInvalidArgument, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(cause, target) {
			e.safe = append(e.safe, target)
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(cause, &pgErr) {
		e.safe = append(e.safe, pgErr)
	}
	// The migrator's refusal of a newer schema names versions only.
	var versionErr *store.SchemaVersionError
	if errors.As(cause, &versionErr) {
		e.safe = append(e.safe, versionErr)
	}
	return e
}

// channelName is the LISTEN/NOTIFY channel of the store in schema: stores in
// different schemas of one database must not hear each other. Channel names
// are identifiers, at most 63 bytes; a long schema name is replaced by a
// digest of it.
func channelName(schema string) string {
	const prefix = "convoflow_work:"
	if len(prefix)+len(schema) <= 63 {
		return prefix + schema
	}
	sum := sha256.Sum256([]byte(schema))
	return prefix + hex.EncodeToString(sum[:12])
}

// listenStatement is the LISTEN statement for channel.
func listenStatement(channel string) string {
	return "LISTEN " + pgx.Identifier{channel}.Sanitize()
}

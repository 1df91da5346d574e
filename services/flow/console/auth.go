package console

import (
	"net/http"
	"net/url"
	"strings"
)

// keyCookie holds the API key a user typed into the login form. It is a
// session cookie (gone when the browser closes), HttpOnly (no script reads
// it), SameSite=Strict (no other site's page sends it) and limited to the
// console's path.
const keyCookie = "convoflow_console_key"

// guard lets a request through when the console needs no key, or when it
// carries a valid one: the login cookie, or "Authorization: Bearer KEY"
// as the RPCs take it (for scripts and tools). Otherwise a page request
// gets the login form with 401, and the event stream a bare 401.
func (c *Console) guard(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.authorized(r) {
			next(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="flowservice console"`)
		if strings.HasSuffix(r.URL.Path, "/events") {
			http.Error(w, "an API key is required", http.StatusUnauthorized)
			return
		}
		c.render(w, r, http.StatusUnauthorized, "login", loginPage{Next: r.URL.RequestURI()})
	})
}

func (c *Console) authorized(r *http.Request) bool {
	if c.keys == nil {
		return true
	}
	if h := r.Header.Get("Authorization"); h != "" {
		return c.keys.Authenticate(h) == nil
	}
	ck, err := r.Cookie(keyCookie)
	return err == nil && c.keys.Check(ck.Value)
}

type loginPage struct {
	Next  string
	Error string
}

// login checks the key posted by the login form and, when it is valid,
// keeps it in the session cookie and returns to the page asked for.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, "The login form could not be read: "+err.Error())
		return
	}
	next := localPath(r.PostForm.Get("next"))
	key := strings.TrimSpace(r.PostForm.Get("key"))
	if c.keys == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if !c.keys.Check(key) {
		c.render(w, r, http.StatusUnauthorized, "login", loginPage{Next: next, Error: "That key is not one of this service's API keys."})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: keyCookie, Value: key, Path: Prefix,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout forgets the key.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: keyCookie, Path: Prefix, MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// localPath is next if it is a console path on this server, and the
// console's start page otherwise, so the login form cannot be made to
// redirect anywhere else.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, Prefix) || strings.Contains(next, `\`) {
		return Prefix
	}
	return u.RequestURI()
}

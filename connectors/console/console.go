// Package console is Lifeline's web console: one page, its assets
// embedded in the binary (plain HTML, CSS and JavaScript: no CDN, no
// build step, works offline), that reads the JSON API of the same HTTP
// server. It shows the overview (funnel, KPIs, health bands, open alerts
// by rule), the at-risk list (open alerts, filtered and sorted) and a
// page per customer (stage, health with its components and inputs, open
// alerts with their reasons, timeline, traits).
//
// The page's routes are hash routes (#/alerts, #/customers/{id}) and it
// asks the API by relative URLs (v1/funnel), so it works behind any path
// prefix a proxy puts before it.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// Handler serves the console: index.html at the root it is mounted on
// ("/"), and its assets under console/. Other paths are 404.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		// The page talks to its own origin only.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		switch {
		case r.URL.Path == "/":
			http.ServeFileFS(w, r, sub, "index.html")
		case strings.HasPrefix(r.URL.Path, "/console/"):
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/console")
			if r2.URL.Path == "/" || r2.URL.Path == "/index.html" {
				http.NotFound(w, r)
				return
			}
			files.ServeHTTP(w, r2)
		default:
			http.NotFound(w, r)
		}
	})
}

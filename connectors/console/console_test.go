package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The page, its script and its style are served from the binary; the
// page names them relatively (so that a path prefix keeps working), and
// nothing else is served.
func TestServesEmbeddedAssets(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, c := range []struct {
		path, ctype, contains string
		code                  int
	}{
		{"/", "text/html", `src="console/app.js"`, 200},
		{"/console/app.js", "javascript", `"v1/funnel"`, 200},
		{"/console/app.css", "text/css", ".sev.critical", 200},
		{"/console/", "", "", 404},
		{"/console/index.html", "", "", 404},
		{"/console/nope.js", "", "", 404},
		{"/elsewhere", "", "", 404},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(string(body), c.contains) {
			t.Errorf("GET %s: %d %q (%d bytes); want %d, %q containing %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), c.code, c.ctype, c.contains)
		}
		if c.code == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: no same-origin Content-Security-Policy", c.path)
		}
	}
	// No absolute URL in the page or the script: behind a proxy's prefix
	// the console must ask its own prefix's API.
	for _, p := range []string{"/", "/console/app.js"} {
		resp, _ := http.Get(srv.URL + p)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, abs := range []string{`"/v1`, `'/v1`, `src="/`, `href="/`, "http://", "https://"} {
			if strings.Contains(string(body), abs) {
				t.Errorf("%s contains %s: an absolute URL", p, abs)
			}
		}
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath finds a Chromium or Chrome to drive; the test is skipped
// without one.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no browser on PATH (chromium, google-chrome): install one to run the console test, e.g. apt-get install -y chromium")
	return ""
}

// TestConsoleInBrowser runs `lifeline demo` in process and drives its web
// console in headless Chromium as a CS lead would: the overview shows the
// funnel's numbers, the at-risk list lists open alerts, filtering it by a
// rule leaves that rule's alerts only, and a customer's page shows its
// health, its alerts' reasons and its timeline. LIFELINE_CONSOLE_SHOTS=DIR saves a
// screenshot of each page there.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, the demo and a browser")
	}
	browser := browserPath(t)
	out := newLineBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--customers", "400", "--days", "30", "--seed", "11", "--speed", "5",
			"--partitions", "2", "--port=-1", "--http", "127.0.0.1:0", "--every", "1h"}, strings.NewReader(""), out, io.Discard)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("demo did not stop within 20s of cancellation")
		}
	}()
	console := out.await(t, regexp.MustCompile(`console +(http://\S+/)`), time.Minute, done)
	base := strings.TrimSuffix(console, "/")

	// Wait for the journeys to be produced and processed: events stop
	// growing, and alerts are open.
	var events int64 = -1
	deadline := time.Now().Add(90 * time.Second)
	for {
		var k struct {
			Events     int64            `json:"events"`
			AlertsOpen map[string]int64 `json:"alerts_open"`
		}
		getJSON(t, base+"/v1/kpis", &k)
		if k.Events == events && k.Events > 0 && len(k.AlertsOpen) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo's journeys did not settle with alerts open within 90s: %+v", k)
		}
		events = k.Events
		time.Sleep(1500 * time.Millisecond)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", browser, err)
	}
	bctx, tcancel := context.WithTimeout(bctx, 2*time.Minute)
	defer tcancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	count := func(expr string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return n
	}
	shots := os.Getenv("LIFELINE_CONSOLE_SHOTS")
	shot := func(name string) {
		t.Helper()
		if shots == "" {
			return
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}

	// The overview: the funnel's numbers are there.
	do("overview", chromedp.Navigate(base+"/ui"),
		chromedp.WaitVisible(chromedp.CSS(`#funnel tr[data-stage="conversion"] td.current`)),
		chromedp.WaitVisible(chromedp.CSS(`#kpis [data-kpi="customers"]`)))
	customers := text(`#kpis [data-kpi="customers"] .v`)
	shot("overview")
	var funnel struct {
		Stages []struct {
			Stage   string `json:"stage"`
			Entered int64  `json:"entered"`
		} `json:"stages"`
	}
	getJSON(t, base+"/v1/funnel", &funnel)
	first := funnel.Stages[0]
	// Customers move on in the demo's clock; the first stage's "ever
	// entered" does not once the journeys are produced.
	shown := text(`#funnel tr[data-stage="` + first.Stage + `"] td.entered`)
	if n := strings.ReplaceAll(shown, ",", ""); n == "0" || n != fmt.Sprint(first.Entered) {
		t.Errorf("overview: %q customers ever entered %s; want the API's %d", shown, first.Stage, first.Entered)
	}
	if strings.ReplaceAll(customers, ",", "") != "400" {
		t.Errorf("overview: %q customers; want the demo's 400", customers)
	}

	// The at-risk list, then filtered to the detractor rule.
	do("at-risk list", chromedp.Click(chromedp.CSS(`a[data-nav="alerts"]`)), chromedp.WaitVisible(chromedp.CSS(`#alerts tbody tr`)), chromedp.WaitVisible(chromedp.CSS(`#f-rule`)))
	rows := count(`document.querySelectorAll("#alerts tbody tr").length`)
	// As a user's choice does: set the value, then fire change.
	shot("alerts")
	// The rule with the most open alerts.
	var k struct {
		AlertsOpen map[string]int64 `json:"alerts_open"`
	}
	getJSON(t, base+"/v1/kpis", &k)
	rule := ""
	for r, n := range k.AlertsOpen {
		if rule == "" || n > k.AlertsOpen[rule] || (n == k.AlertsOpen[rule] && r < rule) {
			rule = r
		}
	}
	do("filter by rule", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(s => { s.value = `+strconv.Quote(rule)+`; return s.dispatchEvent(new Event("change")); })(document.getElementById("f-rule"))`)(ctx, tg)
		return err
	}),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			// The list as re-rendered for the filter: its rows all of the rule.
			_, err := chromedp.Poll[bool](`location.hash.indexOf("rule=") >= 0 && document.querySelectorAll("#alerts tbody tr").length > 0 &&
				Array.from(document.querySelectorAll("#alerts tbody tr")).every(r => r.dataset.rule === `+strconv.Quote(rule)+`)`, chromedp.WithPollingTimeout(30*time.Second))(ctx, tg)
			return err
		}))
	filtered := count(`document.querySelectorAll("#alerts tbody tr").length`)
	others := count(`Array.from(document.querySelectorAll("#alerts tbody tr")).filter(r => r.dataset.rule !== ` + strconv.Quote(rule) + `).length`)
	shot("alerts-filtered")
	if rows == 0 || filtered == 0 || filtered > rows || others != 0 {
		t.Errorf("at-risk list: %d rows, %d filtered by rule=%s, %d of another rule; want some, a subset, none", rows, filtered, rule, others)
	}

	// That customer's page: its health and its alert's reasons.
	attr, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`#alerts tbody tr a[data-customer-link]`), "data-customer-link"))
	if err != nil {
		t.Fatal(err)
	}
	do("customer page", chromedp.Click(chromedp.CSS(`#alerts tbody tr a[data-customer-link]`)),
		chromedp.WaitVisible(chromedp.CSS(`#customer-health [data-field="score"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#customer-alerts tr[data-rule="`+rule+`"] .reasons`)),
		chromedp.WaitVisible(chromedp.CSS(`#components tr[data-component="sentiment"]`)),
		// The demo keeps timelines: the customer's records are listed.
		chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-kind="stage"]`)))
	id, score := text(`#customer-id`), text(`#customer-health [data-field="score"]`)
	reasons := text(`#customer-alerts tr[data-rule="` + rule + `"] .reasons`)
	shot("customer")
	if id != attr.Value || !regexp.MustCompile(`^\d+$`).MatchString(score) {
		t.Errorf("customer %q page (clicked %q): health score %q; want the clicked customer, a number", id, attr.Value, score)
	}
	var c struct {
		OpenAlerts []struct {
			Rule    string   `json:"rule"`
			Reasons []string `json:"reasons"`
		} `json:"open_alerts"`
	}
	getJSON(t, base+"/v1/customers/"+id, &c)
	var want []string
	for _, a := range c.OpenAlerts {
		if a.Rule == rule {
			want = a.Reasons
		}
	}
	// The demo's clock moves on: a count of days may have grown since.
	digits := regexp.MustCompile(`\d+`)
	if len(want) == 0 || digits.ReplaceAllString(reasons, "#") != digits.ReplaceAllString(strings.Join(want, "\n"), "#") {
		t.Errorf("customer %s page: %s reasons %q; want the API's %q", id, rule, reasons, want)
	}
}

// Lifeline console: a hash-routed page over the JSON API of the server
// that serves it. Every API URL is relative (v1/...), so the console works
// behind any path prefix. Values from the API are put in the page as text,
// never as HTML.
(function () {
  "use strict";

  var view = document.getElementById("view");
  var banner = document.getElementById("banner");
  var asof = document.getElementById("asof");
  var refreshTimer = null;
  var SEVERITIES = ["critical", "warning", "info"];

  // h builds an element: h("td", {class: "n"}, "text", child, ...).
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "onclick" || k === "onchange" || k === "onsubmit") el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(el, x); }); return; }
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  function show() {
    view.textContent = "";
    for (var i = 0; i < arguments.length; i++) append(view, arguments[i]);
  }

  function api(path) {
    return fetch(path, { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) {
          var e = new Error(body.error || (r.status + " " + r.statusText));
          e.status = r.status; e.body = body;
          throw e;
        }
        return body;
      });
    });
  }

  function setBanner(text, isError) {
    banner.hidden = !text;
    banner.className = "banner" + (isError ? " error" : "");
    banner.textContent = text || "";
  }
  // partialNote says which partitions an answer missed.
  function partialNote(answers) {
    var missing = {};
    answers.forEach(function (a) {
      if (a && a.partial && a.partitions) a.partitions.missing.forEach(function (p) { missing[p] = true; });
    });
    var ps = Object.keys(missing);
    return ps.length ? "Partial numbers: partitions " + ps.join(", ") + " did not answer (restoring, or their instance is unreachable)." : "";
  }

  function fmtNum(n, digits) {
    if (n === null || n === undefined) return "–";
    return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 0 : digits });
  }
  function pct(x) { return x === null || x === undefined ? "–" : fmtNum(100 * x, 1) + "%"; }
  function when(s) { return s ? s.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC") : "–"; }
  function ago(s, now) {
    if (!s) return "";
    var d = ((now ? Date.parse(now) : Date.now()) - Date.parse(s)) / 86400000;
    return d < 1 ? "today" : fmtNum(d) + " d ago";
  }
  function sev(s) { return h("span", { class: "sev " + s }, s || "?"); }
  function band(b) { return h("span", null, h("span", { class: "dot " + b }), b || "unscored"); }
  function customerLink(id) { return h("a", { href: "#/customers/" + encodeURIComponent(id), "data-customer-link": id }, id); }

  function bars(id, rows, total) {
    return h("div", { id: id }, rows.map(function (r) {
      var w = total > 0 ? Math.round(100 * r.n / total) : 0;
      return h("div", { class: "bar", "data-key": r.key },
        r.href ? h("a", { href: r.href }, r.label) : h("span", null, r.label),
        h("div", { class: "track" }, h("div", { class: "fill " + (r.cls || ""), style: "width:" + w + "%" })),
        h("span", { class: "n" }, fmtNum(r.n)));
    }));
  }

  // ---- Overview --------------------------------------------------------

  function overview() {
    return Promise.all([api("v1/funnel"), api("v1/kpis")]).then(function (res) {
      var f = res[0], k = res[1];
      setBanner(partialNote([f, k]));
      var maxStage = Math.max.apply(null, f.stages.map(function (s) { return s.current; }).concat([1]));
      var funnelRows = f.stages.map(function (s) {
        return h("tr", { "data-stage": s.stage },
          h("td", null, h("a", { href: "#/alerts?stage=" + encodeURIComponent(s.stage) }, s.stage)),
          h("td", { style: "width:45%" }, h("div", { class: "track", style: "background:#edf0f4;height:14px;border-radius:3px" },
            h("div", { class: "fill", style: "height:100%;background:var(--accent);width:" + Math.round(100 * s.current / maxStage) + "%" }))),
          h("td", { class: "n current" }, fmtNum(s.current)),
          h("td", { class: "n entered" }, fmtNum(s.entered)),
          h("td", { class: "n" }, s.conversion_from_previous === undefined ? "" : pct(s.conversion_from_previous)));
      });
      var bandsTotal = 0;
      ["green", "yellow", "red"].forEach(function (b) { bandsTotal += (k.bands || {})[b] || 0; });
      var open = k.alerts_open || {};
      var rules = Object.keys(open).sort(function (a, b) { return open[b] - open[a]; });
      var openTotal = rules.reduce(function (s, r) { return s + open[r]; }, 0);
      var money = k.currency ? " " + k.currency : "";
      return [
        h("h1", null, "Overview"),
        h("div", { class: "kpis", id: "kpis" },
          kpi("customers", fmtNum(k.customers), "customers"),
          kpi("converted", fmtNum(k.converted), "converted"),
          kpi("churn", pct(k.churn_rate), "churn rate"),
          kpi("retention", pct(k.retention_rate), "retention rate"),
          kpi("nps", k.nps === null ? "–" : fmtNum(k.nps, 1), "NPS (" + fmtNum(k.nps_responses) + " answers)"),
          kpi("ltv", fmtNum(k.lifetime_value_total) + money, "lifetime value"),
          kpi("alerts", fmtNum(openTotal), "open alerts")),
        h("div", { class: "grid" },
          h("section", { class: "card" }, h("h2", null, "Funnel"),
            h("table", { id: "funnel" }, h("thead", null, h("tr", null, h("th", null, "stage"), h("th", null, ""), h("th", null, "now"), h("th", null, "ever entered"), h("th", null, "conversion"))),
              h("tbody", null, funnelRows)),
            f.unstaged ? h("p", { class: "muted" }, fmtNum(f.unstaged) + " customers seen in no stage yet") : null),
          h("section", { class: "card" }, h("h2", null, "Health bands"),
            bars("bands", ["green", "yellow", "red"].map(function (b) {
              return { key: b, label: b, n: (k.bands || {})[b] || 0, cls: b };
            }), bandsTotal)),
          h("section", { class: "card" }, h("h2", null, "Open alerts by rule"),
            rules.length ? bars("alerts-by-rule", rules.map(function (r) {
              return { key: r, label: r, n: open[r], href: "#/alerts?rule=" + encodeURIComponent(r) };
            }), openTotal) : h("p", { class: "muted", id: "alerts-by-rule" }, "No open alerts.")))
      ];
    });
  }
  function kpi(id, v, label) {
    return h("div", { class: "kpi", "data-kpi": id }, h("div", { class: "v" }, v), h("div", { class: "l" }, label));
  }

  // ---- At-risk list ------------------------------------------------------

  var sortState = { key: "severity", dir: 1 };
  var SORTS = {
    customer: function (a) { return a.customer_id; },
    rule: function (a) { return a.rule; },
    severity: function (a) { var i = SEVERITIES.indexOf(a.severity); return i < 0 ? 9 : i; },
    since: function (a) { return a.since; },
    stage: function (a) { return a.stage; },
    health: function (a) { return a.health_score; },
    owner: function (a) { return a.owner || ""; }
  };

  function alertsView(params) {
    var q = new URLSearchParams();
    ["rule", "severity", "stage", "owner"].forEach(function (k) { if (params.get(k)) q.set(k, params.get(k)); });
    q.set("limit", "1000");
    return Promise.all([api("v1/alerts?" + q.toString()), api("v1/kpis"), api("v1/funnel")]).then(function (res) {
      var list = res[0], k = res[1], f = res[2];
      setBanner(partialNote([list]));
      var ruleNames = Object.keys(k.alerts_open || {});
      if (params.get("rule") && ruleNames.indexOf(params.get("rule")) < 0) ruleNames.push(params.get("rule"));
      ruleNames.sort();
      var stages = f.stages.map(function (s) { return s.stage; });
      function select(name, options) {
        var s = h("select", { id: "f-" + name, name: name, onchange: applyFilters },
          h("option", { value: "" }, "any"),
          options.map(function (o) { return h("option", { value: o, selected: params.get(name) === o }, o); }));
        return h("label", null, name, s);
      }
      function applyFilters() {
        var p = new URLSearchParams();
        ["rule", "severity", "stage", "owner"].forEach(function (n) {
          var el = document.getElementById("f-" + n);
          if (el && el.value) p.set(n, el.value);
        });
        var s = p.toString();
        location.hash = "#/alerts" + (s ? "?" + s : "");
      }
      var tbody = h("tbody");
      var table = h("table", { id: "alerts" },
        h("thead", null, h("tr", null,
          th("customer"), th("rule"), th("severity"), th("since"), th("stage"), th("health"), th("owner"), h("th", null, "reasons"))),
        tbody);
      function th(key) {
        return h("th", { "data-sort": key, class: sortState.key === key ? (sortState.dir > 0 ? "asc" : "desc") : null, onclick: function () {
          sortState = { key: key, dir: sortState.key === key ? -sortState.dir : 1 };
          table.querySelectorAll("th").forEach(function (t) { t.classList.remove("asc", "desc"); });
          this.classList.add(sortState.dir > 0 ? "asc" : "desc");
          fill();
        } }, key);
      }
      function fill() {
        var by = SORTS[sortState.key];
        var rows = list.alerts.slice().sort(function (a, b) {
          var x = by(a), y = by(b);
          return (x < y ? -1 : x > y ? 1 : 0) * sortState.dir;
        });
        tbody.textContent = "";
        rows.forEach(function (a) {
          append(tbody, h("tr", { "data-customer": a.customer_id, "data-rule": a.rule },
            h("td", null, customerLink(a.customer_id)),
            h("td", null, a.rule),
            h("td", null, sev(a.severity)),
            h("td", { title: a.since }, when(a.since)),
            h("td", null, a.stage),
            h("td", null, band(a.health_band), " ", fmtNum(a.health_score)),
            h("td", null, a.owner || h("span", { class: "muted" }, "–")),
            h("td", null, h("ul", { class: "reasons" }, a.reasons.map(function (r) { return h("li", null, r); })))));
        });
      }
      fill();
      var owner = h("input", { id: "f-owner", name: "owner", value: params.get("owner") || "", placeholder: "owner" });
      return [
        h("h1", null, "At risk"),
        h("form", { class: "filters", onsubmit: function (e) { e.preventDefault(); applyFilters(); } },
          select("rule", ruleNames), select("severity", SEVERITIES), select("stage", stages),
          h("label", null, "owner", owner), h("button", { type: "submit" }, "Filter"),
          h("span", { id: "alerts-count", class: "muted" }, list.alerts.length + " open alert" + (list.alerts.length === 1 ? "" : "s") +
            (list.next_cursor ? " (first 1000)" : ""))),
        table
      ];
    });
  }

  // ---- Customer ----------------------------------------------------------

  function customerView(id) {
    var enc = encodeURIComponent(id);
    return Promise.all([
      api("v1/customers/" + enc),
      api("v1/customers/" + enc + "/timeline").catch(function (e) { return { unavailable: e.message }; })
    ]).then(function (res) {
      var c = res[0], tl = res[1];
      setBanner("");
      var hl = c.health;
      var alerts = c.open_alerts || [];
      var traits = c.traits || {};
      var counters = c.counters || {};
      return [
        h("h1", null, "Customer ", h("span", { id: "customer-id" }, c.customer_id)),
        h("div", { class: "grid" },
          h("section", { class: "card", id: "customer-stage" }, h("h2", null, "Lifecycle"),
            h("dl", { class: "kv" },
              h("dt", null, "stage"), h("dd", { "data-field": "stage" }, c.stage || "none"),
              h("dt", null, "in stage since"), h("dd", null, when(c.stage_entered), " (", fmtNum(c.days_in_stage, 1), " days)"),
              h("dt", null, "first seen"), h("dd", null, when(c.first_seen)),
              h("dt", null, "last seen"), h("dd", null, when(c.last_seen)),
              h("dt", null, "partition"), h("dd", null, c.partition),
              h("dt", null, "as of"), h("dd", null, when(c.as_of)))),
          h("section", { class: "card", id: "customer-health" }, h("h2", null, "Health"),
            h("div", null, h("span", { class: "score", "data-field": "score" }, fmtNum(hl.score)), " ", band(hl.band)),
            h("table", { id: "components" },
              h("thead", null, h("tr", null, h("th", null, "component"), h("th", null, "weight"), h("th", null, "score"), h("th", null, "points"))),
              h("tbody", null, Object.keys(hl.components || {}).map(function (name) {
                // components, weights and points are maps by name, as in health records.
                var w = (hl.weights || {})[name], p = (hl.points || {})[name];
                return h("tr", { "data-component": name }, h("td", null, name), h("td", null, fmtNum(w) + "%"),
                  h("td", null, fmtNum(hl.components[name])), h("td", null, fmtNum(p, 1)));
              }))),
            h("h2", { style: "margin-top:12px" }, "Inputs"),
            h("dl", { class: "kv", id: "inputs" }, Object.keys(hl.inputs || {}).sort().map(function (n) {
              var x = hl.inputs[n];
              return [h("dt", null, n), h("dd", null, x === null ? "none" : fmtNum(x, 2))];
            })))),
        h("section", { class: "card", style: "margin-top:14px" }, h("h2", null, "Open alerts (" + alerts.length + ")"),
          alerts.length ? h("table", { id: "customer-alerts" },
            h("thead", null, h("tr", null, h("th", null, "rule"), h("th", null, "severity"), h("th", null, "since"), h("th", null, "reasons"), h("th", null, ""))),
            h("tbody", null, alerts.map(function (a) {
              return h("tr", { "data-alert": a.alert_id, "data-rule": a.rule },
                h("td", null, a.rule), h("td", null, sev(a.severity)),
                h("td", { title: a.fired_at }, when(a.fired_at), h("div", { class: "muted" }, ago(a.fired_at, c.as_of))),
                h("td", null, h("ul", { class: "reasons" }, (a.reasons || []).map(function (r) { return h("li", null, r); }))),
                h("td", null, actions(a)));
            }))) : h("p", { class: "muted", id: "customer-alerts" }, "No open alerts."),
          (c.held_alerts || []).length ? h("p", { class: "muted" }, "Held back: " + c.held_alerts.map(function (x) {
            return x.rule + (x.fires_at ? " (fires " + when(x.fires_at) + " if it still holds)" : "") + (x.cooldown_until ? " (cooling down until " + when(x.cooldown_until) + ")" : "");
          }).join("; ")) : null),
        h("div", { class: "grid", style: "margin-top:14px" },
          h("section", { class: "card" }, h("h2", null, "Timeline"), timeline(tl)),
          h("section", { class: "card" }, h("h2", null, "Counters"),
            h("dl", { class: "kv", id: "counters" }, Object.keys(counters).sort().map(function (n) {
              return [h("dt", null, n), h("dd", null, counters[n] === null ? "–" : typeof counters[n] === "number" ? fmtNum(counters[n], 2) : String(counters[n]))];
            }))),
          h("section", { class: "card" }, h("h2", null, "Traits"),
            Object.keys(traits).length ? h("dl", { class: "kv", id: "traits" }, Object.keys(traits).sort().map(function (n) {
              return [h("dt", null, n), h("dd", null, traits[n] === null ? "–" : String(traits[n]))];
            })) : h("p", { class: "muted", id: "traits" }, "The rule pack declares no traits.")))
      ];
    }, function (e) {
      if (e.status === 404) return [h("h1", null, "Customer " + id), h("p", { id: "not-found" }, "No customer " + id + ".")];
      throw e;
    });
  }

  // actions are an alert's workflow buttons. ACTIONS: acknowledge, snooze
  // and assign need the write endpoints (POST v1/alerts/{id}/ack, /snooze,
  // /assign), which come later; until then the buttons show, disabled.
  function actions(a) {
    var why = "Needs the alert write endpoints (not enabled on this server yet)";
    return h("div", { class: "actions", "data-actions": a.alert_id },
      h("button", { type: "button", "data-action": "ack", disabled: true, title: why }, "Ack"),
      h("button", { type: "button", "data-action": "snooze", disabled: true, title: why }, "Snooze"),
      h("button", { type: "button", "data-action": "assign", disabled: true, title: why }, "Assign"));
  }

  function timeline(tl) {
    if (!tl || tl.unavailable) return h("p", { class: "muted", id: "timeline" }, "No timeline on this server.");
    var recs = (tl.records || []).slice().reverse();
    if (!recs.length) return h("p", { class: "muted", id: "timeline" }, "No records yet.");
    return h("ul", { class: "timeline", id: "timeline" }, recs.map(function (r) {
      var what;
      switch (r.kind) {
      case "stage": what = ["stage ", r.from || "(new)", " → ", h("b", null, r.to), r.rule ? " (" + r.rule + ")" : ""]; break;
      case "health": what = ["health ", h("b", null, fmtNum(r.score)), " ", band(r.band)]; break;
      case "alert": what = [sev(r.severity), " ", r.rule, " ", h("b", null, r.status), r.reasons && r.reasons.length ? ": " + r.reasons.join("; ") : ""]; break;
      default: what = [r.kind];
      }
      return h("li", { "data-kind": r.kind }, h("span", { class: "when" }, when(r.at)), what);
    }));
  }

  // ---- Router ------------------------------------------------------------

  function route() {
    clearTimeout(refreshTimer);
    var hash = location.hash.replace(/^#/, "") || "/";
    var qi = hash.indexOf("?");
    var path = qi < 0 ? hash : hash.slice(0, qi);
    var params = new URLSearchParams(qi < 0 ? "" : hash.slice(qi + 1));
    var render, nav = "";
    var m = path.match(/^\/customers\/(.+)$/);
    if (m) render = function () { return customerView(decodeURIComponent(m[1])); };
    else if (path === "/alerts") { nav = "alerts"; render = function () { return alertsView(params); }; }
    else { nav = "overview"; render = overview; }
    document.querySelectorAll("[data-nav]").forEach(function (a) { a.classList.toggle("active", a.getAttribute("data-nav") === nav); });
    var token = route.token = (route.token || 0) + 1;
    function run() {
      render().then(function (nodes) {
        if (token !== route.token) return;
        show(nodes);
        asof.textContent = "updated " + new Date().toLocaleTimeString();
        if (nav === "overview") refreshTimer = setTimeout(run, 15000);
      }).catch(function (e) {
        if (token !== route.token) return;
        setBanner("Could not load: " + e.message, true);
        if (!view.firstChild || view.textContent === "Loading…") show(h("p", { class: "muted" }, "Nothing to show."));
      });
    }
    run();
  }

  document.getElementById("goto").addEventListener("submit", function (e) {
    e.preventDefault();
    var id = document.getElementById("goto-id").value.trim();
    if (id) location.hash = "#/customers/" + encodeURIComponent(id);
  });
  window.addEventListener("hashchange", route);
  route();
})();

/* mg-eval report: sample browser and compare view. Plain DOM (no framework, no innerHTML with data),
   data arrives through <script src="data/..."> files calling MGR.chunk / MGR.compare (fetch() of local
   files is blocked under file://). */
(function () {
  "use strict";

  var RIGHT = 1 - 1e-9;
  var store = {};        // slug -> array of chunks (each an array of rows)
  var listeners = [];    // called after every chunk
  var timing = { firstRender: null, allLoaded: null };  // ms since navigation start

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      if (key === "text") { node.textContent = props[key]; }
      else if (key === "class") { node.className = props[key]; }
      else if (key.indexOf("data-") === 0) { node.setAttribute(key, props[key]); }
      else { node[key] = props[key]; }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function short(text, n) {
    text = text == null ? "" : String(text);
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  function outcomeClass(o) {
    if (o === null || o === undefined) { return "ungraded"; }
    if (o >= RIGHT) { return "right"; }
    return o > 0 ? "partial" : "wrong";
  }

  function outcomeText(o) {
    return o === null || o === undefined ? "ungraded" : (Math.round(o * 1000) / 1000).toString();
  }

  function thumb(paths, big) {
    if (!paths || !paths.length) { return el("span", { class: "muted", text: "–" }); }
    var box = el("span", { class: big ? "thumbs big" : "thumbs" });
    (big ? paths : paths.slice(0, 1)).forEach(function (src) {
      box.appendChild(el("img", { src: src, alt: "thumbnail", loading: "lazy" }));
    });
    return box;
  }

  window.MGR = {
    timing: timing,
    chunk: function (slug, k, rows) {
      (store[slug] = store[slug] || [])[k] = rows;
      listeners.forEach(function (fn) { fn(slug, k); });
    },
    compare: function (payload) {
      if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", function () { renderCompare(payload); });
      } else { renderCompare(payload); }
    }
  };

  /* ---------------- sample browser ---------------- */

  function SampleBrowser(manifest) {
    this.manifest = manifest;
    this.bySlug = {};
    manifest.forEach(function (run) { this.bySlug[run.slug] = run; }, this);
    this.rows = [];
    this.filtered = [];
    this.page = 0;
    this.requested = {};
    this.selection = [];
    this.queue = [];
    this.loading = false;
    this.pending = false;
    this.nodes = {};
    ["run-select", "outcome-filter", "category-filter", "search", "page-size", "status", "prev", "next",
      "page-info", "images-note"].forEach(function (id) { this.nodes[id] = document.getElementById(id); }, this);
    this.tbody = document.querySelector("#samples tbody");
    listeners.push(this.onChunk.bind(this));
    this.bind();
  }

  SampleBrowser.prototype.bind = function () {
    var self = this, n = this.nodes;
    n["run-select"].addEventListener("change", function () {
      location.hash = "run=" + encodeURIComponent(n["run-select"].value);
    });
    window.addEventListener("hashchange", function () { self.selectFromHash(); });
    ["outcome-filter", "category-filter", "page-size"].forEach(function (id) {
      n[id].addEventListener("change", function () { self.page = 0; self.refresh(); });
    });
    var timer = null;
    n.search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.page = 0; self.refresh(); }, 150);
    });
    n.prev.addEventListener("click", function () { if (self.page > 0) { self.page -= 1; self.render(); } });
    n.next.addEventListener("click", function () {
      if ((self.page + 1) * self.pageSize() < self.filtered.length) { self.page += 1; self.render(); }
    });
  };

  SampleBrowser.prototype.selectFromHash = function () {
    var match = /run=([^&]+)/.exec(location.hash);
    var slug = match ? decodeURIComponent(match[1]) : (this.manifest.length ? this.manifest[0].slug : "*");
    if (slug !== "*" && !this.bySlug[slug]) { slug = this.manifest.length ? this.manifest[0].slug : "*"; }
    this.nodes["run-select"].value = slug;
    this.selection = slug === "*" ? this.manifest.map(function (r) { return r.slug; }) : [slug];
    var notes = this.selection.map(function (s) { return this.bySlug[s].images_note; }, this).filter(Boolean);
    this.nodes["images-note"].hidden = !notes.length;
    this.nodes["images-note"].textContent = notes.length ? notes[0] : "";
    this.page = 0;
    this.loadedFor = null;
    document.body.removeAttribute("data-loaded");
    this.collect();
    this.selection.forEach(this.load, this);
  };

  SampleBrowser.prototype.load = function (slug) {
    var run = this.bySlug[slug];
    for (var k = 0; k < run.chunks; k += 1) {
      var key = slug + "/" + k;
      if (!this.requested[key]) { this.requested[key] = true; this.queue.push("data/" + slug + "/" + k + ".js"); }
    }
    this.pump();
  };

  SampleBrowser.prototype.pump = function () {  // one chunk script at a time, in order
    if (this.loading || !this.queue.length) { return; }
    var self = this, script = document.createElement("script");
    this.loading = true;
    script.src = this.queue.shift();
    script.onload = script.onerror = function () { self.loading = false; script.remove(); self.pump(); };
    document.body.appendChild(script);
  };

  SampleBrowser.prototype.onChunk = function (slug, k) {
    if (this.selection.indexOf(slug) < 0) { return; }
    this.append(this.bySlug[slug], store[slug][k]);
    this.changed();
  };

  SampleBrowser.prototype.append = function (run, chunk) {
    (chunk || []).forEach(function (r) {
      this.rows.push({ run: run, r: r, text: null });
      r[6].forEach(function (c) { this.categoryCounts[c] = (this.categoryCounts[c] || 0) + 1; }, this);
    }, this);
  };

  SampleBrowser.prototype.collect = function () {  // rows of the selected runs that have already arrived
    this.rows = [];
    this.categoryCounts = {};
    this.expected = 0;
    this.selection.forEach(function (slug) {
      var run = this.bySlug[slug];
      this.expected += run.n;
      (store[slug] || []).forEach(function (chunk) { this.append(run, chunk); }, this);
    }, this);
    this.changed();
  };

  SampleBrowser.prototype.changed = function () {
    this.updateCategories();
    this.refresh();
    if (this.rows.length === this.expected && this.expected > 0 && this.loadedFor !== this.selection.join(" ")) {
      this.loadedFor = this.selection.join(" ");
      if (timing.allLoaded === null) { timing.allLoaded = performance.now(); }
      document.body.setAttribute("data-loaded", String(this.rows.length));
    }
  };

  SampleBrowser.prototype.updateCategories = function () {
    var select = this.nodes["category-filter"], current = select.value, seen = this.categoryCounts;
    var names = Object.keys(seen).sort();
    var key = names.map(function (name) { return name + "=" + seen[name]; }).join("\u0000");
    if (key === this.categoryKey) { return; }
    this.categoryKey = key;
    while (select.options.length > 1) { select.remove(1); }
    names.forEach(function (name) { select.appendChild(el("option", { value: name, text: name + " (" + seen[name] + ")" })); });
    select.value = seen[current] ? current : "";
  };

  SampleBrowser.prototype.pageSize = function () { return parseInt(this.nodes["page-size"].value, 10) || 50; };

  SampleBrowser.prototype.refresh = function () {
    var outcome = this.nodes["outcome-filter"].value, category = this.nodes["category-filter"].value;
    var query = this.nodes.search.value.trim().toLowerCase();
    this.filtered = this.rows.filter(function (row) {
      var r = row.r, cls = outcomeClass(r[5]);
      if (outcome === "wrong" && !(cls === "wrong" || cls === "partial")) { return false; }
      if (outcome !== "all" && outcome !== "wrong" && cls !== outcome) { return false; }
      if (category && r[6].indexOf(category) < 0) { return false; }
      if (query) {
        if (row.text === null) { row.text = [r[0], r[1], r[2], r[3], r[4]].join("\n").toLowerCase(); }
        if (row.text.indexOf(query) < 0) { return false; }
      }
      return true;
    });
    this.render();
  };

  SampleBrowser.prototype.render = function () {
    var size = this.pageSize(), start = this.page * size, end = Math.min(this.filtered.length, start + size);
    var tbody = this.tbody, many = this.selection.length > 1;
    tbody.textContent = "";
    this.filtered.slice(start, end).forEach(function (row) { tbody.appendChild(this.rowNode(row, many)); }, this);
    this.nodes["page-info"].textContent = this.filtered.length ?
      (start + 1) + "–" + end + " of " + this.filtered.length : "no sample matches";
    this.nodes.status.textContent = this.rows.length < this.expected ?
      "loading… " + this.rows.length + " of " + this.expected + " samples" :
      this.filtered.length + " of " + this.rows.length + " samples match";
    this.nodes.prev.disabled = this.page === 0;
    this.nodes.next.disabled = end >= this.filtered.length;
    if (timing.firstRender === null && this.rows.length) { timing.firstRender = performance.now(); }
  };

  SampleBrowser.prototype.rowNode = function (row, many) {
    var r = row.r, cls = outcomeClass(r[5]);
    var idCell = el("td", { class: "mono small" }, [el("span", { text: short(r[0], 40) })]);
    if (many) { idCell.appendChild(el("div", { class: "muted", text: row.run.model + " · " + row.run.task })); }
    var tr = el("tr", { class: "sample " + cls, "data-doc-id": r[0], "data-outcome": cls, "data-run": row.run.slug }, [
      el("td", {}, [thumb(r[8], false)]), idCell,
      el("td", { text: short(r[1], 220) }), el("td", { class: "pre", text: short(r[2], 220) }),
      el("td", { text: short(r[3], 80) }), el("td", { text: short(r[4], 80) }),
      el("td", { class: "num score", text: outcomeText(r[5]) }), el("td", { class: "small", text: r[6].join(", ") })
    ]);
    tr.title = "click for the full sample";
    tr.addEventListener("click", function () {
      var next = tr.nextSibling;
      if (next && next.classList && next.classList.contains("detail")) { next.remove(); return; }
      tr.parentNode.insertBefore(detailNode(row), tr.nextSibling);
    });
    return tr;
  };

  function field(label, value, pre) {
    return el("div", { class: "field" }, [el("div", { class: "label", text: label }),
      el("div", { class: pre ? "value pre" : "value", text: value == null || value === "" ? "–" : String(value) })]);
  }

  function detailNode(row) {
    var r = row.r, other = el("table", { class: "kv small" });
    Object.keys(r[10] || {}).forEach(function (key) {
      other.appendChild(el("tr", {}, [el("th", { text: key }), el("td", { class: "pre", text: r[10][key] })]));
    });
    var box = el("div", { class: "detail-box" }, [
      thumb(r[8], true),
      el("div", { class: "fields" }, [
        field("run", row.run.label), field("doc_id", r[0]), field("question", r[1], true),
        field("prompt", row.run.prefix + r[9], true), field("raw response", r[2], true),
        field("extracted answer", r[3]), field("target", r[4], true), field("score", outcomeText(r[5])),
        field("judge verdict / per-sample detail", r[7], true), field("category (" + (row.run.category_field || "none") + ")", r[6].join(", ")),
        el("details", {}, [el("summary", { text: "other fields" }), other])
      ])
    ]);
    return el("tr", { class: "detail" }, [el("td", { colSpan: 8 }, [box])]);
  }

  /* ---------------- compare view ---------------- */

  var PAGE = 25;

  function side(label, r, cls) {
    return el("div", { class: "side " + cls }, [
      el("div", { class: "side-title", text: label + " · score " + outcomeText(r[5]) }),
      field("raw response", r[2], true), field("extracted", r[3])
    ]);
  }

  function flipCard(pair, direction, names) {
    var a = pair[0], b = pair[1];
    return el("div", { class: "flip", "data-doc-id": a[0], "data-direction": direction }, [
      thumb(a[8], true),
      el("div", { class: "flip-body" }, [
        el("div", { class: "mono small", text: a[0] }), field("question", a[1], true), field("target", a[4], true),
        el("div", { class: "sides" }, [side("A " + names.a, a, "side-a"), side("B " + names.b, b, "side-b")])
      ])
    ]);
  }

  function flipList(title, pairs, direction, names) {
    var list = el("div", { class: "flip-list", "data-direction": direction });
    var shown = 0, more = el("button", { type: "button", class: "more" });
    function showMore(all) {
      var stop = all ? pairs.length : Math.min(pairs.length, shown + PAGE);
      for (; shown < stop; shown += 1) { list.appendChild(flipCard(pairs[shown], direction, names)); }
      more.hidden = shown >= pairs.length;
      more.textContent = "show all " + (pairs.length - shown) + " more";
    }
    more.addEventListener("click", function () { showMore(true); });
    showMore(false);
    if (!pairs.length) { list.appendChild(el("p", { class: "muted small", text: "none" })); }
    return el("div", { class: "flip-group" }, [el("h3", { text: title + " (" + pairs.length + ")" }), list, more]);
  }

  function renderCompare(payload) {
    payload.tasks.forEach(function (task) {
      var box = document.querySelector('.flips[data-task="' + CSS.escape(task.task) + '"][data-protocol="' +
        CSS.escape(task.protocol) + '"]');
      if (!box) { return; }
      box.appendChild(el("div", { class: "flip-columns" }, [
        flipList("A right → B wrong", task.a_only, "a_only", payload),
        flipList("A wrong → B right", task.b_only, "b_only", payload)
      ]));
    });
    document.body.setAttribute("data-loaded", "compare");
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.body.getAttribute("data-page") === "samples") {
      var manifest = JSON.parse(document.getElementById("manifest").textContent);
      window.MGR.browser = new SampleBrowser(manifest);
      window.MGR.browser.selectFromHash();
    }
  });
}());

// screener's page: rows of entries with suggestions as one types, a screen request, and the report.
// Every text from the server or the person is put in the page with textContent, never as HTML.
"use strict";

(function () {
  const API = "api/page/";
  const SEVERITIES = ["contraindicated", "major", "moderate", "minor"];
  const STATUS_TEXT = {
    "findings": "Cautions found",
    "no-findings": "No cautions found in this knowledge base for the recognised inputs",
    "incomplete": "Incomplete: not every entry was screened",
  };
  let rowCount = 0;
  let lastReport = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  async function post(path, body, signal) {
    const response = await fetch(API + path, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal: signal,
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {error: "the server's answer was not JSON"}; }
    if (response.status === 401 && data.signin) showSignin();
    return {status: response.status, data: data};
  }

  // --- rows and suggestions -------------------------------------------------------------------------

  function fieldsets() { return Array.from(document.querySelectorAll("fieldset.entries")); }

  function renumber(fieldset) {
    const label = fieldset.dataset.label;
    fieldset.querySelectorAll("li.row").forEach((row, n) => {
      const text = label + " " + (n + 1);
      row.querySelector("label").textContent = text;
      row.querySelector("button.remove").setAttribute("aria-label", "Remove " + text.toLowerCase());
      row.querySelector("[role=listbox]").setAttribute("aria-label", "Suggestions for " + text.toLowerCase());
    });
  }

  function addRow(fieldset, value, focus) {
    const kind = fieldset.dataset.kind;
    const id = kind + "-" + (++rowCount);
    const input = el("input", {
      id: id, name: kind, type: "text", autocomplete: "off", spellcheck: "false", role: "combobox",
      "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": id + "-list",
      "aria-describedby": id + "-read " + kind + "-hint",
    });
    input.value = value || "";
    const list = el("ul", {id: id + "-list", role: "listbox", class: "suggestions", hidden: true});
    const reading = el("p", {id: id + "-read", class: "reading", "aria-live": "polite"});
    const remove = el("button", {type: "button", class: "remove", text: "Remove"});
    const row = el("li", {class: "row"},
      el("label", {for: id}),
      el("div", {class: "entry"}, el("div", {class: "combo"}, input, list), remove),
      reading);
    fieldset.querySelector("ol.rows").append(row);
    renumber(fieldset);
    wireCombo(kind, input, list, reading);
    remove.addEventListener("click", () => {
      const rows = fieldset.querySelectorAll("li.row");
      const at = Array.from(rows).indexOf(row);
      if (rows.length === 1) { input.value = ""; reading.textContent = ""; reading.className = "reading"; input.focus(); return; }
      row.remove();
      renumber(fieldset);
      const left = fieldset.querySelectorAll("li.row input");
      left[Math.min(at, left.length - 1)].focus();
    });
    if (focus) input.focus();
    if (value) requestSuggestions(kind, input, list, reading, false);
    return input;
  }

  function wireCombo(kind, input, list, reading) {
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => requestSuggestions(kind, input, list, reading, true), 180);
    });
    input.addEventListener("paste", (event) => {
      const text = (event.clipboardData || window.clipboardData).getData("text");
      const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
      if (lines.length < 2) return;
      event.preventDefault();  // one row per pasted line
      const fieldset = input.closest("fieldset");
      input.value = lines[0];
      requestSuggestions(kind, input, list, reading, false);
      let last = input;
      for (const line of lines.slice(1)) last = addRow(fieldset, line, false);
      last.focus();
    });
    input.addEventListener("keydown", (event) => {
      const options = Array.from(list.querySelectorAll("[role=option]"));
      const open = !list.hidden && options.length > 0;
      const current = options.findIndex((o) => o.getAttribute("aria-selected") === "true");
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!open) return;
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        const next = current < 0 ? (step > 0 ? 0 : options.length - 1) : (current + step + options.length) % options.length;
        select(input, options, next);
      } else if (event.key === "Enter" && open && current >= 0) {
        event.preventDefault();  // Enter takes the highlighted suggestion; otherwise it submits the form
        choose(kind, input, list, reading, options[current].dataset.value);
      } else if (event.key === "Escape" && open) {
        event.preventDefault();
        closeList(input, list);
      }
    });
    input.addEventListener("blur", () => {
      clearTimeout(timer);
      // Leaving the input closes the list and says what the whole entry is read as.
      setTimeout(() => { if (document.activeElement !== input) requestSuggestions(kind, input, list, reading, false); }, 150);
    });
  }

  function select(input, options, at) {
    options.forEach((option, n) => option.setAttribute("aria-selected", n === at ? "true" : "false"));
    input.setAttribute("aria-activedescendant", options[at].id);
    options[at].scrollIntoView({block: "nearest"});
  }

  function closeList(input, list) {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function choose(kind, input, list, reading, value) {
    input.value = value;
    closeList(input, list);
    input.focus();
    requestSuggestions(kind, input, list, reading, false);
  }

  const pending = new WeakMap();

  async function requestSuggestions(kind, input, list, reading, showList) {
    const previous = pending.get(input);
    if (previous) previous.abort();
    const controller = new AbortController();
    pending.set(input, controller);
    const text = input.value;
    if (!text.trim()) {
      closeList(input, list);
      reading.textContent = "";
      reading.className = "reading";
      return;
    }
    let answer;
    try {
      answer = await post("suggest", {kind: kind, q: text}, controller.signal);
    } catch (e) {
      return;  // aborted by a newer keystroke, or the server is away (the screen itself will say so)
    }
    if (answer.status !== 200 || input.value !== text) return;
    const {completions, reading: read} = answer.data;
    list.replaceChildren();
    const shown = showList ? completions.filter((name) => name.toLowerCase() !== text.trim().toLowerCase()) : [];
    // While the list offers names that complete a half-typed one, "not recognised" would only be noise.
    showReading(reading, shown.length && read.state === "problem" ? {state: "none"} : read);
    shown.forEach((name, n) => {
      const option = el("li", {id: input.id + "-option-" + n, role: "option", "aria-selected": "false",
                               "data-value": name, text: name});
      option.addEventListener("mousedown", (event) => {
        event.preventDefault();  // keep the focus in the input
        choose(kind, input, list, reading, name);
      });
      list.append(option);
    });
    list.hidden = shown.length === 0;
    input.setAttribute("aria-expanded", shown.length ? "true" : "false");
    input.removeAttribute("aria-activedescendant");
  }

  function showReading(node, read) {
    node.className = "reading " + (read.state === "read" ? "ok" : read.state === "problem" ? "problem" : "");
    if (read.state === "none") { node.textContent = ""; return; }
    let text = (read.state === "read" ? "Read as: " : "Not screened as typed: ") + read.text;
    if (read.suggestions && read.suggestions.length) text += ". Did you mean: " + read.suggestions.join(", ") + "?";
    node.textContent = text;
  }

  function values(kind) {
    return Array.from(document.querySelectorAll("fieldset[data-kind=" + kind + "] li.row input"))
      .map((input) => input.value.trim()).filter((text) => text !== "");
  }

  // --- the screen -----------------------------------------------------------------------------------

  async function screen(event) {
    event.preventDefault();
    const error = document.getElementById("form-error");
    error.textContent = "";
    const body = {
      medications: values("medication"), conditions: values("condition"), allergies: values("allergy"),
      age: document.getElementById("age").value.trim() || null,
    };
    if (!body.medications.length) {
      error.textContent = "Give at least one medication to screen.";
      document.querySelector("fieldset[data-kind=medication] li.row input").focus();
      return;
    }
    const report = document.getElementById("report");
    report.setAttribute("aria-busy", "true");
    let answer;
    try {
      answer = await post("screen", body);
    } catch (e) {
      report.setAttribute("aria-busy", "false");
      error.textContent = "Could not reach the screener service; nothing was screened.";
      return;
    }
    report.setAttribute("aria-busy", "false");
    if (answer.status !== 200) {
      error.textContent = answer.data.error || ("The screen failed (" + answer.status + ").");
      if (answer.data.field === "age") document.getElementById("age").focus();
      return;
    }
    render(answer.data);
    report.focus();
  }

  function render(data) {
    lastReport = data;
    const report = data.report;
    document.getElementById("report-empty").hidden = true;
    document.getElementById("report-body").hidden = false;

    const status = document.getElementById("status");
    status.className = "status status-" + report.status;
    status.replaceChildren(
      el("p", {class: "status-line"}, el("span", {class: "status-label", text: "Status: "}),
         el("strong", {text: STATUS_TEXT[report.status] || report.status})),
      el("p", {class: "message", text: report.message}));

    renderIncomplete(report);
    renderSuppressed(report);
    renderFindings(report, data.paths);
    renderCounselling(report);
    renderScreened(report, data.screened);
    renderSheet(report, data.patient);
  }

  function renderIncomplete(report) {
    const banner = document.getElementById("incomplete");
    const items = report.unrecognized;
    banner.hidden = items.length === 0;
    if (!items.length) { banner.replaceChildren(); return; }
    const list = el("ul");
    for (const item of items) {
      const line = el("li", {}, el("strong", {text: "“" + item.input + "”"}), " (" + item.field + "): " + item.reason + ".");
      if (item.suggestions.length) {
        line.append(" Did you mean: ");
        item.suggestions.forEach((name, n) => {
          if (n) line.append(", ");
          const use = el("button", {type: "button", class: "link", text: name,
                                    "aria-label": "Use " + name + " for " + item.input});
          use.addEventListener("click", () => replaceEntry(item.field, item.input, name));
          line.append(use);
        });
        line.append("?");
      }
      list.append(line);
    }
    const n = items.length;
    banner.replaceChildren(
      el("h3", {text: "Screen incomplete: " + n + " entr" + (n === 1 ? "y" : "ies") + " not recognised or not checked"}),
      el("p", {text: "Cautions involving these may be missing. This is not a clean screen."}),
      list);
  }

  function replaceEntry(field, typed, name) {
    for (const input of document.querySelectorAll("fieldset[data-kind=" + field + "] li.row input")) {
      if (input.value.trim() === typed) {
        // Keep the dosing text the person typed after the name.
        const words = typed.split(/\s+/);
        input.value = words.length > 1 && /\d/.test(typed) ? [name].concat(words.slice(1)).join(" ") : name;
        input.dispatchEvent(new Event("input"));
        input.focus();
        return;
      }
    }
  }

  function renderSuppressed(report) {
    const banner = document.getElementById("suppressed");
    const items = report.suppressed || [];
    banner.hidden = items.length === 0;
    if (!items.length) { banner.replaceChildren(); return; }
    const list = el("ul");
    for (const off of items) {
      list.append(el("li", {text: off.severity + " " + off.kind + " · " + off.title + " (rule " + off.rule +
                                 "): switched off by layer '" + off.layer + "': " + off.reason}));
    }
    banner.replaceChildren(el("h3", {text: "Switched off by a local layer: these would have applied"}), list);
  }

  function renderFindings(report, paths) {
    const root = document.getElementById("findings");
    root.replaceChildren();
    SEVERITIES.forEach((severity) => {
      const group = report.findings.map((f, n) => [f, paths[n]]).filter(([f]) => f.severity === severity);
      if (!group.length) return;
      const title = severity.charAt(0).toUpperCase() + severity.slice(1) + " (" + group.length + ")";
      const list = el("ol", {class: "findings"});
      for (const [finding, path] of group) list.append(renderFinding(finding, path));
      root.append(el("section", {class: "severity sev-" + severity, "aria-label": title},
                     el("h3", {}, el("span", {class: "badge", text: severity.toUpperCase()}), " " + title.replace(/^\S+ /, "")),
                     list));
    });
  }

  function renderFinding(finding, path) {
    const rows = el("dl");
    const add = (term, value) => {
      if (!value) return;
      rows.append(el("div", {class: "pair"}, el("dt", {text: term}),
                     typeof value === "string" ? el("dd", {text: value}) : el("dd", {}, value)));
    };
    add("Effect", finding.summary);
    add("Why", finding.mechanism);
    add("Do", finding.advice);
    add("Patient", finding.plain);
    add("Path", el("span", {class: "path", text: path}));
    const sources = el("ul", {class: "sources"});
    for (const source of finding.sources) sources.append(el("li", {text: source}));
    add("Sources", sources);
    const codes = Object.entries(finding.codes).map(([k, v]) => k + ":" + v).join(" ");
    add("Rule", finding.rule + " · " + finding.evidence + (codes ? " · " + codes : "") +
                (finding.layer !== "bundled" ? " · layer " + finding.layer : ""));
    add("Override", finding.override);
    add("From", finding.inputs.map((text) => "“" + text + "”").join(", "));
    return el("li", {class: "finding"},
              el("h4", {}, el("span", {class: "kind", text: finding.kind}), " · " + finding.title),
              rows);
  }

  function renderCounselling(report) {
    const block = document.getElementById("counselling");
    const list = block.querySelector("ul");
    list.replaceChildren();
    for (const point of report.counselling) {
      // One line per topic (its first sentence); the full point and its source open under it.
      const first = (point.text.match(/^.*?[.!?](?=\s|$)/) || [point.text])[0];
      const rest = point.text.slice(first.length).trim();
      list.append(el("li", {}, el("details", {},
        el("summary", {}, el("strong", {text: point.topic + ": "}), first),
        rest ? el("p", {text: rest}) : null,
        el("p", {class: "muted", text: "Source: " + point.source}))));
    }
    block.hidden = report.counselling.length === 0;
  }

  function renderScreened(report, screened) {
    const body = document.querySelector("#screened tbody");
    body.replaceChildren();
    for (const line of screened) {
      body.append(el("tr", {}, el("td", {text: line.field}), el("td", {text: line.input}), el("td", {text: line.read})));
    }
    for (const item of report.unrecognized) {
      body.append(el("tr", {class: "unread"}, el("td", {text: item.field}), el("td", {text: item.input}),
                     el("td", {text: "not screened: " + item.reason})));
    }
    if (report.screened.age !== null) {
      body.append(el("tr", {}, el("td", {text: "age"}), el("td", {text: String(report.screened.age)}),
                     el("td", {text: report.screened.age + " years"})));
    }
    const layers = report.layers.length ? "; local layers: " + report.layers.join(", ") : "";
    document.getElementById("knowledge").textContent =
      "Knowledge " + report.knowledge_version + layers + (report.scope ? ". Scope: " + report.scope : "");
  }

  function renderSheet(report, lines) {
    document.getElementById("sheet-date").textContent = new Date().toLocaleDateString();
    // Only what was screened: an entry not recognised or not covered is not "checked".
    const unread = new Set(report.unrecognized.filter((u) => u.field === "medication").map((u) => u.input));
    const medicines = report.screened.medications.map((m) => m.input).filter((text) => !unread.has(text));
    document.getElementById("sheet-medicines").textContent = medicines.join("; ") || "none";
    document.getElementById("sheet-incomplete").hidden = report.unrecognized.length === 0;
    const list = document.getElementById("sheet-lines");
    list.replaceChildren();
    for (const line of lines) list.append(el("li", {text: line}));
    if (!lines.length) list.append(el("li", {text: "No points to note from this check."}));
  }

  function printAs(what) {
    document.body.dataset.print = what;
    if (what === "report") document.querySelectorAll("#counselling details").forEach((d) => { d.open = true; });
    window.print();
  }

  // --- sign-in and start ----------------------------------------------------------------------------

  function showSignin() {
    document.getElementById("signin").hidden = false;
    document.getElementById("token").focus();
  }

  async function signin(event) {
    event.preventDefault();
    const error = document.getElementById("signin-error");
    error.textContent = "";
    const token = document.getElementById("token");
    let answer;
    try {
      answer = await post("login", {token: token.value});
    } catch (e) {
      error.textContent = "Could not reach the screener service.";
      return;
    }
    token.value = "";
    if (answer.status !== 200) { error.textContent = answer.data.error || "Sign-in failed."; return; }
    document.getElementById("signin").hidden = true;
    loadInfo();
    document.querySelector("fieldset[data-kind=medication] li.row input").focus();
  }

  async function loadInfo() {
    try {
      const response = await fetch(API + "info", {credentials: "same-origin"});
      const data = await response.json();
      if (response.status === 401) { showSignin(); return; }
      if (response.ok) document.getElementById("version").textContent = "Knowledge " + data.knowledge_version;
    } catch (e) {
      document.getElementById("version").textContent = "The screener service could not be reached.";
    }
  }

  function clear() {
    for (const fieldset of fieldsets()) {
      fieldset.querySelector("ol.rows").replaceChildren();
      addRow(fieldset, "", false);
    }
    document.getElementById("age").value = "";
    document.getElementById("form-error").textContent = "";
    document.getElementById("report-body").hidden = true;
    document.getElementById("report-empty").hidden = false;
    lastReport = null;
    document.querySelector("fieldset[data-kind=medication] li.row input").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const fieldset of fieldsets()) {
      addRow(fieldset, "", false);
      fieldset.querySelector("button.add").addEventListener("click", () => addRow(fieldset, "", true));
    }
    document.getElementById("patient").addEventListener("submit", screen);
    document.getElementById("clear").addEventListener("click", clear);
    document.getElementById("signin-form").addEventListener("submit", signin);
    document.getElementById("print-patient").addEventListener("click", () => printAs("patient"));
    document.getElementById("print-report").addEventListener("click", () => printAs("report"));
    window.addEventListener("afterprint", () => { delete document.body.dataset.print; });
    loadInfo();
  });
})();

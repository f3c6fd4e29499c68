// The web chat UI served at GET / by `nanochat serve`: one self-contained page (inline CSS and JS, no
// external resources) kept as a string so `deno compile` embeds it. Model text is only ever put in the
// page through textContent and DOM nodes built by the small markdown renderer below, never as HTML.

const CSS = String.raw`
:root {
  --bg: #f7f7f8; --panel: #ffffff; --text: #1f2328; --muted: #6b7280; --border: #d9dce1;
  --user: #e8f0fe; --accent: #2563eb; --danger: #b91c1c; --danger-bg: #fde8e8; --code-bg: #0f172a;
  --code-text: #e2e8f0;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #16181d; --panel: #1e2128; --text: #e6e8eb; --muted: #9aa1ab; --border: #343843;
    --user: #243352; --accent: #60a5fa; --danger: #fca5a5; --danger-bg: #3f1d1d; --code-bg: #0b1020;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; }
body {
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg);
  color: var(--text); height: 100dvh; display: flex; flex-direction: column; overflow: hidden;
}
header {
  display: flex; align-items: center; gap: 8px; padding: 8px 12px;
  padding-top: calc(8px + env(safe-area-inset-top));
  padding-left: calc(12px + env(safe-area-inset-left)); padding-right: calc(12px + env(safe-area-inset-right));
  border-bottom: 1px solid var(--border); background: var(--panel);
}
header h1 { font-size: 18px; margin: 0; flex: 1; white-space: nowrap; }
button {
  font: inherit; font-size: 14px; border: 1px solid var(--border); background: var(--panel); color: var(--text);
  border-radius: 8px; padding: 6px 10px; cursor: pointer;
}
button:hover { border-color: var(--accent); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button[hidden], [hidden] { display: none !important; }
#settings {
  display: flex; flex-wrap: wrap; gap: 8px 16px; padding: 8px 12px; background: var(--panel);
  border-bottom: 1px solid var(--border); font-size: 14px;
}
#settings label { display: flex; align-items: center; gap: 6px; }
#settings input { font: inherit; width: 80px; padding: 4px 6px; border: 1px solid var(--border);
  border-radius: 6px; background: var(--bg); color: var(--text); }
#settings input#api-key { width: 180px; }
#banner {
  margin: 8px 12px 0; padding: 8px 12px; border-radius: 8px; background: var(--danger-bg);
  color: var(--danger); border: 1px solid var(--danger); font-size: 14px; overflow-wrap: anywhere;
}
#messages {
  flex: 1; overflow-y: auto; overflow-x: hidden; padding: 12px;
  padding-left: calc(12px + env(safe-area-inset-left)); padding-right: calc(12px + env(safe-area-inset-right));
}
.inner { max-width: 820px; margin: 0 auto; display: flex; flex-direction: column; gap: 12px; }
.empty { color: var(--muted); text-align: center; margin-top: 20vh; }
.msg { max-width: 100%; overflow-wrap: anywhere; min-width: 0; }
.msg.user {
  align-self: flex-end; background: var(--user); padding: 8px 12px; border-radius: 14px; white-space: pre-wrap;
  cursor: pointer; max-width: 85%;
}
.msg.user:hover { outline: 1px dashed var(--accent); }
.msg.assistant { align-self: stretch; }
.msg.assistant .content > :first-child { margin-top: 0; }
.msg.assistant .content > :last-child { margin-bottom: 0; }
.msg .actions { margin-top: 4px; display: flex; gap: 6px; }
.msg .actions button { font-size: 12px; padding: 2px 8px; color: var(--muted); }
.msg .note { color: var(--muted); font-size: 13px; font-style: italic; }
.content p { margin: 0 0 10px; }
.content ul, .content ol { margin: 0 0 10px; padding-left: 24px; }
.content a { color: var(--accent); }
.content code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em;
  background: rgba(127, 127, 127, 0.15); padding: 1px 4px; border-radius: 4px; }
.content pre { background: var(--code-bg); color: var(--code-text); padding: 10px 12px; border-radius: 8px;
  overflow-x: auto; max-width: 100%; margin: 0 0 10px; }
.content pre code { background: none; padding: 0; font-size: 13px; white-space: pre; }
.tok-kw { color: #c084fc; } .tok-str { color: #86efac; } .tok-num { color: #fdba74; }
.tok-com { color: #94a3b8; font-style: italic; }
.typing { display: inline-flex; gap: 4px; padding: 6px 0; }
.typing span { width: 8px; height: 8px; border-radius: 50%; background: var(--muted);
  animation: blink 1.2s infinite ease-in-out; }
.typing span:nth-child(2) { animation-delay: 0.2s; } .typing span:nth-child(3) { animation-delay: 0.4s; }
@keyframes blink { 0%, 80%, 100% { opacity: 0.25; } 40% { opacity: 1; } }
footer {
  border-top: 1px solid var(--border); background: var(--panel); padding: 8px 12px;
  padding-bottom: calc(8px + env(safe-area-inset-bottom));
  padding-left: calc(12px + env(safe-area-inset-left)); padding-right: calc(12px + env(safe-area-inset-right));
}
footer form { max-width: 820px; margin: 0 auto; display: flex; gap: 8px; align-items: flex-end; }
#input {
  flex: 1; min-width: 0; resize: none; font: inherit; padding: 8px 10px; border-radius: 10px;
  border: 1px solid var(--border); background: var(--bg); color: var(--text); max-height: 200px;
}
`;

const SCRIPT = String.raw`
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var els = {
    messages: $("messages"), input: $("input"), send: $("send"), stop: $("stop"), banner: $("banner"),
    newChat: $("new-chat"), settingsToggle: $("settings-toggle"), settings: $("settings"),
    temperature: $("temperature"), topK: $("top-k"), maxTokens: $("max-tokens"), apiKeyRow: $("api-key-row"),
    apiKey: $("api-key"), form: $("composer"),
  };
  var KEY = "nanochat.settings";
  var DEFAULTS = { temperature: 0.8, topK: 50, maxTokens: 512, apiKey: "" };
  var messages = [];       // {role, content, note?}
  var busy = false;
  var controller = null;   // the AbortController of the request in flight
  var retryTimer = null;   // the 503 countdown
  var streamingEl = null;  // the .content element of the reply being streamed

  // ---- settings (localStorage) ----
  function loadSettings() {
    var s = {};
    try { s = JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (_e) { s = {}; }
    return {
      temperature: clampNum(s.temperature, 0, 2, DEFAULTS.temperature, false),
      topK: clampNum(s.topK, 0, 200, DEFAULTS.topK, true),
      maxTokens: clampNum(s.maxTokens, 1, 4096, DEFAULTS.maxTokens, true),
      apiKey: typeof s.apiKey === "string" ? s.apiKey : "",
    };
  }
  function clampNum(v, lo, hi, dflt, integer) {
    var n = typeof v === "number" ? v : parseFloat(v);
    if (!isFinite(n)) return dflt;
    if (integer) n = Math.round(n);
    return Math.min(hi, Math.max(lo, n));
  }
  var settings = loadSettings();
  function showSettings() {
    els.temperature.value = String(settings.temperature);
    els.topK.value = String(settings.topK);
    els.maxTokens.value = String(settings.maxTokens);
    els.apiKey.value = settings.apiKey;
    if (settings.apiKey) els.apiKeyRow.hidden = false;
  }
  function saveSettings() {
    settings = {
      temperature: clampNum(els.temperature.value, 0, 2, DEFAULTS.temperature, false),
      topK: clampNum(els.topK.value, 0, 200, DEFAULTS.topK, true),
      maxTokens: clampNum(els.maxTokens.value, 1, 4096, DEFAULTS.maxTokens, true),
      apiKey: els.apiKey.value.trim(),
    };
    try { localStorage.setItem(KEY, JSON.stringify(settings)); } catch (_e) { /* private mode */ }
    showSettings();
  }
  [els.temperature, els.topK, els.maxTokens, els.apiKey].forEach(function (el) {
    el.addEventListener("change", saveSettings);
  });
  els.settingsToggle.addEventListener("click", function () {
    els.settings.hidden = !els.settings.hidden;
    els.settingsToggle.setAttribute("aria-expanded", String(!els.settings.hidden));
  });

  // ---- banner ----
  var bannerKind = "";
  function showBanner(text, kind) {
    els.banner.textContent = text;
    els.banner.hidden = false;
    els.banner.dataset.kind = kind || "error";
    bannerKind = kind || "error";
  }
  function hideBanner() { els.banner.hidden = true; els.banner.textContent = ""; bannerKind = ""; }
  var UNREACHABLE = "Cannot reach the nanochat server. Is it running? (check the terminal running nanochat serve)";

  function checkHealth() {
    return fetch("health", { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (h) {
      if (h && h.ready === false) showBanner("The server is up but has no model ready yet.", "health");
      else if (bannerKind === "unreachable" || bannerKind === "health") hideBanner();
      return true;
    }).catch(function () { showBanner(UNREACHABLE, "unreachable"); return false; });
  }

  // ---- markdown (a safe subset, built as DOM nodes: text only ever goes through textContent) ----
  var KEYWORDS = ("abstract and as async await break case catch class const continue def del do elif else " +
    "enum except export extends false False final finally fn for from func function go if impl import in " +
    "interface is lambda let loop match mod mut new nil none None not null or package pass private protected " +
    "pub public raise return self static struct super switch this throw true True try type typeof use var void " +
    "while with yield int float str bool char double long unsigned").split(" ");
  var KW = {};
  KEYWORDS.forEach(function (k) { KW[k] = true; });
  var HASH_COMMENT = { "": 1, py: 1, python: 1, sh: 1, bash: 1, shell: 1, zsh: 1, ruby: 1, rb: 1, r: 1,
    yaml: 1, yml: 1, toml: 1, perl: 1, ini: 1 };
  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }
  function highlight(code, lang, parent) {
    var hash = HASH_COMMENT[lang] ? "|#[^\\n]*" : "";
    var re = new RegExp("(\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?\\*\\/" + hash + ")|" +
      "(\"(?:[^\"\\\\\\n]|\\\\.)*\"|'(?:[^'\\\\\\n]|\\\\.)*')|" +
      "\\b(\\d+(?:\\.\\d+)?)\\b|\\b([A-Za-z_]\\w*)\\b", "g");
    var last = 0, m, plain = "";
    while ((m = re.exec(code)) !== null) {
      if (m[4] !== undefined && !KW[m[4]]) continue;
      plain = code.slice(last, m.index);
      if (plain) parent.appendChild(document.createTextNode(plain));
      var cls = m[1] !== undefined ? "tok-com" : m[2] !== undefined ? "tok-str" : m[3] !== undefined
        ? "tok-num" : "tok-kw";
      parent.appendChild(span(cls, m[0]));
      last = m.index + m[0].length;
    }
    if (last < code.length) parent.appendChild(document.createTextNode(code.slice(last)));
  }
  var INLINE = /\x60([^\x60\n]+)\x60|\[([^\]\n]+)\]\(([^()\s]+)\)|\*\*([^*\n][\s\S]*?)\*\*|\*([^*\s][^*\n]*?)\*|(https?:\/\/[^\s<>()]*[^\s<>().,;:!?'"])/;
  // noLinks: inside a link label, where links and autolinks stay text
  function inline(parent, text, noLinks) {
    while (text) {
      var m = INLINE.exec(text);
      if (!m) break;
      if (m.index > 0) parent.appendChild(document.createTextNode(text.slice(0, m.index)));
      if (m[1] !== undefined) {
        var c = document.createElement("code");
        c.textContent = m[1];
        parent.appendChild(c);
      } else if (m[2] !== undefined) {
        if (!noLinks && /^https?:\/\//i.test(m[3])) parent.appendChild(link(m[3], m[2]));
        else parent.appendChild(document.createTextNode(m[0]));
      } else if (m[4] !== undefined) {
        var b = document.createElement("strong");
        inline(b, m[4], noLinks);
        parent.appendChild(b);
      } else if (m[5] !== undefined) {
        var i = document.createElement("em");
        inline(i, m[5], noLinks);
        parent.appendChild(i);
      } else if (noLinks) {
        parent.appendChild(document.createTextNode(m[0]));
      } else {
        parent.appendChild(link(m[6], m[6]));
      }
      text = text.slice(m.index + m[0].length);
    }
    if (text) parent.appendChild(document.createTextNode(text));
  }
  function link(href, label) {
    var a = document.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    inline(a, label, true);
    return a;
  }
  function inlineLines(parent, lines) {
    lines.forEach(function (line, k) {
      if (k > 0) parent.appendChild(document.createElement("br"));
      inline(parent, line);
    });
  }
  var FENCE = /^\s*\x60\x60\x60\s*([\w+#.-]*)\s*$/;
  var ITEM = /^\s*([-*+]|\d+[.)])\s+(.*)$/;
  var HEADING = /^(#{1,6})\s+(.*)$/;
  function renderMarkdown(text, root) {
    root.textContent = "";
    var lines = text.split("\n");
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      var f = FENCE.exec(line);
      if (f) {
        var body = [];
        i++;
        while (i < lines.length && !/^\s*\x60\x60\x60\s*$/.test(lines[i])) body.push(lines[i++]);
        i++; // the closing fence (or the end while it is still streaming)
        var pre = document.createElement("pre");
        var code = document.createElement("code");
        var lang = f[1].toLowerCase();
        if (lang) code.dataset.lang = lang;
        highlight(body.join("\n"), lang, code);
        pre.appendChild(code);
        root.appendChild(pre);
        continue;
      }
      if (!line.trim()) { i++; continue; }
      var h = HEADING.exec(line);
      if (h) {
        var he = document.createElement("h" + Math.min(6, h[1].length + 2));
        inline(he, h[2]);
        root.appendChild(he);
        i++;
        continue;
      }
      var it = ITEM.exec(line);
      if (it) {
        var ordered = /\d/.test(it[1]);
        var list = document.createElement(ordered ? "ol" : "ul");
        while (i < lines.length) {
          var li = ITEM.exec(lines[i]);
          if (!li || /\d/.test(li[1]) !== ordered) break;
          if (ordered && list.children.length === 0) {
            var start = parseInt(li[1], 10);
            if (start !== 1) list.setAttribute("start", String(start));
          }
          var item = document.createElement("li");
          inline(item, li[2]);
          list.appendChild(item);
          i++;
        }
        root.appendChild(list);
        continue;
      }
      var para = [];
      while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !ITEM.test(lines[i]) &&
        !HEADING.test(lines[i])) para.push(lines[i++]);
      var p = document.createElement("p");
      inlineLines(p, para);
      root.appendChild(p);
    }
  }

  // ---- rendering the conversation ----
  function render() {
    var inner = document.createElement("div");
    inner.className = "inner";
    if (messages.length === 0) {
      var empty = document.createElement("div");
      empty.className = "empty";
      empty.dataset.testid = "empty";
      empty.textContent = "Ask nanochat anything. Enter sends, Shift+Enter adds a line.";
      inner.appendChild(empty);
    }
    streamingEl = null;
    messages.forEach(function (m, idx) {
      var div = document.createElement("div");
      div.className = "msg " + m.role;
      div.dataset.testid = "message-" + m.role;
      div.dataset.index = String(idx);
      if (m.role === "user") {
        div.textContent = m.content;
        div.title = "Click to edit";
        div.addEventListener("click", function () { editMessage(idx); });
      } else {
        var content = document.createElement("div");
        content.className = "content";
        content.dataset.testid = "message-content";
        if (m.pending && !m.content) content.appendChild(typingIndicator());
        else renderMarkdown(m.content, content);
        div.appendChild(content);
        if (m.pending) streamingEl = content;
        if (m.note) {
          var note = document.createElement("div");
          note.className = "note";
          note.textContent = m.note;
          div.appendChild(note);
        }
        if (!m.pending) {
          var actions = document.createElement("div");
          actions.className = "actions";
          var regen = document.createElement("button");
          regen.type = "button";
          regen.textContent = "\u21bb Regenerate";
          regen.dataset.testid = "regenerate";
          regen.disabled = busy;
          regen.addEventListener("click", function () { regenerate(idx); });
          actions.appendChild(regen);
          div.appendChild(actions);
        }
      }
      inner.appendChild(div);
    });
    els.messages.textContent = "";
    els.messages.appendChild(inner);
    scrollDown(true);
  }
  function typingIndicator() {
    var t = document.createElement("div");
    t.className = "typing";
    t.id = "typing";
    t.dataset.testid = "typing";
    t.setAttribute("aria-label", "nanochat is typing");
    for (var k = 0; k < 3; k++) t.appendChild(document.createElement("span"));
    return t;
  }
  function scrollDown(force) {
    var el = els.messages;
    if (force || el.scrollHeight - el.scrollTop - el.clientHeight < 120) el.scrollTop = el.scrollHeight;
  }
  function setBusy(b) {
    busy = b;
    els.send.hidden = b;
    els.stop.hidden = !b;
    document.body.dataset.busy = b ? "1" : "0";
    Array.prototype.forEach.call(document.querySelectorAll("[data-testid=regenerate]"), function (r) {
      r.disabled = b;
    });
  }

  // ---- actions ----
  function send() {
    var text = els.input.value.replace(/\s+$/, "");
    if (!text.trim() || busy) return;
    messages.push({ role: "user", content: text });
    els.input.value = "";
    autoGrow();
    request();
  }
  function editMessage(idx) {
    if (busy) return;
    var text = messages[idx].content;
    messages = messages.slice(0, idx);
    render();
    els.input.value = text;
    autoGrow();
    els.input.focus();
  }
  function regenerate(idx) {
    if (busy) return;
    messages = messages.slice(0, idx);
    request();
  }
  function newConversation() {
    stop();
    messages = [];
    if (bannerKind !== "unreachable") hideBanner();
    render();
    els.input.value = "";
    autoGrow();
    els.input.focus();
  }
  function stop() {
    if (retryTimer !== null) {
      clearInterval(retryTimer);
      retryTimer = null;
      if (bannerKind === "busy") hideBanner();
      failRequest(null);
    }
    if (controller) controller.abort();
  }
  // a request that produced nothing: drop the reply and the question, giving the question back to the input
  function failRequest(message, kind) {
    var last = messages[messages.length - 1];
    if (last && last.role === "assistant" && last.pending) messages.pop();
    last = messages[messages.length - 1];
    if (last && last.role === "user" && !els.input.value) {
      messages.pop();
      els.input.value = last.content;
      autoGrow();
    }
    setBusy(false);
    render();
    if (message) showBanner(message, kind);
  }

  function request() {
    var history = messages.filter(function (m) { return !m.pending; }).map(function (m) {
      return { role: m.role, content: m.content };
    });
    if (!messages.length || messages[messages.length - 1].role !== "assistant") {
      messages.push({ role: "assistant", content: "", pending: true });
    }
    var reply = messages[messages.length - 1];
    setBusy(true);
    render();
    var headers = { "content-type": "application/json" };
    if (settings.apiKey) headers.authorization = "Bearer " + settings.apiKey;
    var ctrl = new AbortController();
    controller = ctrl;
    var body = JSON.stringify({
      messages: history, temperature: settings.temperature, top_k: settings.topK, max_tokens: settings.maxTokens,
    });
    fetch("chat/completions", { method: "POST", headers: headers, body: body, signal: ctrl.signal })
      .then(function (res) {
        if (res.status === 503) return busyRetry(res);
        if (res.status === 401) {
          els.apiKeyRow.hidden = false;
          els.settings.hidden = false;
          controller = null;
          return errorText(res).then(function (t) {
            failRequest("This server needs an API key: enter it in the settings and send again. (" + t + ")",
              "auth");
            els.apiKey.focus();
          });
        }
        if (!res.ok || !res.body) {
          controller = null;
          return errorText(res).then(function (t) { failRequest("Request failed: " + t, "error"); });
        }
        if (bannerKind !== "health") hideBanner();
        return readStream(res.body, reply, ctrl);
      })
      .catch(function (err) {
        if (controller === ctrl) controller = null;
        if (ctrl.signal.aborted) { finishReply(reply, "stopped"); return; }
        if (reply.content) { finishReply(reply, "the connection was lost"); showBanner(UNREACHABLE, "unreachable"); return; }
        failRequest(UNREACHABLE, "unreachable");
        checkHealth();
        void err;
      });
  }
  function errorText(res) {
    return res.text().then(function (t) {
      try {
        var j = JSON.parse(t);
        var e = j.error !== undefined ? j.error : j.detail;
        if (e && typeof e === "object" && e.message) e = e.message;
        if (e) return String(e);
      } catch (_e) { /* not JSON */ }
      return "HTTP " + res.status + (t ? ": " + t.slice(0, 200) : "");
    }).catch(function () { return "HTTP " + res.status; });
  }
  function busyRetry(res) {
    controller = null;
    var ra = res.headers.get("retry-after");
    var secs = ra && /^\d+$/.test(ra.trim()) ? parseInt(ra, 10) : ra ? Math.ceil((Date.parse(ra) - Date.now()) / 1000) : 1;
    if (!isFinite(secs) || secs < 1) secs = 1;
    if (secs > 120) secs = 120;
    var left = secs;
    var tick = function () { showBanner("Server busy, retrying in " + left + " s\u2026", "busy"); };
    tick();
    retryTimer = setInterval(function () {
      left--;
      if (left > 0) { tick(); return; }
      clearInterval(retryTimer);
      retryTimer = null;
      request();
    }, 1000);
    return res.body ? res.body.cancel() : undefined;
  }
  function readStream(body, reply, ctrl) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buf = "";
    var done = false;
    function handle(event) {
      var data = event.split("\n").filter(function (l) { return l.indexOf("data:") === 0; })
        .map(function (l) { return l.slice(5).replace(/^ /, ""); }).join("\n");
      if (!data) return;
      var msg;
      try { msg = JSON.parse(data); } catch (_e) { return; }
      if (typeof msg.token === "string" && msg.token) {
        reply.content += msg.token;
        if (streamingEl) renderMarkdown(reply.content, streamingEl);
        scrollDown(false);
      }
      if (msg.error) showBanner("Generation failed: " + String(msg.error), "error");
      if (msg.done) done = true;
    }
    function pump() {
      return reader.read().then(function (r) {
        if (r.value) buf += decoder.decode(r.value, { stream: true });
        buf = buf.replace(/\r\n/g, "\n");
        var cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          handle(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
        if (r.done) {
          if (buf.trim()) handle(buf);
          if (controller === ctrl) controller = null;
          finishReply(reply, done ? "" : "the reply was cut off");
          return;
        }
        return pump();
      });
    }
    return pump();
  }
  function finishReply(reply, note) {
    reply.pending = false;
    if (note) reply.note = "(" + note + ")";
    if (!reply.content) {
      var idx = messages.indexOf(reply);
      if (idx >= 0 && note === "stopped") messages.splice(idx, 1);
      else reply.content = "";
    }
    setBusy(false);
    render();
  }

  // ---- input ----
  function autoGrow() {
    els.input.style.height = "auto";
    els.input.style.height = Math.min(els.input.scrollHeight + 2, 200) + "px";
  }
  els.input.addEventListener("input", autoGrow);
  els.input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  els.form.addEventListener("submit", function (e) { e.preventDefault(); send(); });
  els.stop.addEventListener("click", stop);
  els.newChat.addEventListener("click", newConversation);
  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.shiftKey && (e.key === "N" || e.key === "n")) {
      e.preventDefault();
      newConversation();
    }
  });

  showSettings();
  setBusy(false);
  render();
  autoGrow();
  checkHealth();
  els.input.focus();
})();
`;

/** The page served at GET /. */
export const UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<title>nanochat</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>nanochat</h1>
  <button type="button" id="settings-toggle" data-testid="settings-toggle" aria-expanded="false"
    aria-controls="settings" title="Settings">\u2699 Settings</button>
  <button type="button" id="new-chat" data-testid="new-chat" title="New conversation (Ctrl+Shift+N)">+ New</button>
</header>
<div id="settings" data-testid="settings" hidden>
  <label>Temperature <input id="temperature" data-testid="temperature" type="number" min="0" max="2"
    step="0.1"></label>
  <label>Top-k <input id="top-k" data-testid="top-k" type="number" min="0" max="200" step="1"></label>
  <label>Max tokens <input id="max-tokens" data-testid="max-tokens" type="number" min="1" max="4096"
    step="1"></label>
  <label id="api-key-row" hidden>API key <input id="api-key" data-testid="api-key" type="password"
    autocomplete="off"></label>
</div>
<div id="banner" data-testid="error-banner" role="alert" hidden></div>
<main id="messages" data-testid="messages" aria-live="polite"></main>
<footer>
  <form id="composer">
    <textarea id="input" data-testid="input" rows="1" placeholder="Message nanochat\u2026"
      aria-label="Message"></textarea>
    <button type="submit" id="send" data-testid="send" class="primary">Send</button>
    <button type="button" id="stop" data-testid="stop" hidden>Stop</button>
  </form>
</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;

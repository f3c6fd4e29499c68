// @ts-check
/// <reference lib="dom" />
// The web chat UI's script (served inline in the page by src/ui/page.ts; plain browser JavaScript, type-checked
// through JSDoc by `deno check`). Model text only ever reaches the page through textContent and the DOM nodes
// the small markdown renderer below builds, never as HTML.
"use strict";

/**
 * @typedef {{ role: "user" | "assistant", content: string, note?: string, pending?: boolean }} ChatMessage
 * @typedef {{ temperature: number, topK: number, maxTokens: number, apiKey: string, model: string }} Settings
 * @typedef {{ id: string, stage?: string, tag?: string, step?: number, default?: boolean }} ModelEntry
 */

(function () {
  /**
   * @template {HTMLElement} T
   * @param {string} id
   * @param {new () => T} type
   * @returns {T}
   */
  function byId(id, type) {
    const el = document.getElementById(id);
    if (!(el instanceof type)) throw new Error(`the page has no #${id}`);
    return el;
  }
  const els = {
    messages: byId("messages", HTMLElement),
    input: byId("input", HTMLTextAreaElement),
    send: byId("send", HTMLButtonElement),
    stop: byId("stop", HTMLButtonElement),
    banner: byId("banner", HTMLDivElement),
    newChat: byId("new-chat", HTMLButtonElement),
    settingsToggle: byId("settings-toggle", HTMLButtonElement),
    settings: byId("settings", HTMLDivElement),
    temperature: byId("temperature", HTMLInputElement),
    topK: byId("top-k", HTMLInputElement),
    maxTokens: byId("max-tokens", HTMLInputElement),
    apiKeyRow: byId("api-key-row", HTMLLabelElement),
    apiKey: byId("api-key", HTMLInputElement),
    model: byId("model", HTMLSelectElement),
    form: byId("composer", HTMLFormElement),
  };
  const KEY = "nanochat.settings";
  /** @type {Settings} */
  const DEFAULTS = { temperature: 0.8, topK: 50, maxTokens: 512, apiKey: "", model: "" };
  /** @type {ChatMessage[]} */
  let messages = [];
  let busy = false;
  /** @type {AbortController | null} the request in flight */
  let controller = null;
  /** @type {ReturnType<typeof setInterval> | null} the 503 countdown */
  let retryTimer = null;
  /** @type {HTMLElement | null} the .content element of the reply being streamed */
  let streamingEl = null;

  // ---- settings (localStorage) ----
  /**
   * @param {unknown} v
   * @param {number} lo
   * @param {number} hi
   * @param {number} dflt
   * @param {boolean} integer
   */
  function clampNum(v, lo, hi, dflt, integer) {
    let n = typeof v === "number" ? v : parseFloat(String(v));
    if (!isFinite(n)) return dflt;
    if (integer) n = Math.round(n);
    return Math.min(hi, Math.max(lo, n));
  }
  /** @returns {Settings} */
  function loadSettings() {
    /** @type {Record<string, unknown>} */
    let s = {};
    try {
      s = JSON.parse(localStorage.getItem(KEY) || "{}") || {};
    } catch (_e) {
      s = {};
    }
    return {
      temperature: clampNum(s.temperature, 0, 2, DEFAULTS.temperature, false),
      topK: clampNum(s.topK, 0, 200, DEFAULTS.topK, true),
      maxTokens: clampNum(s.maxTokens, 1, 4096, DEFAULTS.maxTokens, true),
      apiKey: typeof s.apiKey === "string" ? s.apiKey : "",
      model: typeof s.model === "string" ? s.model : "",
    };
  }
  let settings = loadSettings();
  function showSettings() {
    els.temperature.value = String(settings.temperature);
    els.topK.value = String(settings.topK);
    els.maxTokens.value = String(settings.maxTokens);
    els.apiKey.value = settings.apiKey;
    if (settings.apiKey) els.apiKeyRow.hidden = false;
  }
  function saveSettings() {
    const keyChanged = els.apiKey.value.trim() !== settings.apiKey;
    settings = {
      temperature: clampNum(els.temperature.value, 0, 2, DEFAULTS.temperature, false),
      topK: clampNum(els.topK.value, 0, 200, DEFAULTS.topK, true),
      maxTokens: clampNum(els.maxTokens.value, 1, 4096, DEFAULTS.maxTokens, true),
      apiKey: els.apiKey.value.trim(),
      model: els.model.value || settings.model,
    };
    try {
      localStorage.setItem(KEY, JSON.stringify(settings));
    } catch (_e) { /* private mode */ }
    showSettings();
    if (keyChanged) loadModels();
  }
  [els.temperature, els.topK, els.maxTokens, els.apiKey, els.model].forEach((el) => {
    el.addEventListener("change", saveSettings);
  });
  els.settingsToggle.addEventListener("click", () => {
    els.settings.hidden = !els.settings.hidden;
    els.settingsToggle.setAttribute("aria-expanded", String(!els.settings.hidden));
  });
  /** @returns {Record<string, string>} */
  function authHeaders() {
    return settings.apiKey ? { authorization: "Bearer " + settings.apiKey } : {};
  }

  // ---- banner ----
  let bannerKind = "";
  /**
   * @param {string} text
   * @param {string} [kind]
   */
  function showBanner(text, kind) {
    els.banner.textContent = text;
    els.banner.hidden = false;
    els.banner.dataset.kind = kind || "error";
    bannerKind = kind || "error";
  }
  function hideBanner() {
    els.banner.hidden = true;
    els.banner.textContent = "";
    bannerKind = "";
  }
  const UNREACHABLE =
    "Cannot reach the nanochat server. Is it running? (check the terminal running nanochat serve)";
  /** Asks for the API key: opens the settings on its field. */
  function askForKey() {
    els.apiKeyRow.hidden = false;
    els.settings.hidden = false;
    els.settingsToggle.setAttribute("aria-expanded", "true");
  }

  function checkHealth() {
    return fetch("health", { cache: "no-store" }).then((r) => {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then((h) => {
      if (h && h.ready === false) showBanner("The server is up but has no model ready yet.", "health");
      else if (bannerKind === "unreachable" || bannerKind === "health") hideBanner();
      return true;
    }).catch(() => {
      showBanner(UNREACHABLE, "unreachable");
      return false;
    });
  }

  // ---- the stage picker: the chat models the server has (GET v1/models) ----
  /** @param {ModelEntry} m */
  function modelLabel(m) {
    if (!m.stage) return m.id;
    return m.stage.toUpperCase() + (m.tag ? " \u00b7 " + m.tag : "") +
      (m.step !== undefined ? " step " + m.step : "");
  }
  function loadModels() {
    return fetch("v1/models", { cache: "no-store", headers: authHeaders() }).then((r) => {
      if (r.status === 401) {
        askForKey();
        showBanner("This server needs an API key: enter it in the settings.", "auth");
        return;
      }
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json().then((/** @type {{ data?: ModelEntry[] }} */ body) => {
        const list = Array.isArray(body.data) ? body.data : [];
        els.model.textContent = "";
        for (const m of list) {
          const opt = document.createElement("option");
          opt.value = m.id;
          opt.textContent = modelLabel(m);
          els.model.appendChild(opt);
        }
        const saved = list.find((m) => m.id === settings.model);
        const dflt = list.find((m) => m.default) || list[0];
        if (saved || dflt) els.model.value = (saved || dflt).id;
        els.model.hidden = list.length === 0;
        if (bannerKind === "auth") hideBanner();
      });
    }).catch(() => {/* the health check reports an unreachable server */});
  }

  // ---- markdown (a safe subset, built as DOM nodes: text only ever goes through textContent) ----
  const KEYWORDS =
    ("abstract and as async await break case catch class const continue def del do elif else " +
      "enum except export extends false False final finally fn for from func function go if impl import in " +
      "interface is lambda let loop match mod mut new nil none None not null or package pass private protected " +
      "pub public raise return self static struct super switch this throw true True try type typeof use var void " +
      "while with yield int float str bool char double long unsigned").split(" ");
  const KW = new Set(KEYWORDS);
  const HASH_COMMENT = new Set([
    "",
    "py",
    "python",
    "sh",
    "bash",
    "shell",
    "zsh",
    "ruby",
    "rb",
    "r",
    "yaml",
    "yml",
    "toml",
    "perl",
    "ini",
  ]);
  /**
   * @param {string} cls
   * @param {string} text
   */
  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }
  /**
   * @param {string} code
   * @param {string} lang
   * @param {HTMLElement} parent
   */
  function highlight(code, lang, parent) {
    const hash = HASH_COMMENT.has(lang) ? "|#[^\\n]*" : "";
    const re = new RegExp(
      "(\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?\\*\\/" + hash + ")|" +
        "(\"(?:[^\"\\\\\\n]|\\\\.)*\"|'(?:[^'\\\\\\n]|\\\\.)*')|" +
        "\\b(\\d+(?:\\.\\d+)?)\\b|\\b([A-Za-z_]\\w*)\\b",
      "g",
    );
    let last = 0;
    let m;
    while ((m = re.exec(code)) !== null) {
      if (m[4] !== undefined && !KW.has(m[4])) continue;
      const plain = code.slice(last, m.index);
      if (plain) parent.appendChild(document.createTextNode(plain));
      const cls = m[1] !== undefined
        ? "tok-com"
        : m[2] !== undefined
        ? "tok-str"
        : m[3] !== undefined
        ? "tok-num"
        : "tok-kw";
      parent.appendChild(span(cls, m[0]));
      last = m.index + m[0].length;
    }
    if (last < code.length) parent.appendChild(document.createTextNode(code.slice(last)));
  }
  const INLINE =
    /`([^`\n]+)`|\[([^\]\n]+)\]\(([^()\s]+)\)|\*\*([^*\n][\s\S]*?)\*\*|\*([^*\s][^*\n]*?)\*|(https?:\/\/[^\s<>()]*[^\s<>().,;:!?'"])/;
  /**
   * @param {HTMLElement} parent
   * @param {string} text
   * @param {boolean} [noLinks] inside a link label, where links and autolinks stay text
   */
  function inline(parent, text, noLinks) {
    while (text) {
      const m = INLINE.exec(text);
      if (!m) break;
      if (m.index > 0) parent.appendChild(document.createTextNode(text.slice(0, m.index)));
      if (m[1] !== undefined) {
        const c = document.createElement("code");
        c.textContent = m[1];
        parent.appendChild(c);
      } else if (m[2] !== undefined) {
        if (!noLinks && /^https?:\/\//i.test(m[3])) parent.appendChild(link(m[3], m[2]));
        else parent.appendChild(document.createTextNode(m[0]));
      } else if (m[4] !== undefined) {
        const b = document.createElement("strong");
        inline(b, m[4], noLinks);
        parent.appendChild(b);
      } else if (m[5] !== undefined) {
        const i = document.createElement("em");
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
  /**
   * @param {string} href
   * @param {string} label
   */
  function link(href, label) {
    const a = document.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    inline(a, label, true);
    return a;
  }
  const FENCE = /^\s*```\s*([\w+#.-]*)\s*$/;
  const ITEM = /^\s*([-*+]|\d+[.)])\s+(.*)$/;
  const HEADING = /^(#{1,6})\s+(.*)$/;
  /**
   * @param {string} text
   * @param {HTMLElement} root
   */
  function renderMarkdown(text, root) {
    root.textContent = "";
    const lines = text.split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const f = FENCE.exec(line);
      if (f) {
        const body = [];
        i++;
        while (i < lines.length && !/^\s*```\s*$/.test(lines[i])) body.push(lines[i++]);
        i++; // the closing fence (or the end while it is still streaming)
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        const lang = f[1].toLowerCase();
        if (lang) code.dataset.lang = lang;
        highlight(body.join("\n"), lang, code);
        pre.appendChild(code);
        root.appendChild(pre);
        continue;
      }
      if (!line.trim()) {
        i++;
        continue;
      }
      const h = HEADING.exec(line);
      if (h) {
        const he = document.createElement("h" + Math.min(6, h[1].length + 2));
        inline(he, h[2]);
        root.appendChild(he);
        i++;
        continue;
      }
      const it = ITEM.exec(line);
      if (it) {
        const ordered = /\d/.test(it[1]);
        const list = document.createElement(ordered ? "ol" : "ul");
        while (i < lines.length) {
          const li = ITEM.exec(lines[i]);
          if (!li || /\d/.test(li[1]) !== ordered) break;
          if (ordered && list.children.length === 0) {
            const start = parseInt(li[1], 10);
            if (start !== 1) list.setAttribute("start", String(start));
          }
          const item = document.createElement("li");
          inline(item, li[2]);
          list.appendChild(item);
          i++;
        }
        root.appendChild(list);
        continue;
      }
      const para = [];
      while (
        i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !ITEM.test(lines[i]) &&
        !HEADING.test(lines[i])
      ) para.push(lines[i++]);
      const p = document.createElement("p");
      para.forEach((l, k) => {
        if (k > 0) p.appendChild(document.createElement("br"));
        inline(p, l);
      });
      root.appendChild(p);
    }
  }

  // ---- rendering the conversation ----
  function render() {
    const inner = document.createElement("div");
    inner.className = "inner";
    if (messages.length === 0) {
      const empty = document.createElement("div");
      empty.className = "empty";
      empty.dataset.testid = "empty";
      empty.textContent = "Ask nanochat anything. Enter sends, Shift+Enter adds a line.";
      inner.appendChild(empty);
    }
    streamingEl = null;
    messages.forEach((m, idx) => {
      const div = document.createElement("div");
      div.className = "msg " + m.role;
      div.dataset.testid = "message-" + m.role;
      div.dataset.index = String(idx);
      if (m.role === "user") {
        div.textContent = m.content;
        div.title = "Click to edit";
        div.addEventListener("click", () => editMessage(idx));
      } else {
        const content = document.createElement("div");
        content.className = "content";
        content.dataset.testid = "message-content";
        if (m.pending && !m.content) content.appendChild(typingIndicator());
        else renderMarkdown(m.content, content);
        div.appendChild(content);
        if (m.pending) streamingEl = content;
        if (m.note) {
          const note = document.createElement("div");
          note.className = "note";
          note.dataset.testid = "message-note";
          note.textContent = m.note;
          div.appendChild(note);
        }
        if (!m.pending) {
          const actions = document.createElement("div");
          actions.className = "actions";
          const regen = document.createElement("button");
          regen.type = "button";
          regen.textContent = "\u21bb Regenerate";
          regen.dataset.testid = "regenerate";
          regen.disabled = busy;
          regen.addEventListener("click", () => regenerate(idx));
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
    const t = document.createElement("div");
    t.className = "typing";
    t.id = "typing";
    t.dataset.testid = "typing";
    t.setAttribute("aria-label", "nanochat is typing");
    for (let k = 0; k < 3; k++) t.appendChild(document.createElement("span"));
    return t;
  }
  /** @param {boolean} force */
  function scrollDown(force) {
    const el = els.messages;
    if (force || el.scrollHeight - el.scrollTop - el.clientHeight < 120) el.scrollTop = el.scrollHeight;
  }
  /** @param {boolean} b */
  function setBusy(b) {
    busy = b;
    els.send.hidden = b;
    els.stop.hidden = !b;
    document.body.dataset.busy = b ? "1" : "0";
    document.querySelectorAll("[data-testid=regenerate]").forEach((r) => {
      if (r instanceof HTMLButtonElement) r.disabled = b;
    });
  }

  // ---- actions ----
  function send() {
    const text = els.input.value.replace(/\s+$/, "");
    if (!text.trim() || busy) return;
    messages.push({ role: "user", content: text });
    els.input.value = "";
    autoGrow();
    request();
  }
  /** @param {number} idx */
  function editMessage(idx) {
    if (busy) return;
    const text = messages[idx].content;
    messages = messages.slice(0, idx);
    render();
    els.input.value = text;
    autoGrow();
    els.input.focus();
  }
  /** @param {number} idx */
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
  /**
   * A request that produced nothing: drops the reply and the question, giving the question back to the input.
   * @param {string | null} message
   * @param {string} [kind]
   */
  function failRequest(message, kind) {
    let last = messages[messages.length - 1];
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
    const history = messages.filter((m) => !m.pending).map((m) => ({ role: m.role, content: m.content }));
    if (!messages.length || messages[messages.length - 1].role !== "assistant") {
      messages.push({ role: "assistant", content: "", pending: true });
    }
    const reply = messages[messages.length - 1];
    setBusy(true);
    render();
    const headers = { "content-type": "application/json", ...authHeaders() };
    const ctrl = new AbortController();
    controller = ctrl;
    /** @type {Record<string, unknown>} */
    const payload = {
      messages: history,
      temperature: settings.temperature,
      top_k: settings.topK,
      max_tokens: settings.maxTokens,
    };
    if (els.model.value) payload.model = els.model.value;
    fetch("chat/completions", { method: "POST", headers, body: JSON.stringify(payload), signal: ctrl.signal })
      .then((res) => {
        if (res.status === 503) return busyRetry(res);
        if (res.status === 401) {
          askForKey();
          controller = null;
          return errorText(res).then((t) => {
            failRequest(
              "This server needs an API key: enter it in the settings and send again. (" + t + ")",
              "auth",
            );
            els.apiKey.focus();
          });
        }
        if (!res.ok || !res.body) {
          controller = null;
          if (res.status === 404) loadModels(); // the picked model is gone: refresh the list
          return errorText(res).then((t) => failRequest("Request failed: " + t, "error"));
        }
        if (bannerKind !== "health") hideBanner();
        return readStream(res.body, reply, ctrl);
      })
      .catch(() => {
        if (controller === ctrl) controller = null;
        if (ctrl.signal.aborted) {
          finishReply(reply, "stopped");
          return;
        }
        if (reply.content) {
          finishReply(reply, "the connection was lost");
          showBanner(UNREACHABLE, "unreachable");
          return;
        }
        failRequest(UNREACHABLE, "unreachable");
        checkHealth();
      });
  }
  /** @param {Response} res */
  function errorText(res) {
    return res.text().then((t) => {
      try {
        const j = JSON.parse(t);
        let e = j.error !== undefined ? j.error : j.detail;
        if (e && typeof e === "object" && e.message) e = e.message;
        if (e) return String(e);
      } catch (_e) { /* not JSON */ }
      return "HTTP " + res.status + (t ? ": " + t.slice(0, 200) : "");
    }).catch(() => "HTTP " + res.status);
  }
  /** @param {Response} res */
  function busyRetry(res) {
    controller = null;
    const ra = res.headers.get("retry-after");
    let secs = ra && /^\d+$/.test(ra.trim())
      ? parseInt(ra, 10)
      : ra
      ? Math.ceil((Date.parse(ra) - Date.now()) / 1000)
      : 1;
    if (!isFinite(secs) || secs < 1) secs = 1;
    if (secs > 120) secs = 120;
    let left = secs;
    const tick = () => showBanner("Server busy, retrying in " + left + " s\u2026", "busy");
    tick();
    retryTimer = setInterval(() => {
      left--;
      if (left > 0) {
        tick();
        return;
      }
      if (retryTimer !== null) clearInterval(retryTimer);
      retryTimer = null;
      request();
    }, 1000);
    return res.body ? res.body.cancel() : undefined;
  }
  /**
   * @param {ReadableStream<Uint8Array>} body
   * @param {ChatMessage} reply
   * @param {AbortController} ctrl
   * @returns {Promise<void>}
   */
  function readStream(body, reply, ctrl) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    let done = false;
    /** @param {string} event */
    function handle(event) {
      const data = event.split("\n").filter((l) => l.indexOf("data:") === 0)
        .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      if (!data) return;
      let msg;
      try {
        msg = JSON.parse(data);
      } catch (_e) {
        return;
      }
      if (typeof msg.token === "string" && msg.token) {
        reply.content += msg.token;
        if (streamingEl) renderMarkdown(reply.content, streamingEl);
        scrollDown(false);
      }
      if (msg.error) showBanner("Generation failed: " + String(msg.error), "error");
      if (msg.done) done = true;
    }
    /** @returns {Promise<void>} */
    function pump() {
      return reader.read().then((r) => {
        if (r.value) buf += decoder.decode(r.value, { stream: true });
        buf = buf.replace(/\r\n/g, "\n");
        let cut;
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
  /**
   * @param {ChatMessage} reply
   * @param {string} note
   */
  function finishReply(reply, note) {
    reply.pending = false;
    if (note) reply.note = "(" + note + ")";
    if (!reply.content) {
      const idx = messages.indexOf(reply);
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
  els.input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  els.form.addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  els.stop.addEventListener("click", stop);
  els.newChat.addEventListener("click", newConversation);
  document.addEventListener("keydown", (e) => {
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
  loadModels();
  els.input.focus();
})();

// The web chat UI served at GET / by `nanochat serve`: one self-contained page (no external resources). Its
// styles and script are real files (style.css, app.js: formatted, linted and type-checked like the rest),
// imported as text so `deno run` reads them from the source tree and `deno compile` embeds them.
import CSS from "./style.css" with { type: "text" };
import SCRIPT from "./app.js" with { type: "text" };

/** The page served at GET /. */
export const UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<title>nanochat</title>
<link rel="icon" href="data:,">
<style>
${CSS}</style>
</head>
<body>
<header>
  <h1>nanochat</h1>
  <select id="model" data-testid="model-picker" aria-label="Model" title="Which model answers" hidden></select>
  <button type="button" id="settings-toggle" data-testid="settings-toggle" aria-expanded="false"
    aria-controls="settings" title="Settings">\u2699<span class="wide"> Settings</span></button>
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
<script>
${SCRIPT}</script>
</body>
</html>
`;

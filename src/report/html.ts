// `nanochat report --html`: report.md as one self-contained HTML page (the plots' SVG inline, no scripts,
// no external resources). Converts the markdown the report is made of: headings, `- ` lists, tables, rules,
// fenced code, paragraphs, images that name a plot, inline code and bold. All text is escaped.
import { escapeXml } from "./svg.ts";

const escapeHtml = escapeXml;

function inline(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
}

function tableRow(line: string): string[] {
  return line.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
}

const IMAGE = /^!\[([^\]]*)\]\(([^)\s]+)\)$/;

/** Converts the report's markdown to HTML body content; `image(src)` returns inline SVG for a plot, or null. */
export function markdownToHtml(md: string, image: (src: string) => string | null): string {
  const lines = md.split("\n");
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    const fence = /^```/.test(line);
    if (fence) {
      const body: string[] = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) body.push(lines[i]);
      i++;
      out.push(`<pre><code>${escapeHtml(body.join("\n"))}</code></pre>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      out.push(`<h${h[1].length}>${inline(h[2])}</h${h[1].length}>`);
      i++;
      continue;
    }
    if (/^-{3,}\s*$/.test(line)) {
      out.push("<hr>");
      i++;
      continue;
    }
    const img = IMAGE.exec(line.trim());
    if (img) {
      const svg = image(img[2]);
      out.push(
        svg === null
          ? `<p class="missing">[missing plot: ${escapeHtml(img[1])}]</p>`
          : `<figure aria-label="${escapeHtml(img[1])}">${svg}</figure>`,
      );
      i++;
      continue;
    }
    if (line.trimStart().startsWith("|")) {
      const rows: string[][] = [];
      for (; i < lines.length && lines[i].trimStart().startsWith("|"); i++) rows.push(tableRow(lines[i]));
      const isRule = (r: string[]) => r.every((c) => /^:?-+:?$/.test(c));
      const head = rows.length > 1 && isRule(rows[1]) ? rows[0] : null;
      const body = head ? rows.slice(2) : rows;
      out.push("<table>");
      if (head) out.push(`<thead><tr>${head.map((c) => `<th>${inline(c)}</th>`).join("")}</tr></thead>`);
      out.push(
        `<tbody>${
          body.map((r) => `<tr>${r.map((c) => `<td>${inline(c)}</td>`).join("")}</tr>`).join("")
        }</tbody>`,
        "</table>",
      );
      continue;
    }
    if (/^\s*- /.test(line)) {
      const items: string[] = [];
      for (; i < lines.length && /^\s*- /.test(lines[i]); i++) items.push(lines[i].replace(/^\s*- /, ""));
      out.push(`<ul>${items.map((it) => `<li>${inline(it)}</li>`).join("")}</ul>`);
      continue;
    }
    const para: string[] = [];
    for (; i < lines.length && lines[i].trim() && !startsBlock(lines[i]); i++) para.push(lines[i]);
    out.push(`<p>${para.map(inline).join("<br>\n")}</p>`);
  }
  return out.join("\n");
}

function startsBlock(line: string): boolean {
  return /^(#{1,6}\s|```|-{3,}\s*$|\s*- |\s*\|)/.test(line) || IMAGE.test(line.trim());
}

const STYLE = `
body { margin: 0; background: #f6f7f9; color: #1f2328;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 900px; margin: 0 auto; padding: 24px 20px 48px; background: #fff; min-height: 100vh;
  box-sizing: border-box; }
h1 { font-size: 28px; margin: 0 0 8px; } h2 { font-size: 21px; margin: 28px 0 8px;
  border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; } h3 { font-size: 16px; margin: 18px 0 6px; }
ul { padding-left: 22px; margin: 6px 0 12px; } li { overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; display: block;
  overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #d1d5db; padding: 4px 10px; text-align: left; white-space: nowrap; }
th { background: #f3f4f6; }
pre { background: #0f172a; color: #e2e8f0; padding: 10px 12px; border-radius: 6px; overflow-x: auto; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }
figure { margin: 12px 0 20px; } figure svg { width: 100%; height: auto; display: block;
  border: 1px solid #e5e7eb; border-radius: 6px; }
hr { border: 0; border-top: 1px solid #e5e7eb; margin: 24px 0; }
.missing { color: #b91c1c; }
@media print { body { background: #fff; } main { max-width: none; } }
`;

/** A complete HTML page for the report; `plots` maps an image link (`report-plots/x.svg`) to its SVG text. */
export function reportHtml(markdown: string, plots: Map<string, string>): string {
  const title = /^# (.*)$/m.exec(markdown)?.[1] ?? "nanochat report";
  const body = markdownToHtml(markdown, (src) => {
    const svg = plots.get(src);
    return svg === undefined ? null : svg.replace(/^<\?xml[^>]*>\s*/, "");
  });
  return `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<title>${
      escapeHtml(title)
    }</title>\n<style>${STYLE}</style>\n</head>\n<body>\n<main>\n${body}\n</main>\n` +
    `</body>\n</html>\n`;
}

// Server-rendered HTML for the status page: escaping, the page frame (one
// inline style sheet, no scripts, no external assets) and formatting helpers.
// Every value that comes from users, clients or files goes through `esc`.

export function esc(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A fragment of HTML that is already escaped. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Tagged template: interpolated strings are escaped, Html fragments and arrays of them are not. */
export function html(strings: TemplateStringsArray, ...values: (string | number | Html | Html[] | undefined | null)[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    if (value instanceof Html) out += value.text;
    else if (Array.isArray(value)) out += value.map((v) => v.text).join("");
    else if (value !== undefined && value !== null) out += esc(value);
    out += strings[i + 1]!;
  });
  return new Html(out);
}

const STYLE = `
:root { color-scheme: light dark; --line: #8884; --muted: #888; --bad: #c62828; --ok: #2e7d32; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 12px; max-width: 960px; }
h1 { font-size: 1.3em; margin: 0 0 4px; } h2 { font-size: 1.1em; margin: 20px 0 8px; } h3 { font-size: 1em; margin: 0 0 6px; }
.muted { color: var(--muted); } .bad { color: var(--bad); font-weight: 600; } .ok { color: var(--ok); }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; margin: 0 0 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 6px 16px; }
.grid div span { display: block; color: var(--muted); font-size: .85em; }
table { border-collapse: collapse; width: 100%; font-size: .92em; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
th, a.button, button { white-space: nowrap; }
th { font-weight: 600; color: var(--muted); }
.scroll { overflow-x: auto; }
a.button, button { display: inline-block; font: inherit; padding: 6px 12px; border-radius: 6px; border: 1px solid var(--line); background: #8881; color: inherit; text-decoration: none; cursor: pointer; }
button.danger, a.danger { border-color: var(--bad); color: var(--bad); }
.notice { padding: 8px 12px; border-radius: 6px; background: #8882; margin: 8px 0 12px; }
@media (max-width: 600px) {
  .hide-narrow { display: none; } body { padding: 8px; }
  /* Wide tables become one wrapped block per row on a phone. */
  table.stack tr:first-child { display: none; }
  table.stack tr { display: block; border-bottom: 1px solid var(--line); padding: 4px 0; }
  table.stack td { display: inline-block; border: 0; padding: 2px 8px 2px 0; }
  table.stack td.hide-narrow { display: none; }
}
`;

export function page(title: string, body: Html): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head><body>
${body.text}
</body></html>
`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "2026-12-04 16:50 UTC": the server's clock, stated as UTC so every reader agrees. */
export function formatTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** "3 min ago", "2 h ago", "5 d ago". */
export function formatAgo(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min`;
}

/**
 * The portal's HTML document and style sheet. The document is the frame only (banner,
 * sign-in, customer choice, navigation, the page's region, the alert and status regions);
 * pages render themselves into `#page` (portal-core.module.ts, `registerPage`).
 */

/** Hashed into the page's Content-Security-Policy, so it must be byte-identical to what is inlined. */
export const PORTAL_STYLE = `
:root { --fg:#1d2330; --muted:#5b6475; --bg:#f5f6f8; --card:#fff; --line:#d5dae3; --accent:#1d4ed8; --bad:#b42318; --ok:#067647; --warn:#b54708; --s0:#2563eb; --s1:#d97706; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -9999px; top: 0; background: var(--card); padding: 8px 12px; z-index: 2; }
.skip:focus { left: 8px; top: 8px; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 12px 20px; padding: 10px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
header.top h1 { font-size: 18px; margin: 0; }
#who { color: var(--muted); margin: 0; }
#who b { color: var(--fg); }
#session { margin-left: auto; display: flex; gap: 10px; align-items: center; }
.layout { display: grid; grid-template-columns: 210px 1fr; gap: 0; min-height: calc(100vh - 52px); }
nav.side { background: var(--card); border-right: 1px solid var(--line); padding: 12px 0; }
nav.side ul { list-style: none; margin: 0; padding: 0; }
nav.side a { display: block; padding: 7px 18px; text-decoration: none; color: var(--fg); }
nav.side a[aria-current=page] { background: #e8eefc; color: var(--accent); font-weight: 600; border-left: 3px solid var(--accent); padding-left: 15px; }
main { padding: 16px 24px 32px; min-width: 0; }
main.single { max-width: 640px; margin: 40px auto; }
h2 { font-size: 19px; margin: 0 0 12px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
h2:focus { outline: none; }
#status { margin: 6px 20px 0; }
#status:empty { margin: 0; }
form { margin: 0 0 14px; }
section, .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 0 0 14px; }
form.row, .row { display: flex; flex-wrap: wrap; align-items: end; gap: 10px; }
.field { display: flex; flex-direction: column; gap: 3px; }
label { font-weight: 600; font-size: 13px; }
input, select, button, textarea { font: inherit; padding: 6px 9px; border: 1px solid var(--line); border-radius: 5px; background: var(--card); color: var(--fg); }
input[type=text], input[type=password], input:not([type]) { min-width: 18em; }
textarea { width: 100%; min-height: 20em; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); }
button.secondary { background: var(--card); color: var(--fg); border-color: var(--line); }
button.danger { background: var(--card); color: var(--bad); border-color: var(--bad); }
button:disabled { cursor: not-allowed; opacity: .55; }
.muted, small { color: var(--muted); }
.note { color: var(--muted); margin: 4px 0 10px; }
.alert { margin: 12px 0; padding: 10px 14px; border: 1px solid var(--bad); border-radius: 6px; background: #fef3f2; color: var(--bad); white-space: pre-line; }
.alert .code { font-family: ui-monospace, monospace; font-size: 13px; }
.alert ul { margin: 6px 0 0; padding-left: 20px; }
.ok { color: var(--ok); } .pending { color: var(--warn); } .bad { color: var(--bad); }
.secret { display: block; padding: 10px; background: #fffbe6; border: 1px solid #f0c36d; border-radius: 6px; word-break: break-all; font-family: ui-monospace, monospace; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; }
dl.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; margin: 0; }
dl.stats div { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
dl.stats dt { color: var(--muted); font-size: 13px; }
dl.stats dd { margin: 2px 0 0; font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; margin-bottom: 14px; }
figure.chart { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
figcaption { font-weight: 600; }
.values { display: flex; gap: 14px; margin: 2px 0 4px; }
.v { font-variant-numeric: tabular-nums; }
.sw { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
.s0 { background: var(--s0); } .s1 { background: var(--s1); }
canvas { width: 100%; height: 110px; display: block; border-bottom: 1px solid var(--line); }
progress { width: 12em; vertical-align: middle; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; font-size: 13px; }
fieldset { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
legend { font-weight: 600; font-size: 13px; }
@media (max-width: 760px) { .layout { grid-template-columns: 1fr; } nav.side { border-right: 0; border-bottom: 1px solid var(--line); } }
`;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function portalHtml(options: { graphqlPath: string; classicScripts: string[]; pageModules: string[]; appModule: string }): string {
  // Classic deferred and module scripts run in document order once the document is parsed:
  // graphql-ws and the charts (globals), then each page module registering itself, then the app.
  const scripts = [
    ...options.classicScripts.map((src) => `<script src="${esc(src)}" defer></script>`),
    ...options.pageModules.map((src) => `<script type="module" src="${esc(src)}"></script>`),
    `<script type="module" src="${esc(options.appModule)}"></script>`,
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Edgeplane portal</title>
<link rel="icon" href="data:,">
<style>${PORTAL_STYLE}</style>
</head>
<body data-graphql-path="${esc(options.graphqlPath)}">
<a class="skip" href="#page">Skip to content</a>
<header class="top">
<h1>Edgeplane portal</h1>
<p id="who" hidden></p>
<div id="session" hidden>
<span id="customer-choice" hidden><label for="customer">Customer</label> <select id="customer"></select></span>
<button id="signout" type="button" class="secondary">Sign out</button>
</div>
</header>
<p id="status" class="muted" role="status" aria-live="polite"></p>
<main id="signin-main" class="single" aria-labelledby="signin-title">
<section>
<h2 id="signin-title" tabindex="-1">Sign in</h2>
<p class="note">Paste an api token. A customer's token opens that customer; an admin, operator or viewer token picks a customer next.</p>
<form id="signin" class="row">
<div class="field"><label for="token">Api token</label>
<input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required></div>
<button type="submit">Sign in</button>
</form>
<p class="note">The token stays in this browser tab only (sessionStorage): closing the tab or signing out forgets it.</p>
<div id="signin-alert" class="alert" role="alert" hidden></div>
</section>
</main>
<div id="app" class="layout" hidden>
<nav class="side" aria-label="Portal"><ul id="nav"></ul></nav>
<main id="page" tabindex="-1" aria-labelledby="page-title"></main>
</div>
${scripts}
</body>
</html>
`;
}

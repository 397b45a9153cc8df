"""The report's inline stylesheet: system fonts only, so nothing is fetched when the file opens."""

CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f7f8fa;--card:#fff;--accent:#0072B2}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
  font-variant-numeric:tabular-nums}
main{max-width:1200px;margin:0 auto;padding:28px 32px 48px}
header.report-header{display:flex;justify-content:space-between;align-items:flex-end;gap:24px;
  border-bottom:3px solid var(--ink);padding-bottom:14px;margin-bottom:18px}
h1{font-size:26px;margin:0;letter-spacing:-.01em}
.subtitle{color:var(--muted);margin-top:4px}
.generated{color:var(--muted);font-size:12px;text-align:right;white-space:nowrap}
nav.toc{display:flex;flex-wrap:wrap;gap:6px 16px;margin:0 0 20px;font-size:13px}
nav.toc a{color:var(--accent);text-decoration:none}
nav.toc a:hover{text-decoration:underline}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .label{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.card .value{font-size:26px;font-weight:700;margin-top:2px;line-height:1.2}
.badges{display:flex;flex-wrap:wrap;gap:4px;margin-top:2px}
.card .badge{font-size:10px;padding:0 6px}
.card .detail{font-size:12px;color:var(--muted);margin-top:2px}
section.block{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:18px 20px 20px;
  margin-top:22px;break-inside:avoid}
section.block h2{font-size:18px;margin:0 0 4px}
.lede{color:var(--muted);margin:0 0 14px;max-width:80ch}
.no-data{color:var(--muted);background:var(--bg);border:1px dashed #cbd2d9;border-radius:8px;
  padding:18px;text-align:center;margin:6px 0 0}
.note{color:var(--muted);font-size:12px;margin-top:8px}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center;font-size:12px;color:var(--muted);margin:0 0 10px}
.legend .key{display:inline-flex;align-items:center;gap:6px}
.legend svg{display:block}
.swatch{display:inline-block;width:14px;height:14px;border-radius:3px;border:1px solid rgba(0,0,0,.08)}
.ramp{display:inline-flex;align-items:center;gap:0}
.ramp span.step{display:inline-flex;flex-direction:column;align-items:center;font-size:10px;color:var(--muted)}
.ramp span.step i{display:block;width:34px;height:12px}
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:18px 22px}
figure{margin:0}
figcaption{display:grid;grid-template-columns:auto 1fr;align-items:center;column-gap:8px;font-size:13px;margin-bottom:4px}
figcaption .name{font-weight:700;font-size:14px}
figcaption .stat{color:var(--muted);grid-column:2;font-size:12px}
svg.chart{max-width:100%;height:auto;display:block;overflow:visible}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);
  border-bottom:2px solid var(--line);padding:6px 8px;white-space:nowrap}
td{border-bottom:1px solid var(--line);padding:6px 8px;vertical-align:middle}
tbody tr:nth-child(even){background:#fafbfc}
td.num,th.num{text-align:right}
td.name{max-width:320px;overflow-wrap:anywhere}
td .sub{display:block;color:var(--muted);font-size:11px}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:11px;font-weight:700;
  text-transform:uppercase;letter-spacing:.04em;border:1px solid transparent}
.badge.critical{background:#b2182b;color:#fff}
.badge.major{background:#e66101;color:#fff}
.badge.minor{background:#fee090;color:#5c4400;border-color:#e8c860}
.badge.unknown{background:#e4e7eb;color:var(--ink)}
.drop{font-weight:700;color:#b2182b}
.split{display:inline-flex;width:110px;height:10px;border-radius:5px;overflow:hidden;background:var(--line);
  vertical-align:middle;margin-right:6px}
.split .pass{background:#0072B2}.split .fail{background:#E69F00}
footer{color:var(--muted);font-size:12px;margin-top:28px;border-top:1px solid var(--line);padding-top:12px}
footer dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0 0}
footer dt{font-weight:600;color:var(--ink)}
footer dd{margin:0}
@media print{body{background:#fff}main{padding:0}section.block{border:none;padding:8px 0}nav.toc{display:none}}
"""

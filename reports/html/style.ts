/** The page's only style sheet, inlined; system fonts only (no font is fetched). */
export const PAGE_CSS = `
:root{--ok:#116329;--okbg:#dafbe1;--bad:#a40e26;--badbg:#ffebe9;--other:#6e5600;--line:#d0d7de;--mute:#57606a}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2328;background:#fff}
main{max-width:1000px;margin:0 auto;padding:16px}h1{font-size:28px;margin:4px 0}h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px;margin-top:28px}
h3{font-size:15px}table{border-collapse:collapse;width:100%;margin:8px 0}th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:#f6f8fa}pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:12px}code{font-size:12px;word-break:break-all}
.ok{color:var(--ok)}.bad{color:var(--bad);font-weight:600}.other{color:var(--other)}.note{color:var(--mute)}
.verdict{border-radius:8px;padding:12px 16px;border:2px solid}.verdict.v-ok{background:var(--okbg);border-color:var(--ok)}.verdict.v-bad{background:var(--badbg);border-color:var(--bad)}
.verdict-word{font-weight:800;letter-spacing:1px}.kicker{margin:0;color:var(--mute)}.reasons{font-weight:600}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}.facts dt{color:var(--mute)}.facts dd{margin:0}
.gantt{display:block;max-width:100%;height:auto;font-size:11px;margin:6px 0}.gantt .tick{fill:var(--mute);text-anchor:middle}.gantt .grid{stroke:#eaeef2}
.gantt .lbl{fill:#1f2328}.gantt .lbl.k-operation,.gantt .lbl.k-wave{font-weight:700}.gantt .bar{fill:#8c959f}.gantt .bar.ok{fill:#2da44e}.gantt .bar.bad{fill:#cf222e}
.gantt .bar.k-wave,.gantt .bar.k-operation{opacity:.55}.gantt .bar.open{fill-opacity:.4;stroke:#6e7781;stroke-dasharray:3 2}
details.group{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:4px 8px}details.group summary{cursor:pointer}.vms{color:var(--mute);font-size:12px}
.chart .pt{stroke:#fff;stroke-width:1}.chart .pt.ok{fill:#2da44e}.chart .pt.bad{fill:#cf222e}.chart .ln{fill:none;stroke-width:1.5}.chart .rto{stroke:#0969da}.chart .rpo{stroke:#8250df}
.chart .target{stroke-dasharray:4 3}.chart text{font-size:11px;fill:#57606a}.needs{background:var(--badbg);border:2px solid var(--bad);padding:8px 12px;border-radius:6px}
.wrap{word-break:break-all}
@media print{details.group{break-inside:avoid}main{max-width:none}}
`;

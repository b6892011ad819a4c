// Renders benchmark results as an SVG bar chart: one row per method, grouped by scale
// and operation, latency on a log scale (1 µs .. 10 s).
const escape = (text) =>
  String(text).replace(
    /[&<>"]/g,
    (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'})[c],
  );

const formatUs = (us) =>
  us < 1000
    ? `${us.toFixed(1)} µs`
    : us < 1e6
      ? `${(us / 1000).toFixed(2)} ms`
      : `${(us / 1e6).toFixed(2)} s`;

export function renderSvg(results, info) {
  const labelWidth = 420;
  const plotWidth = 560;
  const rowHeight = 18;
  const minLog = 0; // 1 µs
  const maxLog = 7; // 10 s
  const x = (us) =>
    labelWidth + ((Math.log10(Math.max(us, 1)) - minLog) / (maxLog - minLog)) * plotWidth;
  const rows = [];
  let y = 50;
  let group = '';
  for (const r of results) {
    const key = `${r.scale} · ${r.operation}`;
    if (key !== group) {
      group = key;
      y += 8;
      rows.push(`<text x="8" y="${y + 12}" class="group">${escape(key)}</text>`);
      y += rowHeight;
    }
    const ours = r.method.startsWith('portwarden');
    rows.push(
      `<text x="24" y="${y + 13}" class="label">${escape(r.method)}</text>`,
      `<rect x="${labelWidth}" y="${y + 3}" width="${(x(r.medianUs) - labelWidth).toFixed(1)}" height="${rowHeight - 6}" class="${ours ? 'ours' : 'theirs'}"/>`,
      `<text x="${(x(r.medianUs) + 4).toFixed(1)}" y="${y + 13}" class="value">${escape(formatUs(r.medianUs))}</text>`,
    );
    y += rowHeight;
  }
  const height = y + 40;
  const ticks = [];
  for (let e = minLog; e <= maxLog; e++) {
    const tx = x(10 ** e);
    const label = ['1 µs', '10 µs', '100 µs', '1 ms', '10 ms', '100 ms', '1 s', '10 s'][e];
    ticks.push(
      `<line x1="${tx}" y1="40" x2="${tx}" y2="${height - 30}" class="grid"/>`,
      `<text x="${tx}" y="${height - 14}" class="tick">${label}</text>`,
    );
  }
  const width = labelWidth + plotWidth + 90;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<style>
.title{font-size:14px;font-weight:bold}.group{font-size:12px;font-weight:bold;fill:#222}.label{font-size:11px;fill:#333}
.value{font-size:10px;fill:#333}.tick{font-size:10px;fill:#666;text-anchor:middle}.grid{stroke:#ddd;stroke-width:1}
.ours{fill:#2a7ab9}.theirs{fill:#c8553d}
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="20" class="title">portwarden benchmark: median latency, log scale (shorter is faster)</text>
<text x="8" y="36" class="label">${escape(`${info.platform ? `${info.platform}: ` : ''}${info.cpu}, ${info.cores} cores, ${info.kernel}, Node ${info.node}, ${info.date}`)}</text>
${ticks.join('\n')}
${rows.join('\n')}
</svg>
`;
}

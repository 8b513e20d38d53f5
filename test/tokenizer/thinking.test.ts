import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReasoningSplitter, applyThinkingMode, detectThinkingMode, splitReasoning } from '../../src/tokenizer/thinking.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { modelDir } from './helpers.js';

const chat = [
  { role: 'system', content: 'sys' },
  { role: 'user', content: 'first' },
  { role: 'assistant', content: 'ok' },
  { role: 'user', content: 'second' },
];

test('applyThinkingMode marks the last user message', () => {
  const fast = applyThinkingMode(chat, 'fast');
  assert.equal(fast[3]!.content, 'second /no_think');
  assert.equal(fast[1]!.content, 'first');
  assert.equal(chat[3]!.content, 'second', 'input not modified');
  assert.equal(applyThinkingMode(chat, 'auto')[3]!.content, 'second /auto_think');
  assert.equal(applyThinkingMode(fast, 'auto')[3]!.content, 'second /auto_think');
  assert.equal(applyThinkingMode(fast, 'slow')[3]!.content, 'second');
  assert.equal(applyThinkingMode(applyThinkingMode(chat, 'fast'), 'fast')[3]!.content, 'second /no_think');
  assert.deepEqual(applyThinkingMode([{ role: 'system', content: 's' }], 'fast'), [{ role: 'system', content: 's' }]);
});

test('detectThinkingMode', () => {
  assert.equal(detectThinkingMode(chat), 'slow');
  assert.equal(detectThinkingMode(applyThinkingMode(chat, 'fast')), 'fast');
  assert.equal(detectThinkingMode(applyThinkingMode(chat, 'auto')), 'auto');
});

test('the marked message renders into the Pangu chat format', () => {
  const tok = Tokenizer.load(modelDir('bpe'));
  const text = tok.applyChatTemplate(applyThinkingMode([{ role: 'user', content: '1+1?' }], 'fast'), { addGenerationPrompt: true });
  assert.equal(text, '[unused9]系统：[unused10][unused9]用户：1+1? /no_think[unused10][unused9]助手：');
});

test('splitReasoning separates reasoning and answer and stops at eos', () => {
  assert.deepEqual(splitReasoning('[unused16]think hard[unused17]the answer[unused10]ignored'), {
    reasoning: 'think hard',
    content: 'the answer',
  });
  assert.deepEqual(splitReasoning('just an answer[unused10]'), { reasoning: '', content: 'just an answer' });
  assert.deepEqual(splitReasoning('[unused16][unused17]fast'), { reasoning: '', content: 'fast' });
  assert.deepEqual(splitReasoning('[unused16]cut off mid-thought'), { reasoning: 'cut off mid-thought', content: '' });
  assert.deepEqual(splitReasoning('still thinking[unused17]done', { startInReasoning: true }), {
    reasoning: 'still thinking',
    content: 'done',
  });
});

test('ReasoningSplitter works on any split of the stream, markers included', () => {
  const text = '[unused16]Let me think: 2+2.[unused17]It is 4.[unused10]junk';
  for (let step = 1; step <= 7; step++) {
    const s = new ReasoningSplitter();
    let reasoning = '';
    let content = '';
    let done = false;
    for (let i = 0; i < text.length; i += step) {
      const d = s.push(text.slice(i, i + step));
      reasoning += d.reasoning;
      content += d.content;
      done ||= d.done;
      // never leak a piece of a marker
      assert.ok(!/\[|unused/.test(d.reasoning + d.content), JSON.stringify(d));
    }
    const f = s.flush();
    reasoning += f.reasoning;
    content += f.content;
    assert.equal(reasoning, 'Let me think: 2+2.');
    assert.equal(content, 'It is 4.');
    assert.ok(done && s.done);
  }
});

test('ReasoningSplitter on streamed tokens from the stream decoder', () => {
  const tok = Tokenizer.load(modelDir('bpe'));
  const ids = tok.encode('[unused16]思考：先算 3×3。[unused17]答案是 9 🎉[unused10]', { addSpecialTokens: false });
  const dec = tok.createStreamDecoder();
  const s = new ReasoningSplitter();
  let reasoning = '';
  let content = '';
  for (const id of ids) {
    const d = s.push(dec.push(id));
    reasoning += d.reasoning;
    content += d.content;
    if (d.done) break;
  }
  assert.equal(reasoning, '思考：先算 3×3。');
  assert.equal(content, '答案是 9 🎉');
  assert.equal(s.done, true);
});

test('a held-back marker prefix is released when it turns out not to be a marker', () => {
  const s = new ReasoningSplitter();
  const a = s.push('array[unu');
  assert.equal(a.content, 'array');
  const b = s.push('sed] ok');
  assert.equal(b.content, '[unused] ok');
  const c = s.push('[unus');
  assert.equal(c.content, '');
  assert.equal(s.flush().content, '[unus');
});

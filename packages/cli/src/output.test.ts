import { describe, expect, it } from 'vitest';
import { Output, stripAnsi } from './output.js';

function collect(isTTY: boolean): { out: Output; text: () => string } {
  let text = '';
  return { out: new Output({ write: (chunk: string) => (text += chunk), isTTY }, {}), text: () => text };
}

describe('Output.table', () => {
  it('lines up columns holding CJK and emoji, which a terminal shows two columns wide', () => {
    const { out, text } = collect(false);
    out.table(
      ['NAME', 'TAGS', 'STATE'],
      [
        ['etl/nightly', '日本語タグ', 'ready'],
        ['ship 🚀', 'a', 'paused'],
        ['café', 'ok ✅', 'ready'],
      ],
    );
    expect(text()).toBe(
      ['NAME         TAGS        STATE', 'etl/nightly  日本語タグ  ready', 'ship 🚀      a           paused', 'café         ok ✅       ready', ''].join('\n'),
    );
  });

  it('does not count colour codes around wide text', () => {
    const { out, text } = collect(true);
    out.table(
      ['TAG', 'N'],
      [
        [out.paint('green', '日本'), '1'],
        ['abcdef', '2'],
      ],
    );
    expect(stripAnsi(text())).toBe('TAG     N\n日本    1\nabcdef  2\n');
  });
});

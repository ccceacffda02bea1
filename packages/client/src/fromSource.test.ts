// flow.fromSource refuses what it cannot use before cloning anything, and names the source when
// the clone fails. (Deployed and run through a real worker: packages/worker/src/pullStepsOnWorkers.test.ts.)
import { describe, expect, it } from 'vitest';
import { fromSource } from './fromSource.js';

describe('flow.fromSource', () => {
  it('refuses a token given as itself, and a repository that git would read as an option', async () => {
    await expect(fromSource({ repository: 'https://example.com/a.git', accessToken: 'ghp_secret' }, 'flows/a.ts:a')).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: 'Invalid source for flow.fromSource: accessToken: a reference to an environment variable of the job, {{ env.NAME }}, never the token itself',
    });
    await expect(fromSource({ repository: '--upload-pack=touch /tmp/pwned' }, 'flows/a.ts:a')).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: 'Invalid source for flow.fromSource: repository: a repository URL or path, not starting with "-"',
    });
  });

  it('names the repository and what git said when it cannot clone it', async () => {
    await expect(fromSource({ repository: '/nowhere/flows.git' }, 'flows/a.ts:a')).rejects.toMatchObject({
      code: 'FLOW_LOAD_ERROR',
      message: expect.stringMatching(
        /^Cannot read flow "flows\/a\.ts:a" from \/nowhere\/flows\.git: Pull step `git clone .*` exited with 128: .*does not exist/,
      ),
    });
  });
});

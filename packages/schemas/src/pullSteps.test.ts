// Pull steps' ids and `{{ id.output }}` references: checked when a deployment or drover.yaml is
// read, so steps that can only fail in the job are refused when saved, with the key path.
import { describe, expect, it } from 'vitest';
import { fillStepOutputs, PullSteps } from './deployments.js';
import { describeIssues, toIssues } from './issues.js';

function problems(steps: unknown): string {
  const result = PullSteps.safeParse(steps);
  return result.success ? '' : describeIssues(toIssues(result.error));
}

describe('PullSteps', () => {
  it("accepts references to an earlier step's outputs, in any text field", () => {
    expect(
      problems([
        { git_clone: { id: 'clone', repository: 'https://example.com/a.git', accessToken: '{{ env.TOKEN }}' } },
        { run_shell_script: { id: 'build', script: 'cd {{ clone.directory }} && make', env: { OUT: '{{ clone.directory }}/out' } } },
        { set_working_directory: { directory: '{{ clone.directory }}/{{ build.stdout }}' } },
      ]),
    ).toBe('');
  });

  it('refuses a reference to a later, unknown or same step, an unknown output, a reused id, and env outside accessToken', () => {
    expect(problems([{ set_working_directory: { directory: '{{ a.directory }}' } }, { set_working_directory: { id: 'a', directory: 'x' } }])).toBe(
      '0.set_working_directory.directory: {{ a.directory }} names step "a", which no earlier step is (no earlier step has an id)',
    );
    expect(problems([{ run_shell_script: { id: 'a', script: 'echo {{ a.stdout }}' } }])).toBe(
      '0.run_shell_script.script: {{ a.stdout }} names step "a", which no earlier step is (no earlier step has an id)',
    );
    expect(problems([{ git_clone: { id: 'clone', repository: 'r' } }, { set_working_directory: { directory: '{{ clone.stdout }}' } }])).toBe(
      '1.set_working_directory.directory: {{ clone.stdout }}: step "clone" (git_clone) has no output "stdout"; it has directory',
    );
    expect(problems([{ git_clone: { id: 'c', repository: 'r' } }, { git_clone: { id: 'c', repository: 's' } }])).toBe(
      '1.git_clone.id: step id "c" is already used by an earlier step',
    );
    expect(problems([{ run_shell_script: { script: 'echo', env: { T: '{{ env.TOKEN }}' } } }])).toBe(
      "0.run_shell_script.env.T: {{ env.TOKEN }}: only a git_clone's accessToken reads the job's environment",
    );
    expect(problems([{ set_working_directory: { id: 'env', directory: 'x' } }])).toBe(
      '0.set_working_directory.id: "env" is not a step id: {{ env.NAME }} reads the job\'s environment',
    );
  });

  it('fills references in from the outputs given, leaving the id and other text as they are', () => {
    const outputs = new Map([['clone', { directory: '/work/repo' }]]);
    expect(
      fillStepOutputs(
        { run_shell_script: { id: 'x', script: 'ls {{clone.directory}} {{ $HOME }} {{ env.HOME }}', env: { D: '{{ clone.directory }}/a' } } },
        outputs,
      ),
    ).toEqual({
      run_shell_script: { id: 'x', script: 'ls /work/repo {{ $HOME }} {{ env.HOME }}', env: { D: '/work/repo/a' } },
    });
  });
});

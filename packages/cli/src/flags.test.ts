// The flag parsers and the issue explainer, in-process: the messages the CLI prints for bad values.
import { Project } from '@drover/schemas';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { closestKey, explainIssues } from './explainIssues.js';
import { durationFlag, isoFlag, jsonOrString, keyValueFlag, parseDuration, scheduleFromFlags, stateFlag } from './flags.js';
import { formatDuration } from './format.js';
import { colourEnabled, Output, stripAnsi } from './output.js';
import { createProgram, run } from './program.js';

describe('flag values', () => {
  it('parses durations, key=value pairs (JSON when it parses), ISO times and states', () => {
    expect([parseDuration('30s'), parseDuration('10m'), parseDuration('1h30m'), parseDuration('2d'), parseDuration('45'), parseDuration('soon')]).toEqual([
      30,
      600,
      5400,
      172_800,
      45,
      undefined,
    ]);
    expect(() => durationFlag('--start-in')('0s')).toThrow('Invalid --start-in "0s": expected a duration such as 30s, 10m, 1h30m or 2d');
    const kv = keyValueFlag('--param');
    expect(kv('b=x', kv('a=3', undefined))).toEqual({ a: 3, b: 'x' });
    expect(kv('list=[1,2]', { flag: true })).toEqual({ flag: true, list: [1, 2] });
    expect(kv('eq=a=b', undefined)).toEqual({ eq: 'a=b' });
    expect([jsonOrString('true'), jsonOrString('"quoted"'), jsonOrString('{bad')]).toEqual([true, 'quoted', '{bad']);
    expect(isoFlag('--start-at')('2026-01-01T09:00:00')).toBe('2026-01-01T09:00:00.000Z');
    expect(isoFlag('--start-at')('2026-01-01T09:00:00+02:00')).toBe('2026-01-01T07:00:00.000Z');
    expect(stateFlag('--state')('completed,Failed', ['RUNNING'])).toEqual(['RUNNING', 'COMPLETED', 'FAILED']);
  });

  it('builds one schedule from the schedule flags, reporting a problem against its flag', () => {
    expect(scheduleFromFlags({})).toBeUndefined();
    expect(scheduleFromFlags({ cron: '0 9 * * 1-5', timezone: 'Europe/London' })).toEqual({ cron: '0 9 * * 1-5', timezone: 'Europe/London', dayOr: true });
    expect(scheduleFromFlags({ interval: 600, anchorDate: '2026-01-01T00:00:00' })).toEqual({ interval: 600, anchorDate: '2026-01-01T00:00:00' });
    expect(() => scheduleFromFlags({ interval: 0 })).toThrow(/^--interval: Invalid interval 0: must be /);
    expect(() => scheduleFromFlags({ rrule: 'FREQ=DAILY', anchorDate: '2026-01-01T00:00:00' })).toThrow('--anchor-date needs --interval');
  });
});

describe('explainIssues', () => {
  const explain = (value: unknown) => {
    const result = Project.safeParse(value);
    return result.success ? [] : explainIssues(result.error, Project, value);
  };

  it('names the key path, the likely key for an unknown one, and what a missing value should be', () => {
    expect(explain({ deployments: [{ name: 'a', entrypoint: 'f.ts:x', shedules: [] }] })).toEqual([
      'name: Required (expected string)',
      'deployments.0: Unknown key "shedules": did you mean "schedules"?',
    ]);
    expect(explain({ name: 'p', deployments: [{ name: 'a', entrypoint: 'f.ts:x', schedules: [{ interval: 10, flavour: 'x' }] }] })).toEqual([
      'deployments.0.schedules.0: Unknown key "flavour" (allowed: interval, anchorDate, timezone, active, slug, parameters, maxScheduledRuns, catchup, maxLateSeconds)',
    ]);
    expect(explain({ name: 'p', pull: [{ set_working_directory: {} }] })).toEqual(['pull.0.set_working_directory.directory: Required (expected string)']);
    expect(explain({ name: 'p', push: [{ helm: {} }] })).toEqual(['push.0: Unknown key "helm": use one of docker_build, docker_push, run_shell_script']);
    expect([closestKey('work_queue_name', ['name', 'workQueueName', 'jobVariables']), closestKey('zzz', ['name'])]).toEqual(['workQueueName', undefined]);
  });
});

describe('output', () => {
  it('colours only a terminal without NO_COLOR (or with FORCE_COLOR), and aligns tables by visible width', () => {
    expect([
      colourEnabled({ write: () => {}, isTTY: true }, {}),
      colourEnabled({ write: () => {}, isTTY: true }, { NO_COLOR: '1' }),
      colourEnabled({ write: () => {} }, {}),
      colourEnabled({ write: () => {} }, { FORCE_COLOR: '1' }),
      colourEnabled({ write: () => {}, isTTY: true }, { TERM: 'dumb' }),
    ]).toEqual([true, false, false, true, false]);
    let text = '';
    const out = new Output({ write: (chunk: string) => (text += chunk), isTTY: true }, {});
    out.table(
      ['A', 'LONGER'],
      [
        [out.paint('red', 'x'), 'y'],
        ['wide', 'z'],
      ],
    );
    expect(stripAnsi(text)).toBe('A     LONGER\nx     y\nwide  z\n');
    expect(text).toContain('\x1b[31mx\x1b[0m     y');
    expect([formatDuration(42), formatDuration(200), formatDuration(7500), formatDuration(90_000)]).toEqual(['42s', '3m 20s', '2h 5m', '1d 1h']);
  });
});

describe('help', () => {
  it('shows at least one example on the help of every command and command group', async () => {
    const io = () => {
      let stdout = '';
      const write = (text: string) => {
        stdout += text;
        return true;
      };
      const stream = { write, isTTY: false };
      return { io: { stdout: stream, stderr: stream, env: {}, cwd: '/' }, text: () => stdout };
    };
    const paths: string[][] = [];
    const walk = (command: Command, path: string[]) => {
      for (const sub of command.commands) {
        paths.push([...path, sub.name()]);
        walk(sub, [...path, sub.name()]);
      }
    };
    walk(createProgram(io().io), []);
    expect(paths.length).toBeGreaterThan(40);
    const missing: string[] = [];
    for (const path of paths) {
      const { io: captured, text } = io();
      expect(await run([...path, '--help'], captured)).toBe(0);
      if (!/\nExamples?:\n {2}\$ drover /.test(text())) missing.push(path.join(' '));
    }
    expect(missing).toEqual([]);
  });
});

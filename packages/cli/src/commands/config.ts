/**
 * `drover config set|get|unset|view`: the API URL and key saved in the profile file
 * (`$DROVER_HOME/profile.json`). DROVER_API_URL and DROVER_API_KEY win over the file, as in Prefect.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_API_URL, Profile, type ProfileKey, profilePath, readProfile } from '@drover/client';
import type { Command } from 'commander';
import { type Context, examples } from '../cliContext.js';
import { UsageError } from '../errors.js';

const KEYS = Object.keys(Profile.shape) as ProfileKey[];
const ENV_OF: Record<ProfileKey, string> = { 'api.url': 'DROVER_API_URL', 'api.key': 'DROVER_API_KEY' };

function profileKey(value: string): ProfileKey {
  if (!(KEYS as string[]).includes(value)) throw new UsageError(`Unknown setting "${value}": use one of ${KEYS.join(', ')}`, { key: value });
  return value as ProfileKey;
}

/** `****wxyz`: enough to tell keys apart, not enough to use one. */
function maskKey(key: string): string {
  return key.length > 8 ? `****${key.slice(-4)}` : '****';
}

interface Setting {
  readonly key: ProfileKey;
  readonly value: string | undefined;
  readonly source: string;
}

function settingsInForce(ctx: Context): Setting[] {
  const env = ctx.io.env as NodeJS.ProcessEnv;
  const profile = readProfile(env);
  const file = profilePath(env);
  return KEYS.map((key) => {
    const fromEnv = env[ENV_OF[key]] || undefined;
    if (fromEnv !== undefined) return { key, value: fromEnv, source: `env ${ENV_OF[key]}` };
    if (profile[key] !== undefined) return { key, value: profile[key], source: `profile ${file}` };
    return key === 'api.url' ? { key, value: DEFAULT_API_URL, source: 'default' } : { key, value: undefined, source: 'not set' };
  });
}

function writeProfile(ctx: Context, profile: Profile): string {
  const file = profilePath(ctx.io.env as NodeJS.ProcessEnv);
  mkdirSync(dirname(file), { recursive: true });
  // The file may hold an API key: readable by its owner only.
  writeFileSync(file, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

export function registerConfig(program: Command, ctx: Context): void {
  const config = program
    .command('config')
    .description('Show and change the saved settings: api.url and api.key (env DROVER_API_URL / DROVER_API_KEY win over them)');
  examples(config, 'drover config set api.url http://drover.internal:4200', 'drover config view');

  examples(
    config
      .command('set')
      .description('Save a setting in the profile file')
      .argument('<key>', `one of ${KEYS.join(', ')}`, profileKey)
      .argument('<value>', 'the value')
      .action((key: ProfileKey, value: string) => {
        const result = Profile.shape[key].safeParse(value);
        if (!result.success) throw new UsageError(`Invalid ${key} "${value}": ${result.error.issues[0]?.message}`, { key });
        const profile = { ...readProfile(ctx.io.env as NodeJS.ProcessEnv), [key]: result.data };
        const file = writeProfile(ctx, profile);
        ctx.out.line(key === 'api.key' ? `Saved api.key (${maskKey(value)}) in ${file}` : `Saved ${key} = ${value} in ${file}`);
        if (ctx.io.env[ENV_OF[key]]) ctx.err.line(`Note: ${ENV_OF[key]} is set in this environment and wins over the profile while it is.`);
      }),
    'drover config set api.url http://drover.internal:4200',
  );

  examples(
    config
      .command('unset')
      .description('Remove a setting from the profile file')
      .argument('<key>', `one of ${KEYS.join(', ')}`, profileKey)
      .action((key: ProfileKey) => {
        const { [key]: _removed, ...rest } = readProfile(ctx.io.env as NodeJS.ProcessEnv);
        const file = writeProfile(ctx, rest);
        ctx.out.line(`Removed ${key} from ${file}`);
      }),
    'drover config unset api.key',
  );

  examples(
    config
      .command('get')
      .description('Print the value in force (environment, else profile, else default)')
      .argument('<key>', `one of ${KEYS.join(', ')}`, profileKey)
      .option('--json', 'print {key, value, source} as JSON')
      .action((key: ProfileKey, options: { json?: boolean }) => {
        const setting = settingsInForce(ctx).find((s) => s.key === key) as Setting;
        if (options.json) return ctx.out.json({ ...setting, value: setting.value ?? null });
        if (setting.value === undefined) {
          throw new Error(`${key} is not set: save one with \`drover config set ${key} VALUE\` or set ${ENV_OF[key]}`);
        }
        ctx.out.line(setting.value);
      }),
    'drover config get api.url',
  );

  examples(
    config
      .command('view')
      .description('Show every setting, its value (keys masked) and where it comes from')
      .option('--json', 'print the settings as JSON')
      .action((options: { json?: boolean }) => {
        const settings = settingsInForce(ctx).map((s) => ({ ...s, value: s.value === undefined ? null : s.key === 'api.key' ? maskKey(s.value) : s.value }));
        const file = profilePath(ctx.io.env as NodeJS.ProcessEnv);
        if (options.json) return ctx.out.json({ profile: file, settings });
        ctx.out.table(
          ['KEY', 'VALUE', 'SOURCE'],
          settings.map((s) => [s.key, s.value ?? '-', s.source]),
        );
        ctx.out.line();
        ctx.out.line(`Profile file: ${file}`);
      }),
    'drover config view',
  );
}

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { droverErrorOf, PROJECT_FILE, Project } from '@drover/schemas';
import type * as Yaml from 'yaml';

/**
 * yaml, loaded on first use: every job's engine imports this package through the flow's module,
 * and loading yaml was about a sixth of a job's start-up CPU, for `drover init` alone. Node loads
 * yaml's CommonJS build for `import` as well, so `require` gives the same module, synchronously.
 */
const yaml = (): typeof Yaml => createRequire(import.meta.url)('yaml') as typeof Yaml;

export const RECIPES = ['local', 'git', 'docker', 'kubernetes'] as const;
export type Recipe = (typeof RECIPES)[number];

export interface InitializeProjectOptions {
  /** The project's name (the folder's name when absent). */
  readonly name?: string;
  readonly recipe?: Recipe;
  /** Recipe fields: `repository`, `branch` (git); `image`, `tag` (docker, kubernetes). */
  readonly fields?: Readonly<Record<string, string>>;
  /** The folder to initialise (the current one when absent). */
  readonly directory?: string;
}

const EXAMPLE_FLOW = `import { flow } from '@drover/client';
import { z } from 'zod';

// A flow is a typed async function. Its parameters' schema becomes the deployment's
// parameter schema, so bad parameters are refused before a run is created.
export const hello = flow(
  { name: 'hello', parameters: z.object({ name: z.string().default('world') }), retries: 1 },
  async ({ name }, ctx) => {
    ctx.logger.info(\`Hello, \${name}!\`);
    return { greeted: name };
  },
);
`;

const IGNORE = `# Files Drover leaves out of images and uploads.
node_modules
.git
dist
*.db
`;

function pullSteps(recipe: Recipe, directory: string, fields: Readonly<Record<string, string>>): Project['pull'] {
  switch (recipe) {
    case 'local':
      return [{ set_working_directory: { directory } }];
    case 'git':
      return [{ git_clone: { repository: fields.repository ?? '{{ repository }}', branch: fields.branch ?? 'main' } }];
    case 'docker':
    case 'kubernetes':
      return [{ set_working_directory: { directory: '/opt/drover/project' } }];
  }
}

/** The `drover.yaml` a recipe starts from, checked against the project schema. */
export function projectFor(name: string, recipe: Recipe, directory: string, fields: Readonly<Record<string, string>> = {}): Project {
  const image = { image: fields.image ?? `${name}-flows`, tag: fields.tag ?? 'latest' };
  const containers = recipe === 'docker' || recipe === 'kubernetes';
  return Project.parse({
    name,
    build: containers ? [{ docker_build: { ...image, dockerfile: 'auto' } }] : [],
    push: containers ? [{ docker_push: image }] : [],
    pull: pullSteps(recipe, directory, fields),
    deployments: [
      {
        name: 'example',
        entrypoint: 'flows/example.ts:hello',
        parameters: { name: 'world' },
        schedules: [{ interval: 60, slug: 'every-minute' }],
        workPool: { name: recipe === 'local' || recipe === 'git' ? 'local' : recipe, jobVariables: containers ? { image: `${image.image}:${image.tag}` } : {} },
      },
    ],
  });
}

/**
 * Starts a Drover project: writes `drover.yaml`, `.droverignore` and `flows/example.ts`. Refuses,
 * naming the files, when any of them exists, and then writes nothing.
 */
export function initializeProject(options: InitializeProjectOptions = {}): { files: string[]; project: Project } {
  const directory = resolve(options.directory ?? process.cwd());
  const recipe = options.recipe ?? 'local';
  if (!RECIPES.includes(recipe)) {
    throw droverErrorOf('VALIDATION_ERROR', `Unknown recipe "${recipe}": use one of ${RECIPES.join(', ')}`, { recipe });
  }
  const files = [PROJECT_FILE, '.droverignore', join('flows', 'example.ts')];
  const existing = files.filter((file) => existsSync(join(directory, file)));
  if (existing.length > 0) {
    throw droverErrorOf(
      'FILE_EXISTS',
      `Not initialising ${directory}: ${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; move or delete them first`,
      {
        files: existing,
      },
    );
  }
  const name = options.name ?? basename(directory);
  const project = projectFor(name, recipe, directory, options.fields);
  const header = `# Drover project: its deployments, and how workers get its code (recipe: ${recipe}).\n# Deploy them with: drover deploy --all\n`;
  mkdirSync(join(directory, 'flows'), { recursive: true });
  writeFileSync(join(directory, PROJECT_FILE), header + yaml().stringify(project));
  writeFileSync(join(directory, '.droverignore'), IGNORE);
  writeFileSync(join(directory, 'flows', 'example.ts'), EXAMPLE_FLOW);
  return { files, project };
}

/** `drover init`: start a project here (drover.yaml, .droverignore, flows/example.ts) from a recipe. */
import { join } from 'node:path';
import { initializeProject, RECIPES, type Recipe } from '@drover/client';
import { type Command, Option } from 'commander';
import { type Context, examples } from '../cliContext.js';
import { fieldFlag } from '../flags.js';

interface InitOptions {
  name?: string;
  recipe: Recipe;
  field?: Record<string, string>;
}

export function registerInit(program: Command, ctx: Context): void {
  examples(
    program
      .command('init')
      .description('Start a Drover project in this folder: drover.yaml, .droverignore and an example flow. Writes nothing if any of them exists')
      .option('--name <name>', "the project's name (default: this folder's name)")
      .addOption(
        new Option('--recipe <recipe>', 'how workers get the code: local folder, git clone, docker or kubernetes image').choices(RECIPES).default('local'),
      )
      .option('--field <key=value>', 'a recipe field, repeatable: repository, branch (git); image, tag (docker, kubernetes)', fieldFlag('--field'))
      .action((options: InitOptions) => {
        const { files, project } = initializeProject({ directory: ctx.io.cwd, name: options.name, recipe: options.recipe, fields: options.field });
        const { out } = ctx;
        out.line(`Created Drover project "${project.name}" in ${ctx.io.cwd} (recipe: ${options.recipe}):`);
        for (const file of files) out.line(`  ${file}`);
        const pools = [...new Set(project.deployments.flatMap((d) => (d.workPool ? [d.workPool.name] : [])))];
        const type = options.recipe === 'docker' || options.recipe === 'kubernetes' ? options.recipe : 'process';
        out.line();
        out.line('Next:');
        out.line(`  npm install @drover/client zod          # ${join('flows', 'example.ts')} imports them`);
        for (const pool of pools) out.line(`  drover work-pool create ${pool} --type ${type}`);
        out.line('  drover deploy --all');
        for (const pool of pools) out.line(`  drover worker start --pool ${pool}`);
      }),
    'drover init',
    'drover init --recipe git --field repository=https://github.com/acme/flows --field branch=main',
  );
}

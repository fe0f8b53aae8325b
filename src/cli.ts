// The `sqp-refresh` command: one subcommand per module in src/cli/. This file dispatches,
// prints usage and help, and turns errors into exit codes (0 ok, 1 failed, 2 usage, 3 paused).
import { readFileSync } from 'node:fs';
import { EXIT, UsageError, wantsHelp, type Command } from './cli/command.ts';
import { migrateCommand } from './cli/migrate.ts';
import { backfillCommand } from './cli/backfill.ts';
import { planCommand } from './cli/plan.ts';
import { CommandError } from './cli/read-database.ts';
import { runCommand } from './cli/run.ts';
import { startCommand } from './cli/start.ts';
import { statusCommand } from './cli/status.ts';
import { tokenCommand } from './cli/token.ts';
import { ConfigError } from './config.ts';
import { StartupError } from './database/preflight.ts';
import { MigrationError } from './migrate.ts';

const COMMANDS: Command[] = [startCommand, migrateCommand, runCommand, backfillCommand, planCommand, statusCommand, tokenCommand];

const WIDTH = Math.max(...COMMANDS.map((c) => c.synopsis.length));
const USAGE = `Usage: sqp-refresh <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.synopsis.padEnd(WIDTH)}  ${c.summary}`).join('\n')}

Options:
  -h, --help  show this help (or a command's: sqp-refresh <command> --help)
  --version   print the version

Exit codes: 0 ok, 1 failed, 2 usage mistake, 3 refresh paused by its time budget (run).
Without DATABASE_URL, an embedded PostgreSQL is used (data in .data/postgres).
Environment variables: see .env.example.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    console.error(USAGE);
    return EXIT.usage;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const command = COMMANDS.find((c) => c.name === rest[0]);
    console.log(command ? command.help : USAGE);
    return EXIT.ok;
  }
  if (first === '--version') {
    console.log(version());
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) {
    console.error(`${first.startsWith('-') ? 'Unknown option' : 'Unknown command'}: ${first}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (wantsHelp(rest)) {
    console.log(command.help);
    return EXIT.ok;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${error.help}`);
      process.exit(EXIT.usage);
    }
    if (error instanceof ConfigError || error instanceof StartupError || error instanceof MigrationError || error instanceof CommandError) {
      console.error(error.message);
    } else {
      console.error(error);
    }
    process.exit(EXIT.failed);
  },
);

// What every subcommand of `sqp-refresh` is, and how a usage mistake travels to `main` (exit 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes shared by every subcommand. */
export const EXIT = { ok: 0, failed: 1, usage: 2, paused: 3 } as const;

export interface Command {
  name: string;
  /** The command with its arguments, as the overall usage lists it: `run <schema.table>`. */
  synopsis: string;
  /** One line in the overall usage. */
  summary: string;
  /** The text of `sqp-refresh <name> --help`. */
  help: string;
  /** Runs with the arguments after the command's name; resolves with the exit code. */
  run(args: string[]): Promise<number>;
}

/** A mistake in the command line: `main` prints it with the command's help and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(message: string, readonly help: string) {
    super(message);
  }
}

/** node:util parseArgs (strict), with its errors turned into a UsageError that carries `help`. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
  help: string,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((error as Error).message, help);
    throw error;
  }
}

/** Whether the user asked for help anywhere before a `--`. */
export function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

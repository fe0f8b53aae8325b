// `sqp-refresh run <schema.table>`: one refresh now, with a terminal progress bar.
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { runOnce } from '../run-once.ts';
import { parseCommandArgs, UsageError, type Command } from './command.ts';

const help = `Usage: sqp-refresh run <schema.table>

Refreshes one registered table now, with a progress bar on stderr (rows, rows/s, ETA), and
prints what it did. It takes the table's lock, so it never runs beside a runner's refresh of
the same table.

Options:
  -h, --help  show this help

Exit code: 0 success (or warning), 1 failed (or not registered, or busy), 2 usage mistake,
3 paused by its time budget (run again to resume from the checkpoint).`;

const TABLE = /^([A-Za-z_][\w$]*)\.([A-Za-z_][\w$]*)$/;

export const runCommand: Command = {
  name: 'run',
  synopsis: 'run <schema.table>',
  summary: 'Refresh one table now, with a progress bar',
  help,
  async run(args) {
    const { positionals } = parseCommandArgs(args, {}, help);
    const match = positionals.length === 1 ? TABLE.exec(positionals[0]!) : null;
    if (!match) throw new UsageError('run: expected <schema.table>, e.g. sqp.asin_performance_data', help);
    const config = loadConfig();
    return runOnce(config, createLogger(config.log), match[1]!, match[2]!);
  },
};

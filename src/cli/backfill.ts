// `sqp-refresh backfill <schema.table> --from D --to D`: a backfill started and run to its end
// in this process, one line per chunk; with --dry-run only its plan and BigQuery estimate.
import { startBackfill, type BackfillRequest } from '../commands/backfill.ts';
import { loadConfig, type Config } from '../config.ts';
import { createLogger, type Logger } from '../logger.ts';
import { withRunDatabase } from '../run-once.ts';
import { createRunner } from '../runner/scheduler/runner.ts';
import { readBackfill, type ChunkUnit } from '../runner/state/backfills.ts';
import { EXIT, parseCommandArgs, UsageError, type Command } from './command.ts';

const help = `Usage: sqp-refresh backfill <schema.table> --from YYYY-MM-DD --to YYYY-MM-DD [options]

Re-loads a range of a table (by its partitionColumn, else its cursorColumn) as chunks of
ordinary runs, oldest first, then (unless --no-cascade) recomputes its hard dependents for the
periods the range touches. The chunks run in this process, one line each; the backfill is
durable: stopped (Ctrl-C) or killed, it is resumed by any running service, or by resumeBackfill.

Options:
  --from D        first day of the range
  --to D          last day of the range (inclusive)
  --chunk UNIT    day, week (default) or month
  --no-cascade    leave the dependents alone
  --dry-run       print the chunks and BigQuery's byte estimate; start nothing
  -h, --help      show this help

Exit code: 0 completed (or planned), 1 failed, cancelled or refused, 2 usage mistake,
3 stopped before its end (it resumes later).`;

const TABLE = /^([A-Za-z_][\w$]*)\.([A-Za-z_][\w$]*)$/;

export const backfillCommand: Command = {
  name: 'backfill',
  synopsis: 'backfill <schema.table> --from D --to D',
  summary: 'Re-load a range of a table in chunks (then its dependents)',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(
      args,
      { from: { type: 'string' }, to: { type: 'string' }, chunk: { type: 'string' }, 'no-cascade': { type: 'boolean' }, 'dry-run': { type: 'boolean' } },
      help,
    );
    const match = positionals.length === 1 ? TABLE.exec(positionals[0]!) : null;
    if (!match) throw new UsageError('backfill: expected <schema.table>, e.g. sqp.asin_performance_data', help);
    if (!values.from || !values.to) throw new UsageError('backfill: --from and --to are required', help);
    const chunk = values.chunk ?? 'week';
    if (!['day', 'week', 'month'].includes(chunk)) throw new UsageError(`backfill: --chunk must be day, week or month, not ${chunk}`, help);
    const config = loadConfig();
    const request: BackfillRequest = {
      tableSchema: match[1]!, tableName: match[2]!, from: values.from, to: values.to, chunk: chunk as ChunkUnit, cascade: !values['no-cascade'], dryRun: values['dry-run'] ?? false,
    };
    return runBackfill(config, createLogger(config.log), request);
  },
};

async function runBackfill(config: Config, logger: Logger, request: BackfillRequest): Promise<number> {
  return withRunDatabase(config, logger, 4, async (session, sources) => {
    const { backfill, plan } = await startBackfill({ pool: session, sources, dailyByteBudget: config.dailyByteBudget, requestedBy: 'cli' }, request).catch((error: Error) => {
      console.error(`${request.tableSchema}.${request.tableName}: ${error.message}`);
      return null;
    }) ?? {};
    if (!plan) return EXIT.failed;
    console.log(`${plan.chunks.length} chunks${plan.estimatedBytes === null ? '' : `, about ${plan.estimatedBytes} bytes in BigQuery`}${plan.remainingBudgetBytes === null ? '' : ` (${plan.remainingBudgetBytes} left of today's budget)`}`);
    if (!backfill) {
      for (const c of plan.chunks) console.log(`  ${c.ordinal}. ${c.tableSchema}.${c.tableName} from ${c.from} to before ${c.to}${c.estimatedBytes === null ? '' : ` (${c.estimatedBytes} bytes)`}`);
      return EXIT.ok;
    }
    const total = plan.chunks.length;
    const runner = createRunner({
      pool: session, sources, logger, workerName: `${config.workerName} (cli)`, dailyByteBudget: config.dailyByteBudget,
      emit: (e) => {
        if (e.type === 'run:finished') console.log(`  ${e.tableSchema}.${e.tableName}: ${e.outcome}, ${e.rowsProcessed} rows${e.errorMessage ? ` — ${e.errorMessage}` : ''}`);
      },
    });
    // Ctrl-C: the chunk in flight pauses at its next page; the backfill stays durable.
    const stop = () => void runner.stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    console.log(`backfill ${backfill.id} started`);
    await runner.runBackfill(backfill.id);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    const end = (await readBackfill(session, backfill.id))!;
    console.log(`backfill ${end.id}: ${end.status}, ${end.chunksDone} of ${total} chunks done, ${end.rowsProcessed} rows`);
    return end.status === 'completed' ? EXIT.ok : end.status === 'failed' || end.status === 'cancelled' ? EXIT.failed : EXIT.paused;
  });
}

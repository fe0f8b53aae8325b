// `npm run bench [-- name …]`: runs the benchmarks (all, or those named) on one fresh
// database, then prints a markdown table of the figures with their targets and one JSON line
// of the same figures. Exits 0 whatever the figures say (it is a report; a benchmark that
// threw is named in the report); 1 only when no report could be made (no database).
//
// To add a benchmark: write bench/<name>.ts exporting a `Bench` (see bench/support.ts) and
// list it in BENCHES below.
//
// Environment:
//   BENCH_DATABASE_URL / DATABASE_URL  a server to create (and drop) a database on;
//                                      unset: an embedded PostgreSQL in a temp folder
//   BENCH_SKIP_5M=1                    skip the 5M-row memory run of the engine bench
//   BENCH_ROWS / BENCH_BIG_ROWS        smaller sizes for a quick trial (targets assume 1M / 5M)
//   BENCH_CPU_PROF_DIR=dir             write a .cpuprofile of every child process there
//   BENCH_SUBSCRIBERS / BENCH_SUBSCRIBER_ROWS  one case of that many clients (default: the three cases
//                                      of issue #25) / rows of the subscribers bench
//   BENCH_SUBSCRIBER_FILTERS=100       with BENCH_SUBSCRIBERS: its clients over 100 distinct subscriptions (default 1)
process.env.METADATA_SERVER_DETECTION = 'none';

import os from 'node:os';
import { engineBench } from './engine.ts';
import { eventLogBench } from './event-log.ts';
import { subscribersBench } from './subscribers.ts';
import { targetIdentityBench } from './target-identity.ts';
import { tickBench } from './tick.ts';
import { fmtSeconds, jsonLine, markdownTable, openBenchDatabase, type Bench, type Figure } from './support.ts';

const BENCHES: Bench[] = [engineBench, tickBench, subscribersBench, targetIdentityBench, eventLogBench];

async function main(): Promise<number> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
    return 1;
  }
  const selected = wanted.length ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;
  const started = performance.now();
  const log = (prefix: string) => (message: string) =>
    console.error(`[${prefix} ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${message}`);

  const database = await openBenchDatabase(log('bench'));
  const figures: Figure[] = [];
  const failures: string[] = [];
  try {
    for (const bench of selected) {
      const benchLog = log(bench.name);
      benchLog(bench.description);
      try {
        figures.push(...(await bench.run({ databaseUrl: database.url, databaseKind: database.kind, log: benchLog })));
      } catch (error) {
        failures.push(bench.name);
        benchLog(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    }
  } finally {
    await database.close();
  }
  const totalMs = performance.now() - started;

  const passed = figures.filter((f) => f.pass === true).length;
  const failed = figures.filter((f) => f.pass === false).length;
  const cpus = os.cpus();
  console.log('');
  console.log(`## sqp-refresh bench — ${new Date().toISOString()}`);
  console.log('');
  console.log(
    `Node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
      `database: ${database.kind === 'embedded' ? 'embedded PostgreSQL' : 'BENCH_DATABASE_URL/DATABASE_URL'}; total ${fmtSeconds(totalMs)}`,
  );
  console.log('');
  console.log(markdownTable(figures));
  console.log('');
  console.log(
    `Targets: ${passed} PASS, ${failed} FAIL${figures.some((f) => f.pass === null) ? `, ${figures.filter((f) => f.pass === null).length} not measured` : ''}` +
      (failures.length ? `; benchmark(s) that could not run: ${failures.join(', ')}` : ''),
  );
  console.log('');
  console.log(
    jsonLine(figures, {
      bench: 'sqp-refresh',
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus.length,
      database: database.kind,
      benches: selected.map((b) => b.name),
      failedBenches: failures,
      totalMs: Math.round(totalMs),
    }),
  );
  if (failures.length) console.error(`bench: benchmark(s) that could not run: ${failures.join(', ')} (see the log above)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench:', error);
    process.exit(1);
  },
);

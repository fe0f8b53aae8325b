// Gives V8's young generation back after a large module graph is loaded into a running process.
//
// Why: loading the Storage Read client (@grpc/grpc-js, google-gax and the client's protos, ~14 MB
// of objects that live as long as the process) makes most of V8's scavenges survive, and V8 grows
// its young generation when they do: from 2 × 16 to 2 × 32 MB semi-spaces. It shrinks it again
// only after a memory-reducing GC, which its memory reducer starts some seconds after the
// allocation rate drops — never during the read that loaded the client, whose own allocations
// keep the grown space touched (1M rows: 64 MB of new space in a 211–245 MB peak RSS, against 16 MB
// of new space and a 188–190 MB peak when the same read starts after the reducer has run).
// A "last-resort" major GC is such a memory-reducing GC; it takes ~30 ms, once per process.
//
// V8 offers it only through its `gc` extension, which exists in contexts made after
// `--expose-gc` is set (Node documents setFlagsFromString after start-up as unsupported in
// general; this flag only adds the extension to new contexts, and is what the `expose-gc` package
// does). No dependency for three lines.
import v8 from 'node:v8';
import vm from 'node:vm';

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let gc: GcFunction | undefined;

/** A memory-reducing full GC now: V8 shrinks its young generation to what is live. */
export function shrinkYoungGeneration(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as GcFunction;
  }
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

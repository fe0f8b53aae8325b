// Reads Arrow record batches from the Storage Read API back into BigQuery's REST wire form
// ({ f: [{ v }] } rows, values as strings), so a test can compare the two read paths value for
// value. It reads Arrow's buffers directly: apache-arrow's own getters turn timestamps into
// float milliseconds and decimals into number-like objects, losing exactly what is tested.
import type { Data, Decimal, RecordBatch } from 'apache-arrow';
import type { FieldSpec } from './bigquery-server-types.ts';

/** A wire row, as the REST API's jobs.getQueryResults carries it. */
export interface WireRow { f: { v: unknown }[] }

/** Every row of `batch` in REST wire form (TIMESTAMP as int64 microseconds, as the client asks). */
export function wireRowsOf(fields: readonly FieldSpec[], batch: RecordBatch): WireRow[] {
  const columns = fields.map((_, j) => batch.data.children[j]!);
  return Array.from({ length: batch.numRows }, (_, i) => ({ f: fields.map((spec, j) => ({ v: wireCell(spec, columns[j]!, i) })) }));
}

function wireCell(spec: FieldSpec, data: Data, row: number): unknown {
  if (spec.mode === 'REPEATED') {
    const offsets = data.valueOffsets as Int32Array;
    const element = { ...spec, mode: 'NULLABLE' as const };
    const at = data.offset + row;
    return Array.from({ length: offsets[at + 1]! - offsets[at]! }, (_, k) => ({ v: wireCell(element, data.children[0]!, offsets[at]! + k) }));
  }
  if (!data.getValid(row)) return null;
  const i = data.offset + row;
  const values = data.values as ArrayLike<number | bigint>;
  switch (spec.type) {
    case 'STRING': case 'JSON': case 'GEOGRAPHY': case 'BYTES': {
      const offsets = data.valueOffsets as Int32Array;
      const bytes = Buffer.from((data.values as Uint8Array).subarray(offsets[i]!, offsets[i + 1]!));
      return spec.type === 'BYTES' ? bytes.toString('base64') : bytes.toString('utf8');
    }
    case 'INT64': case 'INTEGER': case 'TIMESTAMP': return String(values[i]);
    case 'FLOAT64': case 'FLOAT': return String(values[i]);
    case 'BOOL': case 'BOOLEAN': return ((data.values as Uint8Array)[i >> 3]! >> (i & 7)) & 1 ? 'true' : 'false';
    case 'NUMERIC': case 'BIGNUMERIC': {
      const { scale, bitWidth } = (data as Data<Decimal>).type;
      return decimalText(data.values as Uint32Array, i, bitWidth / 32, scale);
    }
    case 'DATE': return civilText(BigInt(values[i]!) * MICROS_PER_DAY).slice(0, 10);
    case 'DATETIME': return civilText(values[i] as bigint);
    case 'TIME': return timeText(values[i] as bigint);
    case 'INTERVAL': {
      const ints = data.values as Int32Array;
      const nanos = (BigInt(ints[i * 4 + 3]!) << 32n) | BigInt(ints[i * 4 + 2]! >>> 0);
      return intervalText(ints[i * 4]!, ints[i * 4 + 1]!, nanos);
    }
    case 'RECORD': case 'STRUCT':
      return { f: (spec.fields ?? []).map((sub, j) => ({ v: wireCell(sub, data.children[j]!, row) })) };
    case 'RANGE': {
      const element: FieldSpec = { name: 'bound', type: spec.rangeElementType ?? 'DATE' };
      const bound = (child: Data) => (wireCell(element, child, row) as string | null) ?? 'UNBOUNDED';
      return `[${bound(data.children[0]!)}, ${bound(data.children[1]!)})`;
    }
  }
}

const MICROS_PER_DAY = 86_400_000_000n;

/** Little-endian two's complement words at `index` as a decimal string, trailing zeros dropped. */
function decimalText(words: Uint32Array, index: number, count: number, scale: number): string {
  let unscaled = 0n;
  for (let w = count - 1; w >= 0; w--) unscaled = (unscaled << 32n) | BigInt(words[index * count + w]!);
  if (unscaled >> BigInt(count * 32 - 1)) unscaled -= 1n << BigInt(count * 32);
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const fraction = digits.slice(digits.length - scale).replace(/0+$/, '');
  const whole = digits.slice(0, digits.length - scale);
  return `${unscaled < 0n ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Epoch microseconds as a civil 'YYYY-MM-DDTHH:MM:SS[.ffffff]' (UTC wall clock). */
function civilText(micros: bigint): string {
  const days = micros / MICROS_PER_DAY - (micros % MICROS_PER_DAY < 0n ? 1n : 0n);
  const date = new Date(Number(days) * 86_400_000);
  const ymd = `${String(date.getUTCFullYear()).padStart(4, '0')}-${String(date.getUTCMonth() + 1).padStart(2, '0')}-${String(date.getUTCDate()).padStart(2, '0')}`;
  return `${ymd}T${timeText(micros - days * MICROS_PER_DAY)}`;
}

/** Microseconds since midnight as 'HH:MM:SS[.ffffff]'. */
function timeText(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  const two = (n: bigint) => n.toString().padStart(2, '0');
  const fraction = micros % 1_000_000n;
  return `${two(seconds / 3600n)}:${two((seconds / 60n) % 60n)}:${two(seconds % 60n)}${fraction ? `.${fraction.toString().padStart(6, '0')}` : ''}`;
}

/** Arrow's month_day_nano triple as BigQuery's canonical INTERVAL text '[-]Y-M [-]D [-]H:M:S[.F]'. */
function intervalText(months: number, days: number, nanos: bigint): string {
  const m = Math.abs(months);
  const n = nanos < 0n ? -nanos : nanos;
  const seconds = n / 1_000_000_000n;
  const fraction = (n % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const time = `${seconds / 3600n}:${(seconds / 60n) % 60n}:${seconds % 60n}${fraction ? `.${fraction}` : ''}`;
  return `${months < 0 ? '-' : ''}${Math.floor(m / 12)}-${m % 12} ${days} ${nanos < 0n ? '-' : ''}${time}`;
}

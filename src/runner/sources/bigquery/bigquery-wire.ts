// A jobs.getQueryResults answer read straight from its bytes: the page's `rows` become COPY
// text in one pass, without a JavaScript object per row or per cell.
//
// Why: a page of 20,000 SQP rows is ~8.6 MB of JSON. Through the client it was JSON.parse'd
// into over a million objects, deep-copied by @google-cloud/common (extend(true) in
// util.handleResp), converted to strings and joined into COPY text: most of a refresh's CPU
// and nearly all of its memory. Here a value whose wire text already is its PostgreSQL input
// text (STRING, DATE, TIME, JSON…, INT64 digits, plain NUMERIC: nearly every SQP value) is
// checked and its bytes copied; any other value is JSON.parse'd alone and goes through the
// same per-type conversion as before (`toText` in bigquery-types.ts), so the text is exactly
// what `convertRows` + `toCopyText` give (test/bigquery-wire.test.ts holds both to that).
//
// Any valid JSON is read: the byte path skips whitespace wherever JSON allows it, and a body
// it still cannot follow (MalformedBody) is read again the reference way — JSON.parse,
// `convertRows`, `toCopyText` — so an answer from a proxy, an emulator or a recorded fixture
// that is valid JSON never fails for its spelling; only invalid JSON does.
import { toCopyText } from '../copy-text.ts';
import type { TextValue } from '../source.ts';
import { convertRows, type WireField, type WireQueryResults, type WireRow } from './bigquery-types.ts';
import { COMMA, expectByte, LBRACE, LBRACKET, MalformedBody, parseSlice, QUOTE, RBRACE, skipSpace, skipString, skipValue, COLON } from './bigquery-json.ts';
import { InvalidRowValue, rowsToCopyText, withoutNul, type CopyRows, type ReadOptions } from './bigquery-wire-rows.ts';

/** A result page: everything but `rows` parsed, and `rows` as COPY text. */
export interface ResultsPage {
  meta: WireQueryResults & { error?: unknown };
  /** The page's rows, or null when the answer has none. */
  copy: CopyRows | null;
  /** Size of the answer as JSON (inflated), bytes: what the page held in memory. */
  bodyBytes?: number;
  /** Gives the text's buffer back to the decode pool (bigquery-results.ts): once it is written, or not wanted. */
  release?: () => void;
}

const NO_OPTIONS: ReadOptions = { firstRow: 0 };

/**
 * Reads a jobs.getQueryResults body: its rows straight to COPY text, typed by the answer's
 * own schema (`fieldsBefore`, the previous page's, when it has none), everything else with
 * JSON.parse. Throws InvalidRowValue for a value that has no PostgreSQL text, another Error
 * for a body that is not one JSON object. `out`: a reusable buffer for the COPY text, used
 * when it is large enough (see CopyWriter).
 */
export function readResultsBody(body: Buffer, fieldsBefore: readonly WireField[], options: ReadOptions = NO_OPTIONS, out: Buffer | null = null): ResultsPage {
  let page: ResultsPage;
  try {
    page = readFast(body, fieldsBefore, options, out);
  } catch (err) {
    if (!(err instanceof MalformedBody)) throw err;
    page = readReference(body, fieldsBefore, options);
  }
  page.bodyBytes = body.length;
  return page;
}

/**
 * The reference path: the whole body JSON.parse'd, rows through `convertRows` and
 * `toCopyText`. Slower and heavier, but it reads whatever JSON.parse reads.
 */
function readReference(body: Buffer, fieldsBefore: readonly WireField[], options: ReadOptions): ResultsPage {
  const parsed = JSON.parse(body.toString('utf8')) as (ResultsPage['meta'] & { rows?: unknown }) | null;
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('a jobs.getQueryResults answer must be a JSON object');
  const { rows, ...meta } = parsed;
  if (!Array.isArray(rows)) return { meta, copy: null };
  const fields = meta.schema?.fields?.length ? meta.schema.fields : fieldsBefore;
  let text: TextValue[][];
  try {
    text = convertRows(fields, rows as WireRow[]);
  } catch (err) {
    throw new InvalidRowValue(err instanceof Error ? err.message : String(err));
  }
  for (let r = 0; r < text.length; r++) {
    const row = text[r]!;
    for (let c = 0; c < row.length; c++) {
      const v = row[c];
      if (v !== null && v !== undefined && v.includes('\0')) row[c] = withoutNul(v, fields[c]!.name, r, options);
    }
  }
  return { meta, copy: { text: Buffer.from(toCopyText(text), 'utf8'), rowCount: text.length } };
}

/** The byte path (see the top of this file). Throws MalformedBody where it cannot follow the body. */
function readFast(body: Buffer, fieldsBefore: readonly WireField[], options: ReadOptions, out: Buffer | null): ResultsPage {
  const meta: ResultsPage['meta'] & Record<string, unknown> = {};
  let copy: CopyRows | null = null;
  /** The rows, when they came before the schema: converted once the schema is known. */
  let deferred: number | null = null;
  const convert = (fields: readonly WireField[], start: number): CopyRows & { end: number } => {
    try {
      return rowsToCopyText(fields, body, start, options, out);
    } catch (err) {
      if (err instanceof MalformedBody || err instanceof InvalidRowValue) throw err;
      throw new InvalidRowValue(err instanceof Error ? err.message : String(err));
    }
  };
  let i = skipSpace(body, body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0);
  expectByte(body, i, LBRACE);
  i = skipSpace(body, i + 1);
  if (body[i] === RBRACE) i++;
  else {
    for (;;) {
      expectByte(body, i, QUOTE);
      const keyEnd = skipString(body, i);
      const key = parseSlice(body, i, keyEnd) as string;
      i = skipSpace(body, keyEnd);
      expectByte(body, i, COLON);
      const start = skipSpace(body, i + 1);
      let end: number;
      if (key === 'rows' && body[start] === LBRACKET) {
        const schema = meta.schema?.fields;
        if (schema?.length) {
          const rows = convert(schema, start);
          copy = { text: rows.text, rowCount: rows.rowCount };
          end = rows.end;
        } else {
          deferred = start;
          end = skipValue(body, start);
        }
      } else {
        end = skipValue(body, start);
        // `rows: null` (or anything but an array) carries no rows, as for the client.
        if (key !== 'rows') meta[key] = parseSlice(body, start, end);
      }
      i = skipSpace(body, end);
      if (body[i] === COMMA) {
        i = skipSpace(body, i + 1);
        continue;
      }
      expectByte(body, i, RBRACE);
      i++;
      break;
    }
  }
  if (skipSpace(body, i) !== body.length) throw new MalformedBody(`unexpected data after the answer at byte ${i}`);
  if (deferred !== null) {
    const rows = convert(meta.schema?.fields?.length ? meta.schema.fields : fieldsBefore, deferred);
    copy = { text: rows.text, rowCount: rows.rowCount };
  }
  return { meta, copy };
}


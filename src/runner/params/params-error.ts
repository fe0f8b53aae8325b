// The error of a custom_sync_params value that does not fit its schema (sync-params.ts), in a
// module of its own: failures (refresh-failures.ts) and sources' param schemas use it without
// importing the whole params schema, which imports the source registry.

export interface ParamIssue {
  path: string;
  message: string;
}

/** A path as every ValidationError and params issue spells it: `source.params.x`, `keyColumns[0]`. */
export function issuePath(segments: ReadonlyArray<PropertyKey>): string {
  return segments.reduce<string>((path, s) => (typeof s === 'number' ? `${path}[${s}]` : path ? `${path}.${String(s)}` : String(s)), '');
}

/** A custom_sync_params value that does not fit the schema; `issues` name each path. */
export class SyncParamsError extends Error {
  override name = 'SyncParamsError';
  constructor(readonly issues: ParamIssue[]) {
    super(`invalid custom_sync_params: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
}

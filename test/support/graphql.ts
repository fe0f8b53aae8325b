// Sends typed operations (from test/generated, written by `npm run codegen`) to a running
// server over real HTTP.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, unknown> }>;
}

/** POSTs one operation to `url` and returns the parsed response, typed by the document. */
export async function execute<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables>,
  ...[variables, headers]: TVariables extends Record<string, never>
    ? [variables?: TVariables, headers?: Record<string, string>]
    : [variables: TVariables, headers?: Record<string, string>]
): Promise<GraphQLResponse<TResult>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query: print(document), variables: variables ?? {} }),
  });
  return (await res.json()) as GraphQLResponse<TResult>;
}

/** POSTs raw query text (for invalid operations that codegen would refuse to type). */
export async function executeRaw(url: string, query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as GraphQLResponse<Record<string, unknown>> };
}

// The README's GraphQL examples are operations a reader copies into GraphiQL: each must parse
// and validate against the schema as it is now (a renamed payload or field fails here first).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, validate } from 'graphql';
import { expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';

const readme = readFileSync(path.resolve(import.meta.dirname, '..', 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);

it('has GraphQL examples', () => {
  expect(blocks.length).toBeGreaterThan(2);
});

for (const [i, block] of blocks.entries()) {
  // A block may hold several operations, one after the other: each is checked on its own.
  const operations = block.split(/\n(?=mutation |subscription |query |\{)/).filter((op) => op.trim());
  for (const operation of operations) {
    it(`README graphql block ${i + 1}: ${operation.trim().slice(0, 60)}…`, () => {
      expect(validate(schema, parse(operation)).map((e) => e.message)).toEqual([]);
    });
  }
}

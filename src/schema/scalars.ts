// Scalars shared by every area of the graph.
import { GraphQLError, Kind } from 'graphql';
import { builder } from './builder.ts';

builder.scalarType('DateTime', {
  description: 'An instant, as an ISO-8601 string in UTC.',
  serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (typeof value !== 'string' || Number.isNaN(date.getTime())) {
      throw new GraphQLError(`DateTime: expected an ISO-8601 string, got ${JSON.stringify(value)}`);
    }
    return date;
  },
});

builder.scalarType('JSON', {
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
});

builder.scalarType('BigInt', {
  description: 'A 64-bit integer, as a decimal string so that no digit is lost.',
  serialize: (value) => String(value),
  parseValue: (value) => {
    if (typeof value !== 'string' && typeof value !== 'number') throw new GraphQLError('BigInt: expected a string');
    try {
      return BigInt(value);
    } catch {
      throw new GraphQLError(`BigInt: ${JSON.stringify(value)} is not an integer`);
    }
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING && ast.kind !== Kind.INT) throw new GraphQLError('BigInt: expected a string');
    return BigInt(ast.value);
  },
});
